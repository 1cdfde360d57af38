//! Bad input is refused before any packet: exit 2, one line on stderr naming
//! the bad value, nothing on stdout, and (as root, in a testbed) the target saw no TCP
//! packet at all; without root the refusals are checked on the binary alone. A run
//! refused later (no route) leaves an earlier output file as it was (root).
mod common;

use common::*;
use std::thread::sleep;
use std::time::Duration;

/// Runs `args` and checks the contract for bad input. As root it runs in the prober
/// namespace of a fresh testbed (so even a stray packet stays inside) and the target must
/// have seen nothing; without root the binary runs as it is: it cannot send a packet
/// (no CAP_NET_RAW), and bad input must be refused before privilege is asked for, so the
/// test needs no root. Every word of `needles` must appear in the error line
/// (case-insensitive).
fn refused(args: &[&str], needles: &[&str]) {
    if !is_root() {
        let out = run_bounded(
            std::process::Command::new(synprobe_bin()).args(args),
            Duration::from_secs(30),
        );
        assert_refused(args, needles, &out);
        return;
    }
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    tb.count_tcp_at_tgt();
    let out = tb.synprobe_within(args, Duration::from_secs(30));
    assert_refused(args, needles, &out);
    // Anything sent would have crossed the veth by now.
    sleep(Duration::from_millis(300));
    assert_eq!(
        tb.tgt_tcp_seen(),
        0,
        "{args:?}: a packet reached the target"
    );
}

/// Exit 2, nothing on stdout, one line on stderr that names every needle.
fn assert_refused(args: &[&str], needles: &[&str], out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(out));
    assert!(
        out.stdout.is_empty(),
        "{args:?}: stdout must be empty: {}",
        describe(out)
    );
    let err = stderr_of(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{args:?}: exactly one line on stderr, got:\n{err}"
    );
    let line = lines[0];
    assert!(line.starts_with("synprobe: "), "{args:?}: {line}");
    for needle in needles {
        assert!(
            line.to_lowercase().contains(&needle.to_lowercase()),
            "{args:?}: the error should name {needle:?}: {line}"
        );
    }
}

macro_rules! bad_input {
    ($($name:ident: [$($arg:expr),*] names [$($needle:expr),*];)*) => {
        $(
            #[test]
            fn $name() {
                refused(&[$($arg),*], &[$($needle),*]);
            }
        )*
    };
}

bad_input! {
    address_octet_over_255: ["scan", "198.18.0.300", "-p", "80"] names ["198.18.0.300"];
    prefix_over_32: ["scan", "198.18.0.0/33", "-p", "80"] names ["198.18.0.0/33"];
    octet_range_over_255: ["scan", "198.18.0-300.1", "-p", "80"] names ["198.18.0-300.1", "255"];
    port_zero: ["scan", "198.18.0.1", "-p", "0"] names ["port", "0"];
    port_over_65535: ["scan", "198.18.0.1", "-p", "70000"] names ["70000"];
    port_list_empty: ["scan", "198.18.0.1", "-p", ""] names ["port"];
    unknown_interface: ["scan", "198.18.0.1", "-p", "80", "--interface", "nosuchif0"] names ["nosuchif0"];
    missing_target_file: ["scan", "@/nonexistent/file", "-p", "80"] names ["/nonexistent/file"];
    rate_zero: ["scan", "198.18.0.1", "-p", "80", "--rate", "0"] names ["rate", "0"];
    rate_negative: ["scan", "198.18.0.1", "-p", "80", "--rate", "-5"] names ["-5"];
    unknown_format: ["scan", "198.18.0.1", "-p", "80", "--format", "xml"] names ["xml"];
    check_without_port: ["check", "198.18.0.1"] names ["198.18.0.1"];
    scan_without_target: ["scan", "-p", "80"] names ["not provided", "<TARGET>"];
    check_port_zero: ["check", "198.18.0.1:0"] names ["198.18.0.1:0"];
    whole_internet_without_exclude: ["scan", "0.0.0.0/0", "-p", "80"] names ["4294967296", "--exclude"];
    send_threads_over_cap: ["scan", "198.18.0.1", "-p", "80", "--send-threads", "100000"] names ["100000", "at most 64"];
    pairs_beyond_the_limit: ["scan", "2001:db8:1::/95", "-p", "-"] names ["2^48"];
    shard_without_seed: ["scan", "198.18.0.0/24", "-p", "80", "--shard", "1/2"] names ["--seed"];
    bad_source_port: ["scan", "198.18.0.1", "-p", "80", "--source-port", "70000"] names ["70000"];
    bad_gateway_mac: ["scan", "198.18.0.1", "-p", "80", "--gateway-mac", "02:00:zz"] names ["02:00:zz"];
    source_ip_of_no_target_family: ["scan", "2001:db8:1::1", "-p", "80", "--source-ip", "198.19.0.1"] names ["198.19.0.1", "IPv4"];
    check_source_ip_of_no_target_family: ["check", "198.18.0.1:80", "--source-ip", "2001:db8:ff::1"] names ["2001:db8:ff::1", "IPv6"];
}

/// A run that stops before sending (here: no route) leaves an earlier `-o` file as it was
/// and creates no new one; a run that starts replaces the file's content.
#[test]
fn a_refused_run_keeps_the_earlier_output_file() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let dir = std::env::temp_dir().join(format!("synprobe-out-{}", tb.name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let kept = dir.join("kept.jsonl");
    let fresh = dir.join("fresh.jsonl");
    std::fs::write(&kept, "earlier results\n").expect("write");
    let (kept_s, fresh_s) = (kept.to_str().unwrap(), fresh.to_str().unwrap());
    for path in [kept_s, fresh_s] {
        let out = tb.synprobe(&["scan", "10.0.0.1", "-p", "80", "-o", path]);
        assert_eq!(code(out.status), Some(1), "{}", describe(&out));
        assert!(stderr_of(&out).contains("no route"), "{}", describe(&out));
    }
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "earlier results\n");
    assert!(!fresh.exists(), "no new file from a refused run");
    // Port 81 answers RST: one closed row replaces the earlier content.
    let out = tb.synprobe(&[
        "scan",
        "198.18.0.1",
        "-p",
        "81",
        "--states",
        "all",
        "--format",
        "csv",
        "-o",
        kept_s,
    ]);
    assert_eq!(code(out.status), Some(0), "{}", describe(&out));
    let text = std::fs::read_to_string(&kept).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!text.contains("earlier"), "{text}");
    assert!(text.contains("198.18.0.1,81,closed"), "{text}");
}

// ---- Input edges that need no root: refused (or planned) before any socket is opened. ----
//
// Run in a network namespace of their own with nothing in it (`unshare -n` as root, `unshare
// -rn` in a user namespace otherwise), so even a refusal that regressed could send nothing
// anywhere, and a host name asked of the resolver finds no network.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// `unshare` and its flags for an empty network namespace; `None` when this machine allows
/// none to this user (then only runs that cannot send either way are made).
fn isolation() -> Option<Vec<&'static str>> {
    let root = nix::unistd::geteuid().is_root();
    let flags = if root { vec!["-n"] } else { vec!["-r", "-n"] };
    let ok = Command::new("unshare")
        .args(&flags)
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(flags)
}

/// Runs synprobe with `args` and `stdin`, isolated when possible. As root it must be
/// isolated (a root run could send); without root it cannot send at all.
fn run_isolated(args: &[&str], stdin: &str) -> Output {
    let mut cmd = match isolation() {
        Some(flags) => {
            let mut c = Command::new("unshare");
            c.args(flags).arg(synprobe_bin());
            c
        }
        None => {
            assert!(
                !nix::unistd::geteuid().is_root(),
                "root but no `unshare -n`: cannot isolate the run"
            );
            Command::new(synprobe_bin())
        }
    };
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn synprobe");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let out_t = drain(child.stdout.take().expect("piped stdout"));
    let err_t = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_bounded(&mut child, "synprobe", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("{args:?} did not finish within 30 s"));
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// The bad-input contract without root: exit 2, nothing on stdout, one line on stderr
/// naming every needle.
fn refused_unprivileged(args: &[&str], stdin: &str, needles: &[&str]) {
    let out = run_isolated(args, stdin);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
    assert!(out.stdout.is_empty(), "{args:?}: {}", describe(&out));
    let err = stderr_of(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line on stderr, got:\n{err}");
    assert!(lines[0].starts_with("synprobe: "), "{args:?}: {}", lines[0]);
    for needle in needles {
        assert!(
            lines[0].to_lowercase().contains(&needle.to_lowercase()),
            "{args:?}: the error should name {needle:?}: {}",
            lines[0]
        );
    }
}

macro_rules! refused_without_root {
    ($($name:ident: [$($arg:expr),*] $(stdin $stdin:tt)? names [$($needle:expr),*];)*) => {
        $(
            #[test]
            fn $name() {
                let stdin: &[&str] = &[$($stdin)?];
                refused_unprivileged(&[$($arg),*], stdin.concat().as_str(), &[$($needle),*]);
            }
        )*
    };
}

refused_without_root! {
    wait_negative: ["scan", "198.18.0.1", "-p", "80", "--wait", "-1s"] names ["--wait", "'-1s'", "negative"];
    wait_absurd: ["scan", "198.18.0.1", "-p", "80", "--wait", "99999h"] names ["--wait", "'99999h'", "a year"];
    max_runtime_negative: ["scan", "198.18.0.1", "-p", "80", "--max-runtime=-5m"] names ["--max-runtime", "'-5m'", "negative"];
    check_timeout_negative: ["check", "198.18.0.1:80", "--timeout", "-2s"] names ["--timeout", "'-2s'", "negative"];
    rate_negative_named: ["scan", "198.18.0.1", "-p", "80", "--rate", "-5"] names ["rate", "'-5'"];
    port_list_empty_items: ["scan", "198.18.0.1", "-p", ",,80,,"] names ["',,80,,'", "empty item"];
    port_list_trailing_comma: ["scan", "198.18.0.1", "-p", "80,"] names ["'80,'", "empty item"];
    retries_over_20: ["scan", "198.18.0.1", "-p", "80", "--retries", "4000000000"] names ["'4000000000'", "--retries", "0..=20"];
    retries_21: ["scan", "198.18.0.1", "-p", "80", "--retries", "21"] names ["'21'", "0..=20"];
    check_retries_over_20: ["check", "198.18.0.1:80", "--retries", "21"] names ["'21'", "--retries", "0..=20"];
    stdin_targets_bad_line: ["scan", "@-", "-p", "80"] stdin "198.18.0.1\n# fine\n198.18.0.999\n" names ["'198.18.0.999'", "standard input line 3"];
    check_v6_only_given_v4: ["check", "-6", "198.18.0.1:80"] names ["'198.18.0.1:80'", "-6", "IPv6 only"];
    check_both_families_flags: ["check", "-4", "-6", "198.18.0.1:80"] names ["-4", "-6"];
}

/// A garbage line in a target file is named by the file and its line number.
#[test]
fn target_file_garbage_named_by_file_and_line() {
    let dir = std::env::temp_dir().join(format!("synprobe-edges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("fleet.txt");
    std::fs::write(
        &file,
        "# fleet\n198.18.0.1\n198.18.0.2, 198.18.0.3\n198.18.0.300\n",
    )
    .expect("write");
    let path = file.to_str().unwrap();
    let at = format!("@{path}");
    let out = run_isolated(&["scan", &at, "-p", "80"], "");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("'198.18.0.300'") && err.contains(&format!("'{path}' line 4")),
        "{err}"
    );
}

/// A name that does not resolve is a runtime error (exit 1) naming the name, not bad input.
/// Needs an empty namespace, so that the resolver's question cannot leave the machine.
#[test]
fn an_unresolvable_name_is_a_runtime_error_naming_it() {
    if isolation().is_none() {
        eprintln!("skipped: no `unshare -n` for this user, and a DNS question must not leave");
        return;
    }
    for args in [
        &["scan", "db-9.nohost.invalid", "-p", "80"][..],
        &["check", "db-9.nohost.invalid:80"][..],
    ] {
        let out = run_isolated(args, "");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        let err = stderr_of(&out);
        assert!(
            err.starts_with("synprobe: cannot resolve host 'db-9.nohost.invalid'"),
            "{args:?}: {err}"
        );
    }
}

/// `--dry-run` needs no privilege and sends nothing: it prints the pairs, each group of
/// targets with its way out (here none: the namespace is empty) and the duration.
#[test]
fn dry_run_plans_without_sending() {
    let out = run_isolated(
        &[
            "scan",
            "@-",
            "-p",
            "80,443",
            "--dry-run",
            "--rate",
            "100",
            "--retries",
            "0",
            "--wait",
            "0",
        ],
        "198.18.0.0/24\n203.0.113.9\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout_of(&out);
    assert!(
        text.starts_with(
            "dry run: nothing is sent\npairs: 514 (257 addresses x 2 ports)\nroutes:\n"
        ),
        "{text}"
    );
    if isolation().is_some() {
        assert!(
            text.contains("  198.18.0.0-198.18.0.255 (256 addresses): not probed: "),
            "{text}"
        );
        assert!(
            text.contains("  203.0.113.9 (1 address): not probed: "),
            "{text}"
        );
    }
    assert!(
        text.ends_with("duration at 100 probes/s: about 5.1 s (every pair once, then the wait)\n"),
        "{text}"
    );
}

/// A scan that would take over an hour at the asked rate says so, with the estimate,
/// before anything else happens (here it then finds no route, or no privilege: exit 1).
#[test]
fn a_scan_over_an_hour_is_warned_about() {
    let out = run_isolated(
        &["scan", "198.18.0.0/16", "-p", "1-1000", "--rate", "1000"],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr_of(&out);
    assert!(
        err.starts_with("synprobe: warning: 65536000 pairs at 1000 probes/s take about 18 h 12 min, up to 1 day 12 h with 1 retry round if nothing answers;"),
        "{err}"
    );
    // A short one is not.
    let out = run_isolated(&["scan", "198.18.0.0/24", "-p", "80"], "");
    assert!(!stderr_of(&out).contains("warning"), "{}", describe(&out));
}
