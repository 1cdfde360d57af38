//! A loopback scan turns on lo's route_localnet and accept_local; however it ends (SIGHUP,
//! SIGTERM, Ctrl-C twice, SIGKILL then another run), they are back at 0 afterwards and no
//! record of them is left in /run/synprobe. Each case runs in a fresh namespace with only lo,
//! where both settings start at 0.
mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const BOUND: Duration = Duration::from_secs(30);
const SETTINGS: [&str; 2] = ["route_localnet", "accept_local"];

/// A synprobe scan running in the background in the testbed's namespace; killed on drop.
struct Running {
    child: Child,
}

impl Running {
    /// 3.3 M pairs at 20k/s: minutes, so it is still running when the signal comes.
    fn scan(tb: &Testbed) -> Running {
        let child = Command::new("ip")
            .args(["netns", "exec", &tb.scan_ns, &synprobe_bin()])
            .args(["scan", "127.0.0.0/16", "-p", "1-50", "--rate", "20000"])
            .arg("--no-progress")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start synprobe");
        Running { child }
    }

    /// `ip netns exec` execs synprobe in place, so this pid is synprobe's.
    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).expect("send signal");
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits (bounded) for the exit; returns it and the stderr.
    fn wait(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + BOUND;
        let status = loop {
            if let Some(s) = self.exited() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "synprobe still running {BOUND:?} after the signal"
            );
            thread::sleep(Duration::from_millis(10));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The two settings as read inside the namespace ("1"/"0").
fn settings(tb: &Testbed) -> Vec<String> {
    let paths: Vec<String> = SETTINGS
        .iter()
        .map(|n| format!("/proc/sys/net/ipv4/conf/lo/{n}"))
        .collect();
    let mut args = vec!["cat"];
    args.extend(paths.iter().map(String::as_str));
    let out = tb.in_scan(&args);
    assert!(out.status.success(), "{}", describe(&out));
    stdout_of(&out).lines().map(str::to_string).collect()
}

fn on() -> Vec<String> {
    vec!["1".into(), "1".into()]
}

fn off() -> Vec<String> {
    vec!["0".into(), "0".into()]
}

/// Where synprobe keeps its record for the testbed's namespace: named by the namespace's
/// inode, which /run/netns/NAME (a bind mount of it) shows.
fn record_path(tb: &Testbed) -> PathBuf {
    let out = run_ok(Command::new("stat").args([
        "-L",
        "-c",
        "%i",
        &format!("/run/netns/{}", tb.scan_ns),
    ]));
    let ino = stdout_of(&out).trim().to_string();
    PathBuf::from(format!("/run/synprobe/netns-{ino}.state"))
}

/// Waits (bounded) until the scan has turned both settings on.
fn wait_until_on(tb: &Testbed, run: &mut Running) {
    let deadline = Instant::now() + BOUND;
    while settings(tb) != on() {
        if let Some(s) = run.exited() {
            panic!("synprobe ended ({s}) before turning the settings on");
        }
        assert!(
            Instant::now() < deadline,
            "settings not on within {BOUND:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh namespace, both settings at 0, a scan running that has turned them on.
fn scan_running() -> (Testbed, Running) {
    let tb = Testbed::up_loopback();
    assert_eq!(
        settings(&tb),
        off(),
        "a fresh namespace starts with both off"
    );
    let mut run = Running::scan(&tb);
    wait_until_on(&tb, &mut run);
    assert!(record_path(&tb).exists(), "no record while the scan runs");
    (tb, run)
}

/// One signal: the scan stops cleanly (exit 130, summary), the settings are back.
fn one_signal_stops_cleanly(sig: Signal) {
    let (tb, run) = scan_running();
    run.signal(sig);
    let (status, err) = run.wait();
    assert_eq!(status.code(), Some(130), "{sig}: {status}\n{err}");
    assert!(err.contains("(interrupted"), "{sig}: no summary:\n{err}");
    assert_eq!(settings(&tb), off(), "{sig}: settings left on");
    assert!(!record_path(&tb).exists(), "{sig}: record left behind");
}

#[test]
fn sighup_stops_like_sigterm_and_puts_lo_back() {
    if !require_root() {
        return;
    }
    one_signal_stops_cleanly(Signal::SIGHUP);
}

#[test]
fn sigterm_puts_lo_back() {
    if !require_root() {
        return;
    }
    one_signal_stops_cleanly(Signal::SIGTERM);
}

#[test]
fn a_second_sigint_puts_lo_back_before_dying() {
    if !require_root() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let (tb, mut run) = scan_running();
    // Ctrl-C, then Ctrl-C again and again until it dies: the first one starts a clean
    // stop that keeps listening a while, so one of the next ones lands as a second signal
    // (two sent back to back could merge into one pending signal).
    for _ in 0..500 {
        if run.exited().is_some() {
            break;
        }
        run.signal(Signal::SIGINT);
        thread::sleep(Duration::from_millis(10));
    }
    let (status, err) = run.wait();
    assert_eq!(
        status.signal(),
        Some(libc::SIGINT),
        "a second Ctrl-C ends it by SIGINT: {status}\n{err}"
    );
    assert_eq!(settings(&tb), off(), "settings left on");
    assert!(!record_path(&tb).exists(), "record left behind");
}

#[test]
fn after_sigkill_the_next_run_puts_lo_back() {
    if !require_root() {
        return;
    }
    let (tb, run) = scan_running();
    let pid = run.child.id();
    run.signal(Signal::SIGKILL);
    let _ = run.wait();
    // Nothing in the killed process could act: the record is what is left.
    assert_eq!(settings(&tb), on());
    assert!(record_path(&tb).exists());

    let out = tb.synprobe(&["check", "127.0.0.1:1", "--timeout", "200ms"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let said = format!(
        "synprobe: restored lo route_localnet=0, lo accept_local=0 in this network namespace, left changed by synprobe pid {pid}, which ended without restoring them\n"
    );
    assert_eq!(err.matches(&said).count(), 1, "{}", describe(&out));
    assert_eq!(settings(&tb), off(), "settings left on");
    assert!(!record_path(&tb).exists(), "record left behind");
}

/// How many threads a run has.
fn threads(run: &Running) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", run.child.id())).map_or(0, |d| d.count())
}

/// Two loopback scans at once: the second finds both on and changes nothing, so ending it
/// leaves them on for the first, whose end puts them back.
#[test]
fn a_concurrent_scan_leaves_the_first_ones_settings_alone() {
    if !require_root() {
        return;
    }
    let (tb, first) = scan_running();
    let record = std::fs::read_to_string(record_path(&tb)).expect("first run's record");
    let mut second = Running::scan(&tb);
    // Past its start once the engine's threads exist (its handlers are in by then).
    let deadline = Instant::now() + BOUND;
    while threads(&second) < 2 {
        assert!(second.exited().is_none(), "second scan ended early");
        assert!(
            Instant::now() < deadline,
            "second scan not running within {BOUND:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    second.signal(Signal::SIGTERM);
    let (status, err) = second.wait();
    assert_eq!(status.code(), Some(130), "{status}\n{err}");
    assert_eq!(
        settings(&tb),
        on(),
        "the second run turned off the first's settings"
    );
    assert_eq!(
        std::fs::read_to_string(record_path(&tb)).ok().as_deref(),
        Some(record.as_str()),
        "the first run's record was touched"
    );
    first.signal(Signal::SIGTERM);
    let (status, err) = first.wait();
    assert_eq!(status.code(), Some(130), "{status}\n{err}");
    assert_eq!(settings(&tb), off());
    assert!(!record_path(&tb).exists());
}
