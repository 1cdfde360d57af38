//! A reader that goes away (`synprobe ... | head`) is not an error and never a panic:
//! `scan` stops quietly with its summary, `check` still exits with the health of every
//! target, `bench` still exits 0.
mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs synprobe in the prober namespace with stdout piped, reads `keep` lines, then
/// closes the pipe; returns (exit code, stderr).
fn with_reader_gone(tb: &Testbed, args: &[&str], keep: usize) -> (Option<i32>, String) {
    let bin = synprobe_bin();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &tb.scan_ns, &bin]).args(args);
    reader_gone(cmd, keep)
}

fn reader_gone(mut cmd: Command, keep: usize) -> (Option<i32>, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn synprobe");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    for _ in 0..keep {
        let mut line = String::new();
        out.read_line(&mut line).expect("read a result line");
    }
    drop(out);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("synprobe did not stop within 60 s after its reader went away");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("read stderr");
    (code(status), err)
}

#[test]
fn a_closed_output_ends_each_command_quietly() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);

    // 65,536 open pairs: far more than a pipe holds, so the writes meet the closed pipe.
    let (rc, err) = with_reader_gone(
        &tb,
        &["scan", "198.18.0.0/16", "-p", "80", "--rate", "100k"],
        1,
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(rc, Some(0), "scan: {err}");
    assert!(
        err.contains("stopped: the output was closed"),
        "scan: {err}"
    );
    assert!(!err.contains("Broken pipe"), "scan: {err}");

    // Silent pairs are reported after the last wait: the pipe closes during that list.
    tb.iptables_tgt(&["-A", "INPUT", "-p", "tcp", "--dport", "84", "-j", "DROP"]);
    let (rc, err) = with_reader_gone(
        &tb,
        &[
            "scan",
            "198.18.0.0/16",
            "-p",
            "84",
            "--rate",
            "100k",
            "--retries",
            "0",
            "--wait",
            "100ms",
            "--states",
            "filtered",
        ],
        1,
    );
    assert_eq!(rc, Some(0), "scan, silent pairs: {err}");
    assert!(
        err.contains("stopped: the output was closed"),
        "scan, silent pairs: {err}"
    );

    // The pipe is closed before check prints: it still exits 1, for 198.18.0.1:81.
    let (rc, err) = with_reader_gone(&tb, &["check", "198.18.0.1:80", "198.18.0.1:81"], 0);
    assert!(!err.contains("panicked"), "check: {err}");
    assert_eq!(rc, Some(1), "check: {err}");
    assert_eq!(err, "", "check");

    let (rc, err) = with_reader_gone(
        &tb,
        &[
            "bench",
            "198.18.0.1",
            "-p",
            "81",
            "--duration",
            "1s",
            "--rate",
            "1k",
        ],
        0,
    );
    assert!(!err.contains("panicked"), "bench: {err}");
    assert_eq!(rc, Some(0), "bench: {err}");

    // `2>&1 | head`: the summary meets the closed pipe too, and is dropped, not a panic.
    let script = format!(
        "exec {} scan 198.18.0.0/16 -p 80 --rate 100k 2>&1",
        synprobe_bin()
    );
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &tb.scan_ns, "bash", "-c", &script]);
    let (rc, err) = reader_gone(cmd, 1);
    assert_eq!(rc, Some(0), "scan 2>&1: {err}");
}
