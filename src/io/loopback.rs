//! IPv4 probes to 127.0.0.0/8 through a packet socket: frames injected on `lo` carry no
//! route, so the kernel drops a 127/8 destination (route_localnet) and a source that is one
//! of its own addresses (accept_local) as martians. For the run, turn both on for `lo`,
//! and put them back as they were on every way out:
//! - a normal end, an error or a panic (unwinding): the guard's Drop;
//! - SIGINT, SIGTERM, SIGHUP: the run stops cleanly and the guard drops; a second one puts
//!   them back from the handler (`undo`) before the process dies;
//! - SIGKILL: the record written before the change (`host_state`) lets the next run put
//!   them back.

use std::fs::{File, OpenOptions};
use std::os::fd::{IntoRawFd, RawFd};
use std::path::PathBuf;

use super::IoError;
use super::host_state::{Found, Host, Record, Saved, own_start, restored_notice};
use super::{signal, undo};

const SETTINGS: [&str; 2] = ["route_localnet", "accept_local"];

/// A setting this run turned on: its open fd (kept open to the end of the process, so a
/// signal handler can still write to it) and its value before.
#[derive(Debug)]
struct Changed {
    fd: RawFd,
    before: String,
}

/// Puts the loopback sysctls back on drop.
#[derive(Debug)]
pub struct LoopbackGuard {
    changed: Vec<Changed>,
    record: Option<PathBuf>,
}

/// What turning loopback probing on did.
#[derive(Debug)]
pub struct Loopback {
    /// `None` when nothing had to change (already on, maybe by a concurrent run).
    pub guard: Option<LoopbackGuard>,
    /// One line for stderr: an earlier run's leftovers restored, or why no record is kept.
    pub notice: Option<String>,
}

fn is_on(host: &Host, dev: &str, name: &str) -> bool {
    std::fs::read_to_string(host.setting_path(dev, name)).is_ok_and(|v| v.trim() == "1")
}

fn os(what: String) -> impl FnOnce(std::io::Error) -> IoError {
    move |source| IoError::Os { what, source }
}

/// Write `bytes` at offset 0: a sysctl ignores a write at any other position.
fn write_at_start(fd: RawFd, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: `bytes` is a live slice; `fd` stays open for the whole process (see `Changed`).
    let n = unsafe { libc::pwrite(fd, bytes.as_ptr().cast(), bytes.len(), 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Turn on what is off; say what an earlier, killed run left behind and put it back.
pub fn enable_loopback_v4() -> Result<Loopback, IoError> {
    let host = Host::real().map_err(os("finding this network namespace".into()))?;
    enable_in(&host)
}

/// At the start of any run: put back what a killed run left in this namespace. Quiet
/// when there is no record, or when it cannot be looked for (not root).
pub fn reclaim_host_state() -> Result<Option<String>, IoError> {
    let Ok(host) = Host::real() else {
        return Ok(None);
    };
    if !host.record_exists() {
        return Ok(None);
    }
    let what = format!("restoring what {} records", host.record_path().display());
    let lock = host.lock().map_err(os(what.clone()))?;
    Ok(notice_of(host.reclaim(&lock).map_err(os(what))?, &host))
}

fn notice_of(found: Found, host: &Host) -> Option<String> {
    match found {
        Found::Restored(rec) => Some(restored_notice(&rec)),
        Found::Unreadable => Some(format!(
            "removed {}: not a synprobe record",
            host.record_path().display()
        )),
        Found::Nothing | Found::Live(_) => None,
    }
}

pub(crate) fn enable_in(host: &Host) -> Result<Loopback, IoError> {
    // Handlers first: from the first change on, a signal stops the run cleanly.
    signal::interrupt_flag();
    let what = format!("keeping a record in {}", host.state_dir.display());
    // The lock is held until the settings are on, so a concurrent run sees them on (and
    // changes nothing) or sees no record, never a half-done change.
    let (lock, mut notice, free) = match host.lock() {
        Ok(lock) => match host.reclaim(&lock) {
            Ok(found) => {
                // A living writer's record stays: its changes are its own to put back.
                let free = !matches!(found, Found::Live(_));
                (Some(lock), notice_of(found, host), free)
            }
            Err(e) => return Err(os(what)(e)),
        },
        Err(e) => (None, Some(format!("{what}: {e}")), false),
    };
    let todo: Vec<&str> = SETTINGS
        .into_iter()
        .filter(|n| !is_on(host, "lo", n) && !is_on(host, "all", n))
        .collect();
    if todo.is_empty() {
        // Only an earlier run's leftovers are worth a line: nothing changes now.
        if lock.is_none() {
            notice = None;
        }
        return Ok(Loopback {
            guard: None,
            notice,
        });
    }
    if lock.is_none() {
        notice = notice.map(|n| format!("{n}; a SIGKILL would leave lo's {} on", todo.join(", ")));
    }
    let mut changed = Vec::new();
    let mut saved = Vec::new();
    for name in &todo {
        let p = host.setting_path("lo", name);
        let before = std::fs::read_to_string(&p)
            .map_err(os(format!("reading {}", p.display())))?
            .trim()
            .to_string();
        let f: File = OpenOptions::new()
            .write(true)
            .open(&p)
            .map_err(os(format!("enabling {} for a loopback probe", p.display())))?;
        saved.push(Saved {
            dev: "lo".into(),
            name: name.to_string(),
            value: before.clone(),
        });
        changed.push(Changed {
            fd: f.into_raw_fd(),
            before,
        });
    }
    // Written down before the first change: a SIGKILL from here on is undone by the next run.
    let record = match (&lock, free) {
        (Some(lock), true) => {
            let rec = Record {
                pid: std::process::id(),
                start: own_start().map_err(os("reading /proc/self/stat".into()))?,
                saved,
            };
            Some(host.write(lock, &rec).map_err(os(what))?)
        }
        _ => None,
    };
    let writes: Vec<(RawFd, &[u8])> = changed
        .iter()
        .map(|c| (c.fd, c.before.as_bytes()))
        .collect();
    if undo::arm(&writes, record.as_deref()).is_err() {
        // Not preparable (a value longer than any sysctl prints): a second signal would
        // leave it, the record still covers it.
        undo::disarm();
    }
    // Built before the first write, so a failing second write still puts the first back.
    let guard = LoopbackGuard { changed, record };
    for (c, name) in guard.changed.iter().zip(&todo) {
        let p = host.setting_path("lo", name);
        write_at_start(c.fd, b"1")
            .map_err(os(format!("enabling {} for a loopback probe", p.display())))?;
    }
    drop(lock);
    Ok(Loopback {
        guard: Some(guard),
        notice,
    })
}

impl Drop for LoopbackGuard {
    fn drop(&mut self) {
        // The same writes a second signal would do; then the handler has nothing left.
        for c in &self.changed {
            let _ = write_at_start(c.fd, c.before.as_bytes());
        }
        undo::disarm();
        if let Some(p) = &self.record {
            let _ = std::fs::remove_file(p);
        }
        // The fds stay open: a handler on another thread may still be about to write to
        // them, and a closed number could by then name another file.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::host_state::TempDir;
    use std::fs;

    fn read(host: &Host, dev: &str, name: &str) -> String {
        fs::read_to_string(host.setting_path(dev, name))
            .unwrap()
            .trim()
            .to_string()
    }

    fn both(host: &Host) -> (String, String) {
        (
            read(host, "lo", "route_localnet"),
            read(host, "lo", "accept_local"),
        )
    }

    fn on() -> (String, String) {
        ("1".into(), "1".into())
    }

    fn off() -> (String, String) {
        ("0".into(), "0".into())
    }

    #[test]
    fn on_for_the_run_recorded_and_put_back_on_drop() {
        let _one = undo::TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let t = TempDir::new("lo-drop");
        let host = t.host();
        let lo = enable_in(&host).unwrap();
        assert_eq!(lo.notice, None);
        assert_eq!(both(&host), on());
        let text = fs::read_to_string(host.record_path()).unwrap();
        let rec = Record::parse(&text).unwrap();
        assert_eq!(rec.pid, std::process::id());
        assert_eq!(rec.settings(), "lo route_localnet=0, lo accept_local=0");
        assert!(undo::is_armed());
        drop(lo.guard);
        assert_eq!(both(&host), off());
        assert!(!host.record_exists());
        assert!(!undo::is_armed());
    }

    #[test]
    fn a_panic_unwinding_past_the_guard_puts_them_back() {
        let _one = undo::TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let t = TempDir::new("lo-panic");
        let host = t.host();
        let h = host.clone();
        let r = std::panic::catch_unwind(move || {
            let _lo = enable_in(&h).unwrap();
            assert_eq!(both(&h), on());
            panic!("a bug in the middle of a scan");
        });
        assert!(r.is_err());
        assert_eq!(both(&host), off());
        assert!(!host.record_exists());
    }

    #[test]
    fn already_on_changes_nothing_and_keeps_no_record() {
        let _one = undo::TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let t = TempDir::new("lo-on");
        let host = t.host();
        fs::write(host.setting_path("lo", "route_localnet"), "1").unwrap();
        fs::write(host.setting_path("all", "accept_local"), "1").unwrap();
        let lo = enable_in(&host).unwrap();
        assert!(lo.guard.is_none());
        assert!(!host.record_exists());
        assert_eq!(read(&host, "lo", "route_localnet"), "1");
        assert_eq!(read(&host, "lo", "accept_local"), "0");
    }

    #[test]
    fn only_what_was_off_is_turned_on_and_put_back() {
        let _one = undo::TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let t = TempDir::new("lo-half");
        let host = t.host();
        fs::write(host.setting_path("lo", "accept_local"), "1").unwrap();
        let lo = enable_in(&host).unwrap();
        let rec = Record::parse(&fs::read_to_string(host.record_path()).unwrap()).unwrap();
        assert_eq!(rec.settings(), "lo route_localnet=0");
        drop(lo);
        assert_eq!(both(&host), ("0".into(), "1".into()));
    }

    #[test]
    fn a_killed_runs_leftovers_are_put_back_first() {
        let _one = undo::TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let t = TempDir::new("lo-stale");
        let host = t.host();
        // A run that was killed: settings on, its record there, its pid gone (the fake
        // proc holds no process).
        let lock = host.lock().unwrap();
        let dead = Record {
            pid: 999_999,
            start: 1,
            saved: vec![Saved {
                dev: "lo".into(),
                name: "route_localnet".into(),
                value: "0".into(),
            }],
        };
        host.write(&lock, &dead).unwrap();
        drop(lock);
        fs::write(host.setting_path("lo", "route_localnet"), "1").unwrap();
        let lo = enable_in(&host).unwrap();
        assert_eq!(lo.notice.as_deref(), Some(restored_notice(&dead).as_str()));
        // Restored, then turned on again for this run, under this run's own record.
        assert_eq!(both(&host), on());
        let rec = Record::parse(&fs::read_to_string(host.record_path()).unwrap()).unwrap();
        assert_eq!(rec.pid, std::process::id());
        drop(lo);
        assert_eq!(both(&host), off());
        assert!(!host.record_exists());
    }

    #[test]
    fn a_living_writers_record_is_neither_restored_nor_replaced() {
        let _one = undo::TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let t = TempDir::new("lo-live");
        let host = t.host();
        let lock = host.lock().unwrap();
        let live = Record {
            pid: 4242,
            start: 77,
            saved: vec![Saved {
                dev: "lo".into(),
                name: "route_localnet".into(),
                value: "0".into(),
            }],
        };
        host.write(&lock, &live).unwrap();
        drop(lock);
        fs::create_dir_all(host.proc.join("4242")).unwrap();
        fs::write(
            host.proc.join("4242/stat"),
            "4242 (synprobe) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 77 1 1 1",
        )
        .unwrap();
        // It has turned route_localnet on; accept_local was turned off behind its back.
        fs::write(host.setting_path("lo", "route_localnet"), "1").unwrap();
        let lo = enable_in(&host).unwrap();
        assert_eq!(lo.notice, None);
        assert_eq!(both(&host), on());
        // Its record stays as it was.
        assert_eq!(
            Record::parse(&fs::read_to_string(host.record_path()).unwrap()),
            Some(live)
        );
        drop(lo);
        // This run puts back only what it changed.
        assert_eq!(both(&host), ("1".into(), "0".into()));
        assert!(host.record_exists());
    }

    #[test]
    fn without_a_usable_state_directory_it_says_so_and_still_restores() {
        let _one = undo::TEST_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let t = TempDir::new("lo-nodir");
        let mut host = t.host();
        // A file where the directory should be.
        host.state_dir = t.0.join("blocked");
        fs::write(&host.state_dir, "").unwrap();
        let lo = enable_in(&host).unwrap();
        let notice = lo.notice.clone().unwrap();
        assert!(notice.starts_with("keeping a record in "), "{notice}");
        assert!(
            notice.ends_with("; a SIGKILL would leave lo's route_localnet, accept_local on"),
            "{notice}"
        );
        assert_eq!(both(&host), on());
        drop(lo);
        assert_eq!(both(&host), off());
    }
}
