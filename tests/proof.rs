//! Issue 14, "a port is open only with proof": a bare SYN is no proof by itself. A blind
//! forger flooding the scanner with bare SYNs (every source port, so the port check alone
//! is always passed) and random replies must not make one port open, while a real
//! split-handshake host, which completes the handshake, is open with reason `syn`.
//! The helpers are examples/forge_replies.rs and examples/split_responder.rs.
mod common;

use common::*;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The examples this file runs; built (a no-op when fresh) once per test process.
const EXAMPLES: [&str; 2] = ["split_responder", "forge_replies"];

/// An example's binary, next to this test's own profile directory
/// (target/release/deps/proof-HASH -> target/release/examples/NAME).
fn example_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in PROFILE/deps")
        .to_path_buf();
    BUILT.get_or_init(|| {
        // `cargo test --test proof` builds no example: build them here, in the same
        // profile and target directory, so the binaries are never stale.
        let mut cmd = Command::new(env!("CARGO"));
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(repo_root().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(profile_dir.parent().expect("target dir"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        for e in EXAMPLES {
            cmd.args(["--example", e]);
        }
        let out = run_bounded(&mut cmd, Duration::from_secs(900));
        if !out.status.success() {
            eprintln!(
                "building the examples failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });
    let bin = profile_dir.join("examples").join(name);
    assert!(
        bin.is_file(),
        "missing {}: build it with `cargo build --release --examples`",
        bin.display()
    );
    bin
}

/// A helper process running in the background, its output collected line by line; killed
/// on Drop. Everything it does is bounded by its own arguments too.
struct Background {
    shown: String,
    child: Child,
    lines: Receiver<String>,
    stdout: Vec<String>,
    out_t: Option<JoinHandle<()>>,
    err_t: Option<JoinHandle<Vec<u8>>>,
}

impl Background {
    fn spawn(cmd: &mut Command) -> Background {
        let (shown, mut child) = spawn_piped(cmd);
        let out = child.stdout.take().expect("piped stdout");
        let err_t = drain(child.stderr.take().expect("piped stderr"));
        let (tx, lines) = channel();
        let out_t = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Background {
            shown,
            child,
            lines,
            stdout: Vec::new(),
            out_t: Some(out_t),
            err_t: Some(err_t),
        }
    }

    /// Waits for a stdout line equal to `want` (earlier lines are kept).
    fn wait_line(&mut self, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l == want => return,
                Ok(l) => self.stdout.push(l),
                Err(_) => panic!("{} did not print {want:?} within {timeout:?}", self.shown),
            }
        }
    }

    fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the exit (killing it after `timeout`) and returns all it printed.
    fn finish(mut self, timeout: Duration) -> Output {
        let Some(status) = wait_bounded(&mut self.child, &self.shown, timeout) else {
            panic!("{} did not finish within {timeout:?}; killed", self.shown);
        };
        if let Some(t) = self.out_t.take() {
            let _ = t.join();
        }
        let mut stdout = std::mem::take(&mut self.stdout);
        stdout.extend(self.lines.try_iter());
        let stderr = self
            .err_t
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        let mut text = stdout.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        Output {
            status,
            stdout: text.into_bytes(),
            stderr,
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn in_ns(ns: &str, program: &PathBuf, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).arg(program).args(args);
    cmd
}

/// The number just before ` word` in the summary (`300000 ignored`, `5 unverified SYN`,
/// `1 teardown RST` as well as `2 teardown RSTs`); digit group separators are read
/// through. The last occurrence wins.
fn count_before(stderr: &str, word: &str) -> Option<u64> {
    let pat = format!(" {word}");
    let mut found = None;
    for (at, _) in stderr.match_indices(&pat) {
        let rest = &stderr[at + pat.len()..];
        // The summary says "1 probe" and "2 probes".
        let rest = rest.strip_prefix('s').unwrap_or(rest);
        if rest
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            continue;
        }
        let digits: String = stderr[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '_')
            .filter(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !digits.is_empty() {
            found = digits.parse().ok();
        }
    }
    found
}

fn summary_number(stderr: &str, word: &str) -> u64 {
    count_before(stderr, word)
        .unwrap_or_else(|| panic!("no \"N {word}\" in the summary:\n{stderr}"))
}

/// `key=N` from the forger's one line of counts.
fn forged(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in the forger's output: {line}"))
}

/// True once synprobe's receive socket is bound: the only ETH_P_ALL packet socket in the
/// prober's namespace (its send sockets bind protocol 0), bound after its filter is in place.
fn receiver_bound(tb: &Testbed) -> bool {
    let out = tb.in_scan(&["cat", "/proc/net/packet"]);
    // sk RefCnt Type Proto Iface R Rmem User Inode
    stdout_of(&out).lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(3) == Some(&"0003") && f.get(5) == Some(&"1")
    })
}

const FORGED_SYNS: &str = "200000";
const FORGED_OTHERS: &str = "300000";
/// The forger's own deadline; the scan listens longer (FORGE_WAIT) after its first round,
/// so every forged frame arrives while it listens, and its retry round runs after the flood.
const FORGE_SECS: &str = "10";
const FORGE_WAIT: &str = "12s";

#[test]
fn forged_bare_syns_and_replies_open_nothing() {
    if !require_root() {
        return;
    }
    let forger = example_bin("forge_replies");
    let _heavy = heavy_lock();
    let tb = Testbed::up();
    // Ground truth: 22 and 82 closed (nothing listens), 84 dropped.
    let drop84 = ["-A", "INPUT", "-p", "tcp", "--dport", "84", "-j", "DROP"];
    tb.iptables_tgt(&drop84);
    tb.ip6tables_tgt(&drop84);
    // The prober's kernel would answer each of the 500,000 forged frames with an RST into
    // the target namespace: work for the two shared cores that tests nothing. synprobe
    // reads its frames before netfilter, so this changes nothing it sees.
    let quiet = [
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        "61001:65535",
        "-j",
        "DROP",
    ];
    tb.iptables_scan(&quiet);
    tb.ip6tables_scan(&quiet);
    let scanner_mac =
        stdout_of(&tb.in_scan(&["cat", &format!("/sys/class/net/{}-s/address", tb.name)]))
            .trim()
            .to_string();

    let (v4, v6) = ("198.18.0.0/23", "2001:db8:1::/120");
    let rx_before = tb.scan_rx_packets();
    let bin = PathBuf::from(synprobe_bin());
    let scan = Background::spawn(&mut in_ns(
        &tb.scan_ns,
        &bin,
        &[
            "scan",
            v4,
            v6,
            "-p",
            "22,82,84",
            "--rate",
            "2000",
            "--wait",
            FORGE_WAIT,
            "--states",
            "all",
            "--format",
            "jsonl",
            "--no-progress",
        ],
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !receiver_bound(&tb) {
        assert!(
            Instant::now() < deadline,
            "synprobe's receive socket not bound within 20 s"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let forge = run_bounded(
        &mut in_ns(
            &tb.tgt_ns,
            &forger,
            &[
                &format!("{}-t", tb.name),
                &scanner_mac,
                "198.19.0.1,2001:db8:ff::1",
                &format!("{v4},{v6}"),
                "22,82,84",
                FORGED_SYNS,
                FORGED_OTHERS,
                FORGE_SECS,
            ],
        ),
        Duration::from_secs(60),
    );
    let mut scan = scan;
    let scan_ended_first = scan.has_exited();
    let out = scan.finish(Duration::from_secs(120));
    let rx_after = tb.scan_rx_packets();
    let line = stdout_of(&forge);
    let line = line.trim();
    eprintln!("{line}");
    let err = stderr_of(&out);
    eprintln!("{err}");
    assert!(
        forge.status.success() && line.contains("done=true"),
        "forger failed: {}",
        describe(&forge)
    );
    assert!(
        !scan_ended_first,
        "harness: the scan ended before the forger was done; raise FORGE_WAIT"
    );
    let (bare, total) = (forged(line, "bare_syn"), forged(line, "total"));
    assert!(
        bare >= 200_000 && total >= 500_000,
        "forger fell short: {line}"
    );
    // Every frame the forger's kernel took reached the prober's interface.
    assert!(
        rx_after - rx_before >= total,
        "harness: {} frames at the prober, {total} forged",
        rx_after - rx_before
    );

    // The issue: no forged frame makes a port open.
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let rows = parse_jsonl(&stdout_of(&out));
    let open: Vec<String> = rows
        .iter()
        .filter(|r| r.state == "open")
        .map(|r| format!("{} port {} {}", r.ip, r.port, r.reason))
        .collect();
    assert!(
        open.is_empty(),
        "{} ports reported open by forged frames, e.g. {:?}\nforger: {line}\n{err}",
        open.len(),
        &open[..open.len().min(10)]
    );
    // Every pair once, in its true state.
    let mut seen = HashSet::new();
    for r in &rows {
        assert!(
            seen.insert((r.ip.clone(), r.port)),
            "{} port {} reported twice",
            r.ip,
            r.port
        );
        let want = if r.port == 84 {
            ("filtered", "no-response")
        } else {
            ("closed", "rst")
        };
        assert_eq!(
            (r.state.as_str(), r.reason.as_str()),
            want,
            "{} port {}",
            r.ip,
            r.port
        );
    }
    assert_eq!(rows.len(), (512 + 256) * 3, "{}", describe(&out));
    assert_eq!(summary_count(&err, "open"), Some(0), "{err}");
    assert_eq!(summary_count(&err, "closed"), Some(768 * 2), "{err}");
    assert_eq!(summary_count(&err, "filtered"), Some(768), "{err}");

    // The summary accounts for the flood: every forged bare SYN is an unverified SYN unless
    // the receive ring dropped it, and every other forged frame proved nothing (a random
    // acknowledgement passes the cookie with probability 2^-32 per frame).
    let unverified = summary_number(&err, "unverified SYN");
    let ignored = summary_number(&err, "ignored");
    let bad_sum = summary_number(&err, "bad checksum");
    let split = summary_number(&err, "split-handshake SYN-ACK");
    let drops = summary_count(&err, "drops").expect("receive drops in the summary");
    assert!(
        unverified <= bare && unverified + drops >= bare,
        "{unverified} unverified SYN, {drops} receive drops, {bare} bare SYNs forged\n{err}"
    );
    assert!(
        unverified + ignored + drops >= total,
        "{unverified} unverified + {ignored} ignored + {drops} dropped < {total} forged\n{err}"
    );
    assert_eq!(bad_sum, 0, "forged checksums are valid\n{err}");
    assert!(
        split <= unverified,
        "more split-handshake SYN-ACKs than bare SYNs\n{err}"
    );
}

/// Starts the responder on the target veth, the kernel silenced on `port`, and waits until
/// it listens.
fn responder(tb: &Testbed, port: u16, mode: &str) -> Background {
    let bin = example_bin("split_responder");
    let p = port.to_string();
    let rule = ["-A", "INPUT", "-p", "tcp", "--dport", &p, "-j", "DROP"];
    tb.iptables_tgt(&rule);
    tb.ip6tables_tgt(&rule);
    let mut r = Background::spawn(&mut in_ns(
        &tb.tgt_ns,
        &bin,
        &[&format!("{}-t", tb.name), &p, "120", mode],
    ));
    r.wait_line("ready", Duration::from_secs(10));
    r
}

fn assert_all(out: &Output, rows: &[String], want: &[String]) {
    let got: HashSet<&String> = rows.iter().collect();
    assert_eq!(rows.len(), want.len(), "{}", describe(out));
    for w in want {
        assert!(got.contains(w), "no row {w:?}\n{}", describe(out));
    }
}

#[test]
fn split_handshake_hosts_are_open_with_reason_syn() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let _r = responder(&tb, 7000, "split");
    // Ground truth: a real TCP stack completes a simultaneous open with the responder.
    for addr in ["198.18.7.1", "2001:db8:1::101"] {
        let c = tb.kernel_connect(addr, 7000, 5);
        assert!(
            c.status.success(),
            "kernel connect() to {addr}:7000 failed: {}",
            describe(&c)
        );
    }

    let (out, rows) = tb.scan_every_state("198.18.7.0/24", "7000");
    let want: Vec<String> = (0..256)
        .map(|i| format!("198.18.7.{i} 7000 open syn"))
        .collect();
    assert_all(&out, &rows, &want);

    let (out, rows) = tb.scan_every_state("2001:db8:1::100/120", "7000");
    let want: Vec<String> = (0..256)
        .map(|i| format!("2001:db8:1::{:x} 7000 open syn", 0x100 + i))
        .collect();
    assert_all(&out, &rows, &want);

    for target in ["198.18.7.1:7000", "[2001:db8:1::101]:7000"] {
        let out = tb.synprobe(&["check", target]);
        let lines = result_lines(&out, 0, 1);
        assert!(
            lines[0].starts_with(&format!("{target} healthy")),
            "{}",
            describe(&out)
        );
    }
}

#[test]
fn a_syn_never_followed_by_its_ack_is_not_open() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let _r = responder(&tb, 7001, "syn-only");
    let out = tb.synprobe(&[
        "scan",
        "198.18.8.0/26",
        "2001:db8:1::200/122",
        "-p",
        "7001",
        "--states",
        "all",
        "--format",
        "jsonl",
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let all = parse_jsonl(&stdout_of(&out));
    assert_eq!(all.len(), 128, "{}", describe(&out));
    let open: Vec<&Row> = all.iter().filter(|r| r.state == "open").collect();
    assert!(
        open.is_empty(),
        "{} pairs open on a bare SYN alone, e.g. {:?}",
        open.len(),
        open.first()
    );
}

#[test]
fn every_split_handshake_is_torn_down() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let _r = responder(&tb, 7002, "split");
    // RSTs to 7002 that reach the target's kernel, counted ahead of the DROP that
    // silences it.
    let rsts = ["-p", "tcp", "--dport", "7002", "--tcp-flags", "RST", "RST"];
    tb.count_at_tgt("proof-rst", &rsts);
    // The prober's kernel has no socket for the responder's SYN and ACK and would answer
    // each with an RST of its own; only synprobe's (sent on its packet socket, past
    // iptables) are counted.
    tb.silence_prober_kernel_rsts();
    let mut before = 0;
    for target in ["198.18.9.0/24", "2001:db8:1::300/120"] {
        let (out, rows) = tb.scan_every_state(target, "7002");
        assert_eq!(rows.len(), 256, "{}", describe(&out));
        let open = rows.iter().filter(|r| r.ends_with(" open syn")).count() as u64;
        assert_eq!(open, 256, "{}", describe(&out));
        let err = stderr_of(&out);
        let sent = summary_number(&err, "teardown RST");
        let seen = tb.counted_at_tgt("proof-rst") - before;
        before += seen;
        assert!(
            sent >= open,
            "{open} split handshakes completed, {sent} teardown RSTs sent\n{err}"
        );
        assert_eq!(
            seen, sent,
            "teardown RSTs that reached the target vs sent\n{err}"
        );
    }
}
