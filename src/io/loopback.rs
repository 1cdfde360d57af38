//! IPv4 probes to 127.0.0.0/8 through a packet socket: frames injected on `lo` carry no
//! route, so the kernel drops a 127/8 destination (route_localnet) and a source that is one
//! of its own addresses (accept_local) as martians. For the run, turn both on for `lo`,
//! and put them back as they were when the guard drops.

use super::IoError;

const SETTINGS: [&str; 2] = ["route_localnet", "accept_local"];

/// Restores the loopback sysctls on drop.
#[derive(Debug)]
pub struct LoopbackGuard {
    restore: Vec<String>,
}

fn path(dev: &str, name: &str) -> String {
    format!("/proc/sys/net/ipv4/conf/{dev}/{name}")
}

fn is_on(dev: &str, name: &str) -> bool {
    std::fs::read_to_string(path(dev, name)).is_ok_and(|v| v.trim() == "1")
}

/// Turn on what is off; `None` when nothing had to change.
pub fn enable_loopback_v4() -> Result<Option<LoopbackGuard>, IoError> {
    // The guard exists before the first write, so a failing second write still puts the
    // first setting back when it drops.
    let mut guard = LoopbackGuard {
        restore: Vec::new(),
    };
    for name in SETTINGS {
        if is_on("lo", name) || is_on("all", name) {
            continue;
        }
        let p = path("lo", name);
        std::fs::write(&p, "1").map_err(|source| IoError::Os {
            what: format!("enabling {p} for a loopback probe"),
            source,
        })?;
        guard.restore.push(p);
    }
    Ok((!guard.restore.is_empty()).then_some(guard))
}

impl Drop for LoopbackGuard {
    fn drop(&mut self) {
        for p in &self.restore {
            let _ = std::fs::write(p, "0");
        }
    }
}
