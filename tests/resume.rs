//! Interrupt and resume (issue 10): a /16 x 3 ports (open, closed, DROPped) with
//! `--retries 1`, stopped by SIGINT at a point set by a seed and resumed from its resume
//! file, gives exactly the set of an uninterrupted run with the same scan seed: every pair
//! once, with the same state, across the runs' output (one file, appended to). Also twice
//! interrupted, a second SIGINT right after the first (ends at once: the output still
//! parses line by line, and the last checkpoint resumes to the same set), and a resume file
//! of another scan refused with exit 2.
mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NET: &str = "198.18.0.0/16";
const PORTS: &str = "80,81,82";
const SEED: &str = "90210";
const LIMIT: Duration = Duration::from_secs(60);

/// A child killed and reaped when dropped (a failing test leaves no scan running).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scan_args<'a>(out: &'a str, rf: &'a str) -> Vec<&'a str> {
    vec![
        "scan",
        NET,
        "-p",
        PORTS,
        "--seed",
        SEED,
        "--retries",
        "1",
        "--states",
        "all",
        "--format",
        "jsonl",
        "--rate",
        "50000",
        "--wait",
        "1s",
        "--no-progress",
        "-o",
        out,
        "--resume-file",
        rf,
    ]
}

fn start(tb: &Testbed, args: &[&str]) -> Running {
    let child = Command::new("ip")
        .args(["netns", "exec", &tb.scan_ns, &synprobe_bin()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start synprobe");
    Running(child)
}

fn sigint(r: &Running) {
    // `ip netns exec` execs the binary: the child's pid is synprobe's.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(r.0.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("kill -INT");
}

/// Waits for the run and returns (exit code, signal, stderr).
fn finish(mut r: Running) -> (Option<i32>, Option<i32>, String) {
    let err = drain(r.0.stderr.take().expect("stderr"));
    let status = wait_bounded(&mut r.0, "synprobe scan", LIMIT).expect("scan ended in time");
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    use std::os::unix::process::ExitStatusExt;
    (status.code(), status.signal(), stderr)
}

/// Every line of the output parsed (a half line fails here), as pair -> state, asserting
/// that no pair appears twice.
fn pairs_of(path: &str) -> BTreeMap<(String, u16), String> {
    let what = path.rsplit('/').next().unwrap_or(path).to_string();
    let text = std::fs::read_to_string(path).expect("read output");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{path}: output ends mid-line"
    );
    let mut map = BTreeMap::new();
    for r in parse_jsonl(&text) {
        let key = (r.ip.clone(), r.port);
        assert!(
            map.insert(key.clone(), r.state.clone()).is_none(),
            "{what}: {key:?} written twice"
        );
    }
    map
}

/// A delay in 0.8 .. 5.6 s drawn from `seed` (a scan round takes about 4 s).
fn delay_of(seed: u64) -> Duration {
    let x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
    Duration::from_millis(800 + x % 4800)
}

/// Resume `rf` until a run finishes (at most `max` runs), exit 0 at the end.
fn resume_to_end(tb: &Testbed, rf: &str) {
    let r = start(
        tb,
        &["scan", "--resume", rf, "--no-progress", "--rate", "50000"],
    );
    let (code, sig, err) = finish(r);
    assert_eq!((code, sig), (Some(0), None), "resumed run: {err}");
    assert!(
        !std::path::Path::new(rf).exists(),
        "a finished scan removes its resume file"
    );
}

#[test]
fn interrupted_and_resumed_scans_give_the_uninterrupted_set() {
    if !require_root() {
        return;
    }
    let tmp = TempDir::new("resume");
    let tb = Testbed::up();
    tb.listen(80);
    tb.iptables_tgt(&[
        "-I", "INPUT", "1", "-p", "tcp", "--dport", "82", "-j", "DROP",
    ]);

    // The reference: the whole scan, uninterrupted.
    let (ref_out, ref_rf) = (tmp.file("ref.jsonl"), tmp.file("ref.resume"));
    let whole = finish(start(&tb, &scan_args(&ref_out, &ref_rf)));
    assert_eq!((whole.0, whole.1), (Some(0), None), "{}", whole.2);
    let reference = pairs_of(&ref_out);
    assert_eq!(reference.len(), 3 << 16, "every pair once");
    for ((ip, port), state) in &reference {
        let want = ["open", "closed", "filtered"][usize::from(*port - 80)];
        assert_eq!(state, want, "{ip}:{port}");
    }

    // Interrupted once, at a point set by each seed, then resumed.
    for seed in [1u64, 2, 3] {
        let (out, rf) = (
            tmp.file(&format!("s{seed}.jsonl")),
            tmp.file(&format!("s{seed}.resume")),
        );
        let r = start(&tb, &scan_args(&out, &rf));
        std::thread::sleep(delay_of(seed));
        sigint(&r);
        let (code, sig, err) = finish(r);
        assert_eq!((code, sig), (Some(130), None), "interrupted run: {err}");
        assert!(err.contains("--resume"), "says how to continue: {err}");
        let partial = pairs_of(&out);
        eprintln!(
            "seed {seed}: {} pairs before the resume; {err}",
            partial.len()
        );
        assert!(
            partial.len() < reference.len(),
            "seed {seed}: stopped early"
        );
        resume_to_end(&tb, &rf);
        assert_eq!(pairs_of(&out), reference, "seed {seed}: resumed set");
    }

    // Interrupted twice: the resumed run is interrupted too and writes a new resume file.
    let (out, rf) = (tmp.file("twice.jsonl"), tmp.file("twice.resume"));
    let r = start(&tb, &scan_args(&out, &rf));
    std::thread::sleep(Duration::from_millis(1500));
    sigint(&r);
    assert_eq!(finish(r).0, Some(130));
    // Resumed without --rate or --wait: the scan keeps its own, and says so in its file.
    let r = start(&tb, &["scan", "--resume", &rf, "--no-progress"]);
    std::thread::sleep(Duration::from_millis(1500));
    sigint(&r);
    let (code, _, err) = finish(r);
    assert_eq!(code, Some(130), "second run: {err}");
    let kept = synprobe::resume::decode(&std::fs::read(&rf).expect("resume file"))
        .expect("a valid resume file");
    assert_eq!(
        (kept.scan.rate.as_str(), kept.scan.wait.as_str()),
        ("50000", "1s"),
        "rate and wait kept across a resume"
    );
    resume_to_end(&tb, &rf);
    assert_eq!(pairs_of(&out), reference, "twice interrupted");

    // A second SIGINT right after the first ends the run at once, by the signal: the
    // output is still whole lines, and the last checkpoint resumes to the same set.
    let (out, rf) = (tmp.file("double.jsonl"), tmp.file("double.resume"));
    let r = start(&tb, &scan_args(&out, &rf));
    std::thread::sleep(Duration::from_millis(2500));
    sigint(&r);
    std::thread::sleep(Duration::from_millis(30));
    sigint(&r);
    let (code, sig, err) = finish(r);
    assert_eq!((code, sig), (None, Some(2)), "ended by SIGINT: {err}");
    let _ = pairs_of(&out); // every line parses
    assert!(std::path::Path::new(&rf).exists(), "a checkpoint was left");
    resume_to_end(&tb, &rf);
    assert_eq!(pairs_of(&out), reference, "after a second signal");

    // A resume file of another scan: refused, exit 2, nothing sent or written.
    let (out, rf) = (tmp.file("other.jsonl"), tmp.file("other.resume"));
    let r = start(&tb, &scan_args(&out, &rf));
    std::thread::sleep(Duration::from_millis(1000));
    sigint(&r);
    assert_eq!(finish(r).0, Some(130));
    let before = std::fs::read(&out).expect("output");
    for wrong in [
        vec!["scan", NET, "-p", "80,81", "--resume", &rf],
        vec!["scan", "198.18.0.0/17", "-p", PORTS, "--resume", &rf],
        vec!["scan", "--resume", &rf, "--shard", "1/2", "--seed", SEED],
    ] {
        let o = tb.synprobe_within(&wrong, LIMIT);
        assert_eq!(o.status.code(), Some(2), "{wrong:?}: {}", describe(&o));
        assert!(
            stderr_of(&o).contains("cannot resume"),
            "{wrong:?}: {}",
            stderr_of(&o)
        );
    }
    // Another version's file (the version string is inside the checksummed body, so a
    // changed format number is what an older or newer synprobe would leave).
    let mut bytes = std::fs::read(&rf).expect("resume file");
    bytes[16] = 99;
    std::fs::write(&rf, &bytes).expect("write");
    let o = tb.synprobe_within(&["scan", "--resume", &rf], LIMIT);
    assert_eq!(o.status.code(), Some(2), "{}", describe(&o));
    assert!(stderr_of(&o).contains("format 99"), "{}", stderr_of(&o));
    assert_eq!(std::fs::read(&out).expect("output"), before, "untouched");
}
