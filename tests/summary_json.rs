//! The machine-readable summary: `--summary-json FILE|-` of scan and check, `scan
//! --trailer` as the last JSON Lines record (which `merge` skips), `bench`'s one JSON line,
//! and an interrupted `check` that prints the verdicts it has. Against a testbed whose
//! answers are known (root); the flags' refusals need no root.
mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;

/// 198.18.0.1-4 x 80 (listening), 81 (closed: RST), 84 (DROP): 12 pairs, 4 of each state.
fn three_state_testbed() -> Testbed {
    let tb = Testbed::up();
    tb.listen(80);
    tb.iptables_tgt(&["-A", "INPUT", "-p", "tcp", "--dport", "84", "-j", "DROP"]);
    tb
}

fn temp_dir(tb: &Testbed, what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("synprobe-{what}-{}", tb.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The counts every record of this scan must hold.
fn assert_scan_record(v: &Value, mark: &str) {
    assert_eq!(v["synprobe"], mark, "{v}");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"), "{v}");
    assert_eq!(v["command"], "scan", "{v}");
    assert_eq!(v["seed"], 7, "{v}");
    assert_eq!(v["shard"], serde_json::json!([1, 1]), "{v}");
    assert_eq!(v["pairs"], 12, "{v}");
    // 12 in the first round, the 4 silent ones again in the retry round.
    assert_eq!(v["probes"]["sent"], 16, "{v}");
    assert_eq!(v["replies"]["matched"], 8, "{v}");
    assert_eq!(
        v["states"],
        serde_json::json!({"open": 4, "closed": 4, "filtered": 4}),
        "{v}"
    );
    assert_eq!(v["reasons"]["syn-ack"], 4, "{v}");
    assert_eq!(v["reasons"]["rst"], 4, "{v}");
    assert_eq!(v["reasons"]["no-response"], 4, "{v}");
    assert_eq!(v["rate"]["asked"], 10_000.0, "{v}");
    assert!(
        v["seconds"]["total"].as_f64().is_some_and(|s| s > 0.0),
        "{v}"
    );
    assert_eq!(
        v["exit"],
        serde_json::json!({"reason": "completed", "code": 0}),
        "{v}"
    );
}

#[test]
fn scan_summary_json_and_trailer_hold_every_count_and_merge_skips_the_trailer() {
    if !require_root() {
        return;
    }
    let tb = three_state_testbed();
    let dir = temp_dir(&tb, "summary");
    let (out, sum) = (dir.join("out.jsonl"), dir.join("summary.json"));
    let (out_s, sum_s) = (out.to_str().unwrap(), sum.to_str().unwrap());
    let base = [
        "scan",
        "198.18.0.1-198.18.0.4",
        "-p",
        "80,81,84",
        "--seed",
        "7",
        "--states",
        "all",
        "--wait",
        "500ms",
        "--format",
        "jsonl",
        "--no-progress",
    ];
    let mut args = base.to_vec();
    args.extend([
        "--header",
        "--trailer",
        "-o",
        out_s,
        "--summary-json",
        sum_s,
    ]);
    let run = tb.synprobe(&args);
    assert_eq!(code(run.status), Some(0), "{}", describe(&run));
    assert_scan_record(&json(&std::fs::read_to_string(&sum).unwrap()), "summary");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1 + 12 + 1,
        "header, 12 results, trailer:\n{text}"
    );
    assert_eq!(json(lines[0])["synprobe"], "header");
    let trailer = json(lines[13]);
    assert_scan_record(&trailer, "trailer");
    for l in &lines[1..13] {
        assert!(json(l).get("synprobe").is_none(), "a result: {l}");
    }
    // merge reads the file, trailer and all, and writes the 12 results only.
    let merged = run_bounded(
        Command::new(synprobe_bin()).args(["merge", out_s]),
        Duration::from_secs(30),
    );
    assert_eq!(code(merged.status), Some(0), "{}", describe(&merged));
    let merged_lines: Vec<String> = stdout_of(&merged).lines().map(str::to_string).collect();
    assert_eq!(merged_lines.len(), 12, "{}", describe(&merged));
    assert!(merged_lines.iter().all(|l| !l.contains("synprobe")));

    // `--summary-json -`: the record follows the results on stdout.
    let mut args = base.to_vec();
    args.extend(["--summary-json", "-"]);
    let run = tb.synprobe(&args);
    assert_eq!(code(run.status), Some(0), "{}", describe(&run));
    let stdout = stdout_of(&run);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 13, "{stdout}");
    assert_scan_record(&json(lines[12]), "summary");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_summary_json_counts_the_verdicts() {
    if !require_root() {
        return;
    }
    let tb = three_state_testbed();
    let run = tb.synprobe(&[
        "check",
        "198.18.0.1:80",
        "198.18.0.1:81",
        "198.18.0.1:84",
        "--timeout",
        "500ms",
        "--summary-json",
        "-",
    ]);
    assert_eq!(code(run.status), Some(1), "{}", describe(&run));
    let stdout = stdout_of(&run);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "three verdicts and the summary: {stdout}");
    let v = json(lines[3]);
    assert_eq!(v["synprobe"], "summary", "{v}");
    assert_eq!(v["command"], "check", "{v}");
    assert_eq!(v["pairs"], 3, "{v}");
    // One SYN each, the silent one a second time (--retries 1).
    assert_eq!(v["probes"]["sent"], 4, "{v}");
    assert_eq!(
        v["states"],
        serde_json::json!({"open": 1, "closed": 1, "filtered": 1}),
        "{v}"
    );
    assert_eq!(
        v["exit"],
        serde_json::json!({"reason": "completed", "code": 1}),
        "{v}"
    );
}

/// Ctrl-C during a check: the verdicts it has are printed, the rest say `interrupted`.
#[test]
fn an_interrupted_check_prints_the_verdicts_it_has() {
    if !require_root() {
        return;
    }
    let tb = three_state_testbed();
    // 84 is dropped: undecided until 2 attempts of 4 s each have passed (8 s), so the
    // SIGINT at 2 s finds 80 and 81 decided (their answers take milliseconds) and 84 not.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &tb.scan_ns, &synprobe_bin()])
        .args([
            "check",
            "198.18.0.1:80",
            "198.18.0.1:84",
            "198.18.0.1:81",
            "--timeout",
            "4s",
            "--summary-json",
            "-",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start synprobe check");
    let out_t = drain(child.stdout.take().expect("stdout"));
    let err_t = drain(child.stderr.take().expect("stderr"));
    std::thread::sleep(Duration::from_secs(2));
    // `ip netns exec` execs the binary: the child's pid is synprobe's.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let status = wait_bounded(&mut child, "synprobe check", Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    let status = status.unwrap_or_else(|| panic!("check did not end; stderr: {stderr}"));
    assert_eq!(status.code(), Some(130), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}{stderr}");
    assert!(
        lines[0].starts_with("198.18.0.1:80 healthy: SYN-ACK"),
        "{stdout}"
    );
    assert_eq!(
        lines[1], "198.18.0.1:84 interrupted: stopped before a verdict",
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("198.18.0.1:81 unhealthy: RST"),
        "{stdout}"
    );
    let v = json(lines[3]);
    assert_eq!(
        v["exit"],
        serde_json::json!({"reason": "interrupted", "code": 130}),
        "{v}"
    );
    assert_eq!(
        v["states"],
        serde_json::json!({"open": 1, "closed": 1, "filtered": 0}),
        "{v}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
}

/// bench on 198.18.0.0/24 x 81 (every address answers RST) cycles the permutation: each pair
/// is matched once, the answers to its later probes are duplicates.
#[test]
fn bench_json_counts_each_pair_once_and_seconds_as_numbers() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let run = tb.synprobe(&[
        "bench",
        "198.18.0.0/24",
        "-p",
        "81",
        "--duration",
        "1s",
        "--rate",
        "2000",
    ]);
    assert_eq!(code(run.status), Some(0), "{}", describe(&run));
    let v = json(&stdout_of(&run));
    let n = |k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("{k} not a count: {v}"))
    };
    assert_eq!(n("matched"), 256, "every pair once: {v}");
    assert!(n("duplicates") > 0, "later answers are duplicates: {v}");
    assert_eq!(
        n("replies"),
        n("matched") + n("duplicates") + n("ignored") + n("unverified_syns") + n("bad_checksums"),
        "{v}"
    );
    assert!(n("probes_sent") > 256, "{v}");
    for k in ["seconds", "cpu_user_s", "cpu_sys_s"] {
        assert!(v[k].is_number(), "{k}: {v}");
    }
    assert!(v["probes_per_sec"].is_u64(), "{v}");
}

/// Runs a refused command: inside a testbed as root (nothing leaves it), as it is without
/// root (it can send nothing then).
fn refused(args: &[&str]) -> std::process::Output {
    if is_root() {
        if !require_root() {
            panic!("the testbed's tools are missing");
        }
        Testbed::up().synprobe(args)
    } else {
        run_bounded(
            Command::new(synprobe_bin()).args(args),
            Duration::from_secs(30),
        )
    }
}

#[test]
fn trailer_needs_jsonl_and_the_summary_file_a_directory() {
    let out = refused(&["scan", "198.18.0.1", "-p", "80", "--trailer"]);
    assert_eq!(code(out.status), Some(2), "{}", describe(&out));
    assert!(
        stderr_of(&out).contains("--trailer needs --format jsonl"),
        "{}",
        describe(&out)
    );
    let out = refused(&[
        "check",
        "198.18.0.1:80",
        "--summary-json",
        "/nonexistent-dir/s.json",
    ]);
    assert_eq!(code(out.status), Some(2), "{}", describe(&out));
    assert!(
        stderr_of(&out).contains("/nonexistent-dir/s.json"),
        "{}",
        describe(&out)
    );
}
