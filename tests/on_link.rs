//! Targets on the prober's own link have each their own MAC. `check` resolves every target
//! and reports one that answers no ARP as a verdict; `scan` refuses to sweep such a range
//! through a single next hop instead of silently mailing every SYN to one host.
mod common;

use common::*;

#[test]
fn check_resolves_each_on_link_target_and_reports_a_silent_one() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    // 198.19.0.2 is the target's own veth address; nobody holds 198.19.0.77.
    let out = tb.synprobe(&[
        "check",
        "198.19.0.2:80",
        "198.19.0.77:80",
        "198.18.0.1:80",
        "--timeout",
        "1s",
    ]);
    assert_eq!(code(out.status), Some(1), "{}", describe(&out));
    let lines: Vec<String> = stdout_of(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{}", describe(&out));
    assert!(
        lines[0].starts_with("198.19.0.2:80 healthy: SYN-ACK"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        lines[1],
        "198.19.0.77:80 unhealthy: no ARP reply from 198.19.0.77, the host is down or not on this link"
    );
    assert!(
        lines[2].starts_with("198.18.0.1:80 healthy: SYN-ACK"),
        "{}",
        describe(&out)
    );

    let out = tb.synprobe(&["check", "198.19.0.77:80", "--json", "--timeout", "1s"]);
    assert_eq!(code(out.status), Some(1), "{}", describe(&out));
    let v: serde_json::Value =
        serde_json::from_str(stdout_of(&out).trim()).expect("one JSON object");
    assert_eq!(v["healthy"], false);
    assert_eq!(v["reason"], "no-neighbour");
}

#[test]
fn scan_refuses_an_on_link_sweep_but_probes_one_on_link_host() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let out = tb.synprobe(&["scan", "198.19.0.0/28", "-p", "80", "--no-progress"]);
    assert_eq!(code(out.status), Some(2), "{}", describe(&out));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("local link") && err.contains("--gateway-mac"),
        "{err}"
    );
    assert!(stdout_of(&out).is_empty());

    let out = tb.synprobe(&[
        "scan",
        "198.19.0.2",
        "-p",
        "80",
        "--format",
        "jsonl",
        "--no-progress",
    ]);
    assert_eq!(code(out.status), Some(0), "{}", describe(&out));
    let rows = parse_jsonl(&stdout_of(&out));
    assert_eq!(rows.len(), 1, "{}", describe(&out));
    assert_eq!(
        (rows[0].state.as_str(), rows[0].reason.as_str()),
        ("open", "syn-ack")
    );
}
