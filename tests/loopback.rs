//! On a host with nothing but lo: check and scan against 127.0.0.1.
mod common;

use common::*;

const OPEN: u16 = 8080;
const CLOSED: u16 = 8081;

#[test]
fn check_loopback_listener_is_healthy() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up_loopback();
    tb.listen(OPEN);
    let target = format!("127.0.0.1:{OPEN}");
    let out = tb.synprobe(&["check", &target, "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = stdout_of(&out);
    let line = stdout.trim_end();
    assert!(
        line.starts_with(&format!("{target} healthy: SYN-ACK in ")),
        "{line}"
    );
    assert!(line.ends_with(" ms, something is listening"), "{line}");
}

#[test]
fn check_loopback_closed_port_is_unhealthy_rst() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up_loopback();
    tb.listen(OPEN);
    let out = tb.synprobe(&["check", &format!("127.0.0.1:{CLOSED}"), "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        stdout_of(&out).trim_end(),
        format!("127.0.0.1:{CLOSED} unhealthy: RST, nothing is listening on port {CLOSED}")
    );
}

#[test]
fn scan_loopback_open_and_closed() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up_loopback();
    tb.listen(OPEN);
    let ports = format!("{OPEN},{CLOSED}");
    let (out, got) = tb.scan_every_state("127.0.0.1", &ports);
    assert_eq!(
        got,
        vec![
            format!("127.0.0.1 {OPEN} open syn-ack"),
            format!("127.0.0.1 {CLOSED} closed rst")
        ],
        "{}",
        describe(&out)
    );
}
