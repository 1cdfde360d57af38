//! IPv6 targets (2001:db8:1::/64 answers like the IPv4 /16). Expected to pass
//! once IPv6 probing lands.
mod common;

use common::*;

#[test]
fn scan_ipv6_open_and_closed() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    assert_eq!(tb.listening(80), (true, true), "listener on [::]:80 too");
    let out = tb.synprobe(&[
        "scan",
        "2001:db8:1::1",
        "-p",
        "80,81",
        "--states",
        "all",
        "--format",
        "jsonl",
        "--wait",
        "1s",
        "--no-progress",
    ]);
    let rows = rows_by_port(&out);
    let got: Vec<(&str, u16, &str, &str)> = rows
        .iter()
        .map(|(ip, port, state, reason)| (ip.as_str(), *port, state.as_str(), reason.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2001:db8:1::1", 80, "open", "syn-ack"),
            ("2001:db8:1::1", 81, "closed", "rst")
        ],
        "{}",
        describe(&out)
    );
}

#[test]
fn scan_ipv6_text_uses_brackets() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let out = tb.synprobe(&[
        "scan",
        "2001:db8:1::1",
        "-p",
        "80,81",
        "--wait",
        "1s",
        "--no-progress",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", describe(&out));
    assert!(
        lines[0].starts_with("[2001:db8:1::1]:80 open syn-ack"),
        "{}",
        lines[0]
    );
}

#[test]
fn check_ipv6_healthy_and_unhealthy() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let out = tb.synprobe(&[
        "check",
        "[2001:db8:1::1]:80",
        "[2001:db8:1::1]:81",
        "--timeout",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", describe(&out));
    assert!(
        lines[0].starts_with("[2001:db8:1::1]:80 healthy: SYN-ACK in "),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "[2001:db8:1::1]:81 unhealthy: RST, nothing is listening on port 81"
    );
}
