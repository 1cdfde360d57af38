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
