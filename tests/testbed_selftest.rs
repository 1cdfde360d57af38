//! Proves the testbed's ground truth with the kernel's own TCP stack (no
//! synprobe involved): if these fail, the other integration tests mean nothing.
mod common;

use common::*;
use std::time::Duration;

fn refused(out: &std::process::Output) -> bool {
    stderr_of(out).contains("Connection refused")
}

#[test]
fn target_answers_for_the_whole_slash16_and_slash64() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    for addr in [
        "198.18.0.0",
        "198.18.0.1",
        "198.18.77.5",
        "198.18.255.255",
        "2001:db8:1::1",
        "2001:db8:1::ffff",
    ] {
        let out = tb.kernel_connect(addr, 80, 5);
        assert!(
            out.status.success(),
            "connect {addr}:80 should succeed: {}",
            describe(&out)
        );
        let out = tb.kernel_connect(addr, 81, 5);
        assert!(
            refused(&out),
            "connect {addr}:81 should be refused: {}",
            describe(&out)
        );
    }
}

#[test]
fn firewall_rules_give_the_origin_replies() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.iptables_tgt(&["-A", "INPUT", "-p", "tcp", "--dport", "83", "-j", "ACCEPT"]);
    tb.iptables_tgt(&["-A", "INPUT", "-p", "tcp", "--dport", "84", "-j", "DROP"]);
    for (port, with) in [
        (85, "icmp-port-unreachable"),
        (86, "icmp-host-unreachable"),
        (87, "icmp-admin-prohibited"),
    ] {
        tb.iptables_tgt(&[
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            &port.to_string(),
            "-j",
            "REJECT",
            "--reject-with",
            with,
        ]);
    }
    let out = tb.kernel_connect("198.18.0.1", 83, 5);
    assert!(
        refused(&out),
        "83 (ACCEPT, nothing listening) -> RST: {}",
        describe(&out)
    );
    let out = tb.kernel_connect("198.18.0.1", 84, 2);
    assert_eq!(
        out.status.code(),
        Some(124),
        "84 (DROP) -> silence: {}",
        describe(&out)
    );
    let out = tb.kernel_connect("198.18.0.1", 85, 5);
    assert!(
        refused(&out),
        "85 (port-unreachable) -> refused: {}",
        describe(&out)
    );
    for port in [86, 87] {
        let out = tb.kernel_connect("198.18.0.1", port, 5);
        assert!(
            stderr_of(&out).contains("No route to host"),
            "{port}: {}",
            describe(&out)
        );
    }
}

#[test]
fn prober_namespace_has_no_way_out() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let out = tb.in_scan(&["ip", "route", "show", "default"]);
    assert_eq!(stdout_of(&out).trim(), "", "no IPv4 default route");
    let out = tb.in_scan(&["ip", "-6", "route", "show", "default"]);
    assert_eq!(stdout_of(&out).trim(), "", "no IPv6 default route");
    for addr in ["10.0.0.1", "8.8.8.8", "2001:4860::1"] {
        let out = tb.kernel_connect(addr, 80, 5);
        assert!(
            stderr_of(&out).contains("Network is unreachable"),
            "{addr}: {}",
            describe(&out)
        );
    }
}

#[test]
fn sink_mode_swallows_frames() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up_mode("sink");
    tb.listen(80);
    tb.count_tcp_at_tgt();
    let out = tb.in_scan(&["ip", "neigh", "show", "198.19.0.3"]);
    assert!(
        stdout_of(&out).contains("02:00:00:00:00:01"),
        "{}",
        describe(&out)
    );
    let out = tb.kernel_connect("198.18.0.1", 80, 2);
    assert_eq!(
        out.status.code(),
        Some(124),
        "sink: no answer: {}",
        describe(&out)
    );
    assert_eq!(
        tb.tgt_tcp_seen(),
        0,
        "the target stack never sees a sunk frame"
    );
}

#[test]
fn counting_rule_counts_and_stopped_listener_refuses() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.count_tcp_at_tgt();
    assert_eq!(tb.tgt_tcp_seen(), 0);
    tb.listen(80);
    assert!(tb.kernel_connect("198.18.0.1", 80, 5).status.success());
    assert!(tb.tgt_tcp_seen() >= 2, "SYN and ACK counted");
    tb.stop_listener(80);
    let out = tb.kernel_connect("198.18.0.1", 80, 5);
    assert!(refused(&out), "stopped listener -> RST: {}", describe(&out));
}

#[test]
fn loopback_namespace_is_alone() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up_loopback();
    assert_eq!(tb.scan_ns, tb.tgt_ns);
    let out = tb.in_scan(&["ip", "-o", "link"]);
    let links = stdout_of(&out);
    assert_eq!(links.lines().count(), 1, "only lo: {links}");
    tb.listen(8080);
    assert!(tb.kernel_connect("127.0.0.1", 8080, 5).status.success());
    assert!(refused(&tb.kernel_connect("127.0.0.1", 8081, 5)));
}

#[test]
fn namespaces_go_away_on_drop_and_on_panic() {
    if !require_root() {
        return;
    }
    let names = std::thread::spawn(|| {
        let tb = Testbed::up();
        tb.listen(80);
        let names = (tb.scan_ns.clone(), tb.tgt_ns.clone());
        assert!(netns_exists(&names.0) && netns_exists(&names.1));
        names
    })
    .join()
    .expect("no panic");
    assert!(
        !netns_exists(&names.0) && !netns_exists(&names.1),
        "gone after Drop"
    );

    let (tx, rx) = std::sync::mpsc::channel();
    let joined = std::thread::spawn(move || {
        let tb = Testbed::up();
        tb.listen(80);
        tx.send((tb.scan_ns.clone(), tb.tgt_ns.clone())).unwrap();
        panic!("deliberate panic inside a test");
    })
    .join();
    assert!(joined.is_err());
    let (scan, tgt) = rx.recv().unwrap();
    assert!(
        !netns_exists(&scan) && !netns_exists(&tgt),
        "gone after a panic"
    );
}

#[test]
fn down_is_idempotent() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let name = tb.name.clone();
    drop(tb);
    for _ in 0..2 {
        let out = run_bounded(
            std::process::Command::new(testbed_script()).args(["down", &name]),
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "down prints nothing"
        );
    }
}

#[test]
fn setpriv_leaves_nobody_without_capabilities() {
    if !require_root() {
        return;
    }
    let copy = PublicCopy::of(synprobe_bin());
    let tb = Testbed::up();
    let bin = copy.bin.to_str().unwrap();
    let mut args: Vec<&str> = UNPRIVILEGED.to_vec();
    args.extend(["test", "-x", bin]);
    let out = tb.in_scan(&args);
    assert!(
        out.status.success(),
        "nobody can execute the copy: {}",
        describe(&out)
    );
    let mut args: Vec<&str> = UNPRIVILEGED.to_vec();
    args.extend([
        "grep",
        "-E",
        "^(Uid|CapEff|CapPrm|CapAmb):",
        "/proc/self/status",
    ]);
    let out = tb.in_scan(&args);
    let status = stdout_of(&out);
    assert!(status.contains("65534"), "{status}");
    for line in status.lines().filter(|l| l.starts_with("Cap")) {
        assert!(
            line.ends_with("0000000000000000"),
            "no capability left: {line}"
        );
    }
}

#[test]
fn summary_counts_are_read_from_the_last_summary() {
    let err = "progress: sent 10 open 1\nsent 262,144, open 131_072, closed 131072, filtered 0\n";
    assert_eq!(summary_count(err, "sent"), Some(262144));
    assert_eq!(summary_count(err, "open"), Some(131072));
    assert_eq!(summary_count(err, "closed"), Some(131072));
    assert_eq!(summary_count(err, "filtered"), Some(0));
    assert_eq!(summary_count("reopen 5", "open"), None);
    assert_eq!(summary_count("open 1, closed 2", "open"), Some(1));
}

#[test]
fn jsonl_and_csv_parsers_read_the_contract_examples() {
    let line =
        r#"{"ip":"198.18.0.7","port":80,"state":"open","reason":"syn-ack","ttl":64,"rtt_ms":0.41}"#;
    assert_key_order(line, &JSONL_KEYS);
    let rows = parse_jsonl(line);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].ip.as_str(), rows[0].port, rows[0].ttl),
        ("198.18.0.7", 80, Some(64))
    );
    let rows = parse_csv("ip,port,state,reason,ttl,rtt_ms\n198.18.0.7,84,filtered,no-response,,\n");
    assert_eq!(rows[0].state, "filtered");
    assert_eq!((rows[0].ttl, rows[0].rtt_ms), (None, None));
    let rows = parse_csv(
        "ip,port,state,reason,ttl,rtt_ms,host\n198.18.0.7,80,open,syn-ack,64,0.410,web-1\n",
    );
    assert_eq!((rows[0].port, rows[0].ttl), (80, Some(64)));
    let named = r#"{"ip":"198.18.0.7","port":80,"state":"open","reason":"syn-ack","ttl":64,"rtt_ms":0.41,"host":"web-1"}"#;
    assert_eq!(parse_jsonl(named)[0].port, 80);
    let bad =
        std::panic::catch_unwind(|| assert_key_order(r#"{"port":80,"ip":"x"}"#, &["ip", "port"]));
    assert!(bad.is_err(), "out-of-order keys are caught");
}

#[test]
fn discard_mode_has_one_dead_end_device_and_no_way_out() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up_mode("discard");
    assert_eq!(tb.scan_ns, tb.tgt_ns, "one namespace");
    let out = tb.in_scan(&["ip", "-o", "link"]);
    let links = stdout_of(&out);
    assert_eq!(links.lines().count(), 2, "lo and the ifb: {links}");
    assert!(links.contains(&format!("{}-s", tb.name)), "{links}");
    for family in ["-4", "-6"] {
        let out = tb.in_scan(&["ip", family, "route", "show", "default"]);
        assert_eq!(stdout_of(&out).trim(), "", "no {family} default route");
    }
    for addr in ["10.0.0.1", "2001:4860::1"] {
        let out = tb.kernel_connect(addr, 80, 5);
        assert!(
            stderr_of(&out).contains("Network is unreachable"),
            "{addr}: {}",
            describe(&out)
        );
    }
}
