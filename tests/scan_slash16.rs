//! Whole-range scans against a target that answers for every address: every
//! (ip, port) pair exactly once, with the right state, at high and at max rate.
mod common;

use common::*;
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Asserts `rows` cover base/prefix x (open ++ closed) exactly once each, with
/// listeners answering SYN-ACK and the other ports RST, nothing filtered.
fn assert_complete(
    rows: &[Row],
    base: Ipv4Addr,
    prefix: u8,
    open: &[u16],
    closed: &[u16],
    out: &std::process::Output,
) {
    let hosts = 1u64 << (32 - prefix);
    let expected = hosts * (open.len() + closed.len()) as u64;
    let first = u32::from(base);
    let mut seen: HashSet<(u32, u16)> = HashSet::with_capacity(rows.len());
    let (mut n_open, mut n_closed, mut n_other) = (0u64, 0u64, 0u64);
    let mut wrong = Vec::new();
    for r in rows {
        let ip: Ipv4Addr = r.ip.parse().unwrap_or_else(|_| panic!("bad ip {:?}", r.ip));
        let ip = u32::from(ip);
        assert!(
            ip >= first && u64::from(ip - first) < hosts,
            "address outside the range: {}",
            r.ip
        );
        assert!(
            seen.insert((ip, r.port)),
            "duplicate pair {}:{}",
            r.ip,
            r.port
        );
        let want = if open.contains(&r.port) {
            ("open", "syn-ack")
        } else if closed.contains(&r.port) {
            ("closed", "rst")
        } else {
            panic!("port not scanned: {}", r.port)
        };
        match (r.state.as_str(), r.reason.as_str()) {
            ("open", "syn-ack") => n_open += 1,
            ("closed", "rst") => n_closed += 1,
            _ => n_other += 1,
        }
        if (r.state.as_str(), r.reason.as_str()) != want && wrong.len() < 10 {
            wrong.push(format!("{}:{} {} {}", r.ip, r.port, r.state, r.reason));
        }
    }
    let stderr = stderr_of(out);
    assert!(
        wrong.is_empty() && n_other == 0,
        "{n_other} wrong rows, e.g. {wrong:?}; open {n_open} closed {n_closed}\nstderr: {stderr}"
    );
    assert_eq!(
        n_open,
        hosts * open.len() as u64,
        "open count; stderr: {stderr}"
    );
    assert_eq!(
        n_closed,
        hosts * closed.len() as u64,
        "closed count; stderr: {stderr}"
    );
    assert_eq!(
        seen.len() as u64,
        expected,
        "all pairs present; stderr: {stderr}"
    );
}

/// Listeners on 80 and 443, then a scan of `base/prefix` x 80,81,443,444 at `rate`
/// reporting every state in `format`: exit 0 and every pair exactly once with its state.
/// Returns the run for further checks.
fn sweep_every_state(
    base: Ipv4Addr,
    prefix: u8,
    rate: &str,
    format: &str,
    limit: Duration,
) -> std::process::Output {
    let _heavy = heavy_lock();
    let tb = Testbed::up();
    tb.listen(80);
    tb.listen(443);
    let net = format!("{base}/{prefix}");
    let out = tb.synprobe_within(
        &[
            "scan",
            &net,
            "-p",
            "80,81,443,444",
            "--rate",
            rate,
            "--states",
            "all",
            "--format",
            format,
            "--wait",
            "2s",
            "--no-progress",
        ],
        limit,
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let rows = match format {
        "csv" => parse_csv(&stdout_of(&out)),
        _ => parse_jsonl(&stdout_of(&out)),
    };
    assert_complete(&rows, base, prefix, &[80, 443], &[81, 444], &out);
    out
}

#[test]
fn slash16_jsonl_at_100k_pps_every_pair_once() {
    if !require_root() {
        return;
    }
    let out = sweep_every_state(
        Ipv4Addr::new(198, 18, 0, 0),
        16,
        "100000",
        "jsonl",
        Duration::from_secs(180),
    );
    let err = stderr_of(&out);
    assert_eq!(
        summary_count(&err, "open"),
        Some(65536 * 2),
        "summary: {err}"
    );
    assert_eq!(
        summary_count(&err, "closed"),
        Some(65536 * 2),
        "summary: {err}"
    );
    assert_eq!(summary_count(&err, "filtered"), Some(0), "summary: {err}");
    assert!(
        summary_count(&err, "sent").is_some_and(|n| n >= 65536 * 4),
        "summary: {err}"
    );
}

#[test]
fn slash20_csv_every_pair_once() {
    if !require_root() {
        return;
    }
    sweep_every_state(
        Ipv4Addr::new(198, 18, 16, 0),
        20,
        "50000",
        "csv",
        Duration::from_secs(120),
    );
}

#[test]
fn slash18_at_max_rate_every_pair_once() {
    if !require_root() {
        return;
    }
    sweep_every_state(
        Ipv4Addr::new(198, 18, 64, 0),
        18,
        "max",
        "jsonl",
        Duration::from_secs(180),
    );
}
