//! A scan's memory follows its answers, not its pair space: a /16 x all ports (2^32 pairs,
//! a 512 MiB bitmap before) and an IPv6 /96 x 1 port, against a target that answers every
//! pair, stay under 64 MiB of peak RSS for their first seconds. The peak is read from the
//! running scan's /proc status (VmHWM), then the scan is interrupted and must say it sent
//! probes and matched replies (so the seconds measured were a working scan, not a stall).
mod common;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const LIMIT_KIB: u64 = 64 * 1024;
/// How long the scan runs before its peak is read.
const RUN_FOR: Duration = Duration::from_secs(5);

/// A scan in the background; killed on drop, also when an assertion fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `FIELD:   1234 kB` of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The number after `word` in `text` ("sent 123 probes", "replies: 45 matched").
fn number_before(text: &str, word: &str) -> u64 {
    let at = text
        .find(word)
        .unwrap_or_else(|| panic!("no '{word}' in: {text}"));
    text[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no number before '{word}' in: {text}"))
}

/// Runs `scan TARGET -p PORTS` for RUN_FOR, reads its peak RSS, interrupts it; returns
/// (VmHWM KiB, stderr).
fn peak_of_scan(tb: &Testbed, target: &str, ports: &str) -> (u64, String) {
    let child = Command::new("ip")
        .args(["netns", "exec", &tb.scan_ns, &synprobe_bin()])
        .args([
            "scan",
            target,
            "-p",
            ports,
            "--rate",
            "100000",
            "--no-progress",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start synprobe");
    let mut run = Running(child);
    // `ip netns exec` execs synprobe in place: this pid is synprobe's.
    let pid = run.0.id();
    thread::sleep(RUN_FOR);
    assert!(
        run.0.try_wait().expect("try_wait").is_none(),
        "the {target} x {ports} scan ended within {RUN_FOR:?}: it should take hours"
    );
    let hwm = status_kib(pid, "VmHWM:").expect("VmHWM of the running scan");
    let rss = status_kib(pid, "VmRSS:").expect("VmRSS of the running scan");
    eprintln!("{target} x {ports}: VmHWM {hwm} KiB, VmRSS {rss} KiB after {RUN_FOR:?}");
    kill(Pid::from_raw(pid as i32), Signal::SIGINT).expect("SIGINT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = run.0.try_wait().expect("try_wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit 30 s after SIGINT");
        thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = run.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert_eq!(code(status), Some(130), "interrupted scan: {err}");
    (hwm, err)
}

#[test]
fn a_slash16_x_all_ports_and_an_ipv6_slash96_stay_under_64_mib() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    for (target, ports) in [("198.18.0.0/16", "-"), ("2001:db8:1::/96", "80")] {
        let (hwm, err) = peak_of_scan(&tb, target, ports);
        // Every pair of the testbed answers (RST: nothing listens), so the scan matched
        // replies all along and the answered set grew with them.
        let sent = number_before(&err, "probes for");
        let matched = number_before(&err, "matched");
        assert!(
            sent > 0 && matched > 0,
            "{target}: sent {sent}, matched {matched}\n{err}"
        );
        assert!(
            hwm < LIMIT_KIB,
            "{target} x {ports}: peak RSS {hwm} KiB, over {LIMIT_KIB} KiB\n{err}"
        );
    }
}
