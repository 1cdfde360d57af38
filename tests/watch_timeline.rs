//! `synprobe watch` replaying docs/origin.md as a timeline on one target (interval 1s,
//! thresholds 2, timeout 500ms): the exact sequence of health changes, each detected within
//! the schedule's bound; then SIGHUP reloads, SIGUSR1 snapshots and SIGTERM's clean end;
//! and the metrics endpoint scraped over HTTP against the known states.
mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_millis(500);
const THRESHOLD: u32 = 2;
/// The longest any one change may take to show, with room to spare; a change the test waits
/// for and never sees fails after this, never hangs.
const WAIT_LIMIT: Duration = Duration::from_secs(15);

/// The schedule's correctness bound for a change to be detected: the first check that sees
/// it comes at most one interval after it, THRESHOLD - 1 more follow an interval apart, and a
/// silent check ends `timeout` after it went out: THRESHOLD x interval + timeout. One more
/// interval is allowed for what lies outside the schedule: the time the test's own action
/// (a listener reaching LISTEN, an iptables call) takes to be measured from, the driver's
/// 10 ms tick and the pipe to this test.
fn bound() -> Duration {
    INTERVAL * THRESHOLD + TIMEOUT + INTERVAL
}

/// Lines of one of the child's streams as they come, with when they came.
type Lines = Receiver<(Instant, String)>;

fn lines_of(from: impl Read + Send + 'static) -> Lines {
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running `watch`, killed on drop (a failing test leaves no process behind).
struct Watch {
    child: Child,
    out: Lines,
    err: Lines,
    /// Every stderr line seen so far, for messages.
    err_seen: Vec<String>,
}

impl Watch {
    fn start(tb: &Testbed, args: &[&str]) -> Watch {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &tb.scan_ns, &synprobe_bin(), "watch"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start synprobe watch");
        let out = lines_of(child.stdout.take().unwrap());
        let err = lines_of(child.stderr.take().unwrap());
        Watch {
            child,
            out,
            err,
            err_seen: Vec::new(),
        }
    }

    /// The next event line, as (from, to, reason, when it came); panics after WAIT_LIMIT.
    fn next_event(&mut self) -> (String, String, String, Instant) {
        let (v, at) = self.next_event_json();
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("{k}: {v}"))
                .to_string()
        };
        (s("from"), s("to"), s("reason"), at)
    }

    /// The next event line, parsed, and when it came; panics after WAIT_LIMIT.
    fn next_event_json(&mut self) -> (serde_json::Value, Instant) {
        let (at, line) = self.out.recv_timeout(WAIT_LIMIT).unwrap_or_else(|_| {
            self.drain_err();
            panic!(
                "no event within {WAIT_LIMIT:?}; stderr:\n{}",
                self.err_seen.join("\n")
            )
        });
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        (v, at)
    }

    /// Events that came within `d` (the test asserts there are none: a stable state).
    fn events_within(&mut self, d: Duration) -> Vec<String> {
        let until = Instant::now() + d;
        let mut got = Vec::new();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.out.recv_timeout(left) {
                Ok((_, l)) => got.push(l),
                Err(_) => break,
            }
        }
        got
    }

    fn drain_err(&mut self) {
        while let Ok((_, l)) = self.err.try_recv() {
            self.err_seen.push(l);
        }
    }

    /// Waits for a stderr line matching `pred`; returns it.
    fn err_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + WAIT_LIMIT;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let Ok((_, l)) = self.err.recv_timeout(left) else {
                break;
            };
            self.err_seen.push(l.clone());
            if pred(&l) {
                return l;
            }
        }
        panic!(
            "no stderr line {what}; stderr:\n{}",
            self.err_seen.join("\n")
        );
    }

    /// The snapshot SIGUSR1 asks for: its target lines, after its count line.
    fn snapshot(&mut self, targets: usize) -> Vec<String> {
        self.signal("USR1");
        self.snapshot_lines(targets)
    }

    fn snapshot_lines(&mut self, targets: usize) -> Vec<String> {
        let head = self.err_line("starting a snapshot", |l| l.starts_with("snapshot: "));
        assert!(
            head.starts_with(&format!("snapshot: {targets} targets")),
            "{head}"
        );
        (0..targets)
            .map(|_| self.err_line("of a snapshot target", |_| true))
            .collect()
    }

    fn signal(&self, sig: &str) {
        // `ip netns exec` execs the binary: the child's pid is synprobe's.
        let out = run_bounded(
            Command::new("kill").args([format!("-{sig}"), self.child.id().to_string()]),
            Duration::from_secs(5),
        );
        assert!(out.status.success(), "kill -{sig}: {}", describe(&out));
    }

    /// SIGTERM, then the exit status (bounded).
    fn terminate(&mut self) -> Option<i32> {
        self.signal("TERM");
        let status = wait_bounded(&mut self.child, "synprobe watch", Duration::from_secs(10));
        status.and_then(|s| s.code())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of its own, removed on drop.
const TARGET: &str = "198.18.0.1:8080";
const PORT: u16 = 8080;

fn timeline_args() -> Vec<&'static str> {
    vec![
        "--interval",
        "1s",
        "--timeout",
        "500ms",
        "--healthy-threshold",
        "2",
        "--unhealthy-threshold",
        "2",
        "--format",
        "jsonl",
    ]
}

/// Asserts the next event and that it came within the bound of `since`.
fn expect(w: &mut Watch, since: Instant, from: &str, to: &str, reason: &str, step: &str) {
    let (f, t, r, at) = w.next_event();
    assert_eq!(
        (f.as_str(), t.as_str(), r.as_str()),
        (from, to, reason),
        "{step}"
    );
    let took = at.saturating_duration_since(since);
    assert!(
        took <= bound(),
        "{step}: detected after {took:?}, beyond the bound {:?}",
        bound()
    );
    eprintln!("{step}: {from} -> {to} ({reason}) after {took:?}");
}

#[test]
fn origin_as_a_timeline_of_health_changes() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let started = Instant::now();
    let mut args = vec![TARGET];
    args.extend(timeline_args());
    let mut w = Watch::start(&tb, &args);

    // 1. Nothing listens: the kernel answers RST.
    expect(
        &mut w,
        started,
        "initial",
        "unhealthy",
        "rst",
        "no listener",
    );
    // 2. A server starts.
    let t = Instant::now();
    tb.listen(PORT);
    expect(&mut w, t, "unhealthy", "healthy", "syn-ack", "listener up");
    // 3. It stops.
    let t = Instant::now();
    tb.stop_listener(PORT);
    expect(&mut w, t, "healthy", "unhealthy", "rst", "listener gone");
    // 4. The firewall accepts the port, nothing listens: still RST, no change. Watched for
    // the time a change would have taken to show.
    tb.iptables_tgt(&[
        "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT",
    ]);
    let quiet = w.events_within(bound());
    assert_eq!(
        quiet,
        Vec::<String>::new(),
        "an open firewall is not enough"
    );
    // 5. ncat -klp listens.
    let t = Instant::now();
    tb.listen(PORT);
    expect(&mut w, t, "unhealthy", "healthy", "syn-ack", "ncat -klp");
    // 6. A DROP rule ahead of the ACCEPT: silence.
    let t = Instant::now();
    tb.iptables_tgt(&["-I", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"]);
    expect(&mut w, t, "healthy", "unhealthy", "no-response", "DROP");

    // SIGTERM: a final snapshot and exit 0.
    assert_eq!(w.terminate(), Some(0), "exit code on SIGTERM");
    let last = w.snapshot_lines(1);
    assert!(
        last[0].starts_with("198.18.0.1:8080 unhealthy last=no-response consecutive="),
        "{last:?}"
    );
    eprintln!("timeline took {:?}", started.elapsed());
}

#[test]
fn sighup_reloads_and_sigusr1_snapshots() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let dir = TempDir::new("watch-reload");
    let file = dir.path().join("fleet.txt");
    let path = file.to_str().unwrap().to_string();
    // Nothing listens in the target: every check is an RST.
    std::fs::write(&file, "# the fleet\n198.18.0.1:81\n198.18.0.2:82\n").unwrap();
    let mut args = vec!["--targets", path.as_str()];
    args.extend(timeline_args());
    let mut w = Watch::start(&tb, &args);
    let mut down: Vec<String> = (0..2).map(|_| w.next_event()).map(|e| e.1).collect();
    down.dedup();
    assert_eq!(down, vec!["unhealthy"]);

    let snap = w.snapshot(2);
    assert!(
        snap[0].starts_with("198.18.0.1:81 unhealthy last=rst consecutive="),
        "{snap:?}"
    );
    assert!(
        snap[1].starts_with("198.18.0.2:82 unhealthy last=rst consecutive="),
        "{snap:?}"
    );
    let run_of = |line: &str| -> u32 { line.rsplit('=').next().unwrap().parse().unwrap() };
    let kept_before = run_of(&snap[0]);

    // Keep .1:81, drop .2:82, add .3:83.
    std::fs::write(&file, "198.18.0.1:81\n198.18.0.3:83\n").unwrap();
    w.signal("HUP");
    let said = w.err_line("saying what the reload changed", |l| l.contains("reloaded"));
    assert!(said.contains("1 kept, 1 added, 1 removed"), "{said}");
    assert!(
        said.contains("added 198.18.0.3:83") && said.contains("removed 198.18.0.2:82"),
        "{said}"
    );
    // Only the new target changes: the kept one is already unhealthy.
    let (from, to, reason, _) = w.next_event();
    assert_eq!(
        (from.as_str(), to.as_str(), reason.as_str()),
        ("initial", "unhealthy", "rst")
    );
    let snap = w.snapshot(2);
    assert!(
        snap[0].starts_with("198.18.0.1:81 unhealthy last=rst"),
        "kept its state: {snap:?}"
    );
    assert!(
        run_of(&snap[0]) >= kept_before,
        "kept its count: {snap:?} after {kept_before}"
    );
    assert!(
        snap[1].starts_with("198.18.0.3:83 unhealthy last=rst"),
        "{snap:?}"
    );

    // A bad file keeps the old list, and says where it is bad.
    std::fs::write(&file, "198.18.0.1:81\nnot-a-target\n").unwrap();
    w.signal("HUP");
    let said = w.err_line("refusing the reload", |l| l.contains("reload refused"));
    assert!(said.contains(&format!("{path}:2:")), "{said}");
    let snap = w.snapshot(2);
    assert!(snap[1].starts_with("198.18.0.3:83 "), "{snap:?}");
    assert_eq!(w.events_within(Duration::ZERO), Vec::<String>::new());

    assert_eq!(w.terminate(), Some(0));
    assert_eq!(w.snapshot_lines(2).len(), 2);
}

#[test]
fn bad_settings_and_files_are_bad_input() {
    // Refused before any privilege or socket is needed.
    let run = |args: &[&str]| {
        let out = run_bounded(
            Command::new(synprobe_bin()).arg("watch").args(args),
            Duration::from_secs(10),
        );
        (out.status.code(), stderr_of(&out))
    };
    let (code, err) = run(&["198.18.0.1:80", "--interval", "5s", "--timeout", "5s"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("the timeout (5s) must be shorter than the interval (5s)"),
        "{err}"
    );
    let dir = TempDir::new("watch-bad");
    let file = dir.path().join("fleet.txt");
    std::fs::write(&file, "198.18.0.1:80\n# fine\n198.18.0.0/24\n").unwrap();
    let (code, err) = run(&["--targets", file.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("fleet.txt:3: "), "{err}");
    let (code, _) = run(&["198.18.0.1:80", "--metrics-listen", "nonsense"]);
    assert_eq!(code, Some(2));
}

/// `GET /metrics` from inside namespace `ns` (the endpoint listens on the prober's loopback),
/// over a plain TCP connection as a scraper would make it.
fn scrape(ns: &str, addr: &'static str) -> String {
    use nix::sched::{CloneFlags, setns};
    use std::io::Write;
    let path = format!("/var/run/netns/{ns}");
    thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        let mut s = std::net::TcpStream::connect(addr).expect("connect to --metrics-listen");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: synprobe\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).expect("read the scrape");
        body
    })
    .join()
    .expect("scrape thread")
}

#[test]
fn metrics_endpoint_reports_each_targets_state() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let mut args = vec!["198.18.0.1:80", "198.18.0.2:81"];
    args.extend(timeline_args());
    args.extend(["--metrics-listen", "127.0.0.1:9464"]);
    let mut w = Watch::start(&tb, &args);
    let mut changes = Vec::new();
    for _ in 0..2 {
        let (v, _) = w.next_event_json();
        changes.push(format!("{} {} {}", v["target"], v["from"], v["to"]));
    }
    changes.sort();
    assert_eq!(
        changes,
        [
            r#""198.18.0.1:80" "initial" "healthy""#,
            r#""198.18.0.2:81" "initial" "unhealthy""#
        ]
    );
    let body = scrape(&tb.scan_ns, "127.0.0.1:9464");
    assert!(
        body.starts_with("HTTP/1.") && body.contains(" 200 "),
        "{body}"
    );
    let has = |line: &str| body.lines().any(|l| l.trim() == line);
    for line in [
        r#"synprobe_target_up{target="198.18.0.1:80"} 1"#,
        r#"synprobe_target_up{target="198.18.0.2:81"} 0"#,
    ] {
        assert!(has(line), "no line {line} in the scrape:\n{body}");
    }
    let sent = body
        .lines()
        .find_map(|l| l.strip_prefix("synprobe_probes_sent_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no synprobe_probes_sent_total:\n{body}"));
    // Each change took two checks, and the driver counts a SYN before its answer is read.
    assert!(
        sent >= 4.0,
        "two checks of each target at least: {sent}\n{body}"
    );
    assert_eq!(w.terminate(), Some(0));
}
