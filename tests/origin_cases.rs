//! The four conditions of docs/origin.md (and the firewall variants around
//! them) on one target, through `scan` and through `check`.
mod common;

use common::*;

const HOST: &str = "198.18.0.1";

/// Ground truth on 198.18.0.1: a listener on 80; 81 plainly closed; 83 opened in
/// the firewall with nothing listening (origin case 3); 84 dropped; 85-87 rejected.
fn origin_testbed() -> Testbed {
    let tb = Testbed::up();
    tb.listen(80);
    let rule = |port: &str, target: &[&str]| {
        let mut args = vec!["-A", "INPUT", "-p", "tcp", "--dport", port, "-j"];
        args.extend_from_slice(target);
        tb.iptables_tgt(&args);
    };
    rule("83", &["ACCEPT"]);
    rule("84", &["DROP"]);
    rule("85", &["REJECT", "--reject-with", "icmp-port-unreachable"]);
    rule("86", &["REJECT", "--reject-with", "icmp-host-unreachable"]);
    rule("87", &["REJECT", "--reject-with", "icmp-admin-prohibited"]);
    tb
}

const EXPECTED: [(u16, &str, &str); 7] = [
    (80, "open", "syn-ack"),
    (81, "closed", "rst"),
    (83, "closed", "rst"),
    (84, "filtered", "no-response"),
    (85, "filtered", "icmp-port-unreachable"),
    (86, "filtered", "icmp-host-unreachable"),
    (87, "filtered", "icmp-admin-prohibited"),
];

fn assert_origin_rows(rows: &[Row], out: &std::process::Output) {
    assert_eq!(
        rows.len(),
        EXPECTED.len(),
        "one row per port: {}",
        describe(out)
    );
    for (port, state, reason) in EXPECTED {
        let got: Vec<&Row> = rows.iter().filter(|r| r.port == port).collect();
        assert_eq!(got.len(), 1, "port {port} exactly once: {}", describe(out));
        let r = got[0];
        assert_eq!(r.ip, HOST);
        assert_eq!(
            (r.state.as_str(), r.reason.as_str()),
            (state, reason),
            "port {port}"
        );
        match reason {
            "no-response" => {
                assert_eq!(r.ttl, None, "port {port}: no reply, no ttl");
                assert_eq!(r.rtt_ms, None, "port {port}: no reply, no rtt");
            }
            "syn-ack" | "rst" => {
                // Linux answers with its default TTL over one hop that does not route.
                assert_eq!(r.ttl, Some(64), "port {port} ttl");
                assert!(r.rtt_ms.is_some_and(|v| v >= 0.0), "port {port} rtt");
            }
            _ => assert!(
                r.rtt_ms.is_some_and(|v| v >= 0.0),
                "port {port}: ICMP reply has an rtt"
            ),
        }
    }
}

const SCAN_ARGS: [&str; 12] = [
    "scan",
    HOST,
    "-p",
    "80,81,83,84,85,86,87",
    "--states",
    "all",
    "--wait",
    "1s",
    "--retries",
    "1",
    "--format",
    "jsonl",
];

#[test]
fn scan_jsonl_gives_each_port_its_state_and_reason() {
    if !require_root() {
        return;
    }
    let tb = origin_testbed();
    let out = tb.synprobe(&SCAN_ARGS);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = stdout_of(&out);
    for line in stdout.lines() {
        assert_key_order(line, &JSONL_KEYS);
    }
    assert_origin_rows(&parse_jsonl(&stdout), &out);
    let err = stderr_of(&out);
    assert!(
        summary_count(&err, "sent").is_some_and(|n| n >= 7),
        "summary sent: {err}"
    );
    assert_eq!(summary_count(&err, "open"), Some(1), "summary open: {err}");
    assert_eq!(
        summary_count(&err, "closed"),
        Some(2),
        "summary closed: {err}"
    );
    assert_eq!(
        summary_count(&err, "filtered"),
        Some(4),
        "summary filtered: {err}"
    );
}

#[test]
fn scan_csv_gives_the_same_rows() {
    if !require_root() {
        return;
    }
    let tb = origin_testbed();
    let mut args = SCAN_ARGS.to_vec();
    *args.last_mut().unwrap() = "csv";
    let out = tb.synprobe(&args);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_origin_rows(&parse_csv(&stdout_of(&out)), &out);
}

#[test]
fn scan_text_default_shows_only_open() {
    if !require_root() {
        return;
    }
    let tb = origin_testbed();
    let out = tb.synprobe(&["scan", HOST, "-p", "80,81,83,84,85", "--wait", "1s"]);
    let lines = result_lines(&out, 0, 1);
    assert!(
        lines[0].starts_with("198.18.0.1:80 open syn-ack ttl=64 rtt="),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("ms"), "{}", lines[0]);
}

#[test]
fn check_listener_is_healthy() {
    if !require_root() {
        return;
    }
    let tb = origin_testbed();
    let out = tb.synprobe(&["check", "198.18.0.1:80", "--timeout", "1s"]);
    let lines = result_lines(&out, 0, 1);
    assert!(
        lines[0].starts_with("198.18.0.1:80 healthy: SYN-ACK in "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(" ms, something is listening"),
        "{}",
        lines[0]
    );
}

const CHECK_TARGETS: [&str; 7] = [
    "198.18.0.1:80",
    "198.18.0.1:81",
    "198.18.0.1:83",
    "198.18.0.1:84",
    "198.18.0.1:85",
    "198.18.0.1:86",
    "198.18.0.1:87",
];

#[test]
fn check_text_lines_in_order_and_exit_1() {
    if !require_root() {
        return;
    }
    let tb = origin_testbed();
    let mut args = vec!["check"];
    args.extend(CHECK_TARGETS);
    args.extend(["--timeout", "1s"]);
    let out = tb.synprobe(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "any unhealthy -> 1: {}",
        describe(&out)
    );
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 7, "one line per target: {}", describe(&out));
    assert!(
        lines[0].starts_with("198.18.0.1:80 healthy: SYN-ACK in "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(" ms, something is listening"),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "198.18.0.1:81 unhealthy: RST, nothing is listening on port 81"
    );
    assert_eq!(
        lines[2],
        "198.18.0.1:83 unhealthy: RST, nothing is listening on port 83"
    );
    assert_eq!(
        lines[3],
        "198.18.0.1:84 unhealthy: no reply to 2 SYNs, 1s each, a filter drops the SYN"
    );
    assert_eq!(
        lines[4],
        "198.18.0.1:85 unhealthy: ICMP port unreachable, a firewall rejects it"
    );
    assert!(
        lines[5].starts_with("198.18.0.1:86 unhealthy: ICMP host unreachable"),
        "{}",
        lines[5]
    );
    assert!(
        lines[6].starts_with("198.18.0.1:87 unhealthy: ICMP "),
        "{}",
        lines[6]
    );
    assert!(lines[6].contains("prohibited"), "{}", lines[6]);
}

#[test]
fn check_json_objects_in_order() {
    if !require_root() {
        return;
    }
    let tb = origin_testbed();
    let mut args = vec!["check"];
    args.extend(CHECK_TARGETS);
    args.extend(["--timeout", "1s", "--json"]);
    let out = tb.synprobe(&args);
    let lines = result_lines(&out, 1, 7);
    let keys = [
        "target", "ip", "port", "healthy", "state", "reason", "rtt_ms", "detail",
    ];
    for (i, line) in lines.iter().enumerate() {
        assert_key_order(line, &keys);
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let (port, state, reason) = EXPECTED[i];
        assert_eq!(v["target"], CHECK_TARGETS[i]);
        assert_eq!(v["ip"], HOST);
        assert_eq!(v["port"], port);
        assert_eq!(v["healthy"], port == 80, "{line}");
        assert_eq!(v["state"], state, "{line}");
        assert_eq!(v["reason"], reason, "{line}");
        if reason == "no-response" {
            assert!(v["rtt_ms"].is_null(), "{line}");
        } else {
            assert!(v["rtt_ms"].as_f64().is_some_and(|r| r >= 0.0), "{line}");
        }
    }
    let detail = |i: usize| {
        lines[i]
            .split("\"detail\":")
            .nth(1)
            .unwrap_or("")
            .to_string()
    };
    let d0: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let d0 = d0["detail"].as_str().unwrap_or_default().to_string();
    assert!(
        d0.starts_with("SYN-ACK in ") && d0.ends_with(" ms, something is listening"),
        "{d0}"
    );
    assert!(detail(1).contains("RST, nothing is listening on port 81"));
    assert!(detail(3).contains("no reply to 2 SYNs, 1s each, a filter drops the SYN"));
    assert!(detail(4).contains("ICMP port unreachable, a firewall rejects it"));
}

/// Origin cases 4 then 2: a bare listener passes only while it runs.
#[test]
fn stopped_listener_turns_closed_and_unhealthy() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let out = tb.synprobe(&["check", "198.18.0.1:80", "--timeout", "1s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "while listening: {}",
        describe(&out)
    );
    tb.stop_listener(80);
    let out = tb.synprobe(&["check", "198.18.0.1:80", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1), "after stop: {}", describe(&out));
    assert_eq!(
        stdout_of(&out).trim_end(),
        "198.18.0.1:80 unhealthy: RST, nothing is listening on port 80"
    );
    let out = tb.synprobe(&[
        "scan", HOST, "-p", "80", "--states", "all", "--format", "jsonl", "--wait", "1s",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let rows = parse_jsonl(&stdout_of(&out));
    assert_eq!(rows.len(), 1, "{}", describe(&out));
    assert_eq!(
        (rows[0].state.as_str(), rows[0].reason.as_str()),
        ("closed", "rst")
    );
}
