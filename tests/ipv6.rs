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
    let (out, got) = tb.scan_every_state("2001:db8:1::1", "80,81");
    assert_eq!(
        got,
        vec![
            "2001:db8:1::1 80 open syn-ack".to_string(),
            "2001:db8:1::1 81 closed rst".to_string()
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
    let lines = result_lines(&out, 0, 1);
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
    let lines = result_lines(&out, 1, 2);
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
