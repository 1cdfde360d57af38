//! Issue 8: every target goes out through its own route, as the kernel would send it.
//! The `routes` testbed (scripts/testbed.sh) gives the prober two links: on A, 198.18.0.0/16
//! and 2001:db8:1::/64 behind a gateway; on B, prefixes behind a second gateway (main table
//! and a policy table chosen by `ip rule`), whole on-link blocks, and on-link blocks where
//! only 8 hosts exist. Ground truth: port 80 listens in both target namespaces, 81 does not.
//! The test prefixes stay inside 198.18.0.0/15 and 2001:db8::/32 (the house's ranges).
mod common;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::process::Output;

use common::*;

/// (address, port) -> (state, reason).
type Truth = BTreeMap<(IpAddr, u16), (String, String)>;

/// The 256 addresses of the v4 /24 `a.b.c` (given as "a.b.c").
fn v4_block(net: &str) -> Vec<IpAddr> {
    (0..=255)
        .map(|i| format!("{net}.{i}").parse().expect("v4 address"))
        .collect()
}

/// The 256 addresses of the v6 /120 `PREFIX::/120` (given as "PREFIX::").
fn v6_block(net: &str) -> Vec<IpAddr> {
    (0..=255)
        .map(|i| format!("{net}{i:x}").parse().expect("v6 address"))
        .collect()
}

/// Ports 80 (open) and 81 (closed) of each address: what a present host answers.
fn present(truth: &mut Truth, ips: &[IpAddr]) {
    for &ip in ips {
        truth.insert((ip, 80), ("open".into(), "syn-ack".into()));
        truth.insert((ip, 81), ("closed".into(), "rst".into()));
    }
}

fn absent(truth: &mut Truth, ips: &[IpAddr], reason: &str) {
    for &ip in ips {
        for port in [80, 81] {
            truth.insert((ip, port), ("filtered".into(), reason.into()));
        }
    }
}

/// `scan TARGETS -p 80,81 --states all --format jsonl` in the prober namespace.
fn scan_all(tb: &Testbed, targets: &[&str]) -> Output {
    let mut args = vec!["scan"];
    args.extend_from_slice(targets);
    args.extend_from_slice(&[
        "-p",
        "80,81",
        "--states",
        "all",
        "--format",
        "jsonl",
        "--no-progress",
    ]);
    tb.synprobe(&args)
}

/// Exit 0 and exactly one row per pair of `truth`, each with its state and reason.
fn assert_exact(out: &Output, truth: &Truth) {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    let mut got: Truth = BTreeMap::new();
    for r in parse_jsonl(&stdout_of(out)) {
        let ip: IpAddr = r.ip.parse().expect("ip in row");
        let again = got.insert((ip, r.port), (r.state, r.reason));
        assert!(again.is_none(), "two rows for {ip} port {}", r.port);
    }
    let wrong: Vec<String> = truth
        .iter()
        .filter(|(k, v)| got.get(k) != Some(v))
        .take(10)
        .map(|((ip, port), (s, why))| {
            format!(
                "{ip}:{port} want {s} {why}, got {:?}",
                got.get(&(*ip, *port))
            )
        })
        .collect();
    let extra: Vec<String> = got
        .keys()
        .filter(|k| !truth.contains_key(k))
        .take(10)
        .map(|(ip, port)| format!("{ip}:{port}"))
        .collect();
    assert!(
        wrong.is_empty() && extra.is_empty(),
        "{} rows for {} pairs; wrong (first 10): {wrong:#?}; not asked for: {extra:?}\nstderr:\n{}",
        got.len(),
        truth.len(),
        stderr_of(out)
    );
}

/// The `routes` testbed with port 80 listening in both target namespaces.
fn routes_testbed() -> Testbed {
    let tb = Testbed::up_mode("routes");
    tb.listen(80);
    tb.listen_in(&tb.tgt2_ns(), 80);
    tb
}

/// Counts, in namespace `ns`, the ARP packets asking for an address of each prefix
/// (one rule a prefix; the prefixes must not overlap). Read with `arp_asked`.
fn count_arp(tb: &Testbed, ns: &str, prefixes: &[&str]) {
    for p in prefixes {
        let out = tb.in_ns(ns, &["arptables", "-A", "INPUT", "-d", p, "-j", "ACCEPT"]);
        assert!(out.status.success(), "arptables: {}", describe(&out));
    }
}

fn arp_asked(tb: &Testbed, ns: &str, prefix: &str) -> u64 {
    let out = tb.in_ns(ns, &["arptables", "-L", "INPUT", "-v", "-n"]);
    assert!(out.status.success(), "arptables: {}", describe(&out));
    // `-j ACCEPT -i * -o * -d 198.19.128.0/17 , pcnt=0 -- bcnt=0`
    let text = stdout_of(&out);
    let line = text
        .lines()
        .find(|l| l.contains(&format!("-d {prefix} ")))
        .unwrap_or_else(|| panic!("no arptables rule for {prefix}:\n{text}"));
    line.split("pcnt=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}"))
}

/// Targets of every kind: (v4 block, v6 block) on each route.
const GATEWAY_A: (&str, &str) = ("198.18.3", "2001:db8:1::");
const GATEWAY_B: (&str, &str) = ("198.19.130", "2001:db8:21::");
const POLICY_B: (&str, &str) = ("198.19.200", "2001:db8:22::");
const ON_LINK_B: (&str, &str) = ("198.19.20", "2001:db8:20::");

#[test]
fn one_scan_over_two_links_and_every_kind_of_route_is_exact() {
    if !require_root_and(&["arptables"]) {
        return;
    }
    let tb = routes_testbed();
    // Behind a gateway no target is asked for by ARP: its frames go to the gateway's MAC.
    count_arp(&tb, &tb.tgt_ns, &["198.18.0.0/16"]);
    count_arp(&tb, &tb.tgt2_ns(), &["198.19.128.0/17", "198.19.20.0/24"]);

    let mut truth = Truth::new();
    let mut targets = Vec::new();
    for (v4, v6) in [GATEWAY_A, GATEWAY_B, POLICY_B, ON_LINK_B] {
        present(&mut truth, &v4_block(v4));
        present(&mut truth, &v6_block(v6));
        targets.push(format!("{v4}.0/24"));
        targets.push(format!("{v6}/120"));
    }
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let out = scan_all(&tb, &targets);
    assert_eq!(truth.len(), 8 * 256 * 2);
    assert_exact(&out, &truth);

    assert_eq!(arp_asked(&tb, &tb.tgt_ns, "198.18.0.0/16"), 0);
    assert_eq!(arp_asked(&tb, &tb.tgt2_ns(), "198.19.128.0/17"), 0);
    // Every on-link address was asked for (by synprobe; the kernel's own RSTs to the
    // SYN-ACKs may ask again, so at least once each).
    assert!(
        arp_asked(&tb, &tb.tgt2_ns(), "198.19.20.0/24") >= 256,
        "on-link targets not resolved one by one"
    );
}

#[test]
fn check_gives_every_kind_of_route_its_right_verdict() {
    if !require_root() {
        return;
    }
    let tb = routes_testbed();
    let mut targets = Vec::new();
    for (v4, v6) in [GATEWAY_A, GATEWAY_B, POLICY_B, ON_LINK_B] {
        targets.push(format!("{v4}.9"));
        targets.push(format!("[{v6}9]"));
    }
    // The on-link block where only some hosts exist: one that does.
    targets.push("198.19.21.10".into());
    targets.push("[2001:db8:23::10]".into());

    let with_port =
        |port: u16| -> Vec<String> { targets.iter().map(|t| format!("{t}:{port}")).collect() };
    let open = with_port(80);
    let mut args = vec!["check", "--timeout", "1s"];
    args.extend(open.iter().map(String::as_str));
    let out = tb.synprobe(&args);
    let lines = result_lines(&out, 0, open.len());
    for (line, t) in lines.iter().zip(&open) {
        assert!(
            line.starts_with(&format!("{t} healthy: SYN-ACK")),
            "{line}\n{}",
            describe(&out)
        );
    }

    let closed = with_port(81);
    let mut args = vec!["check", "--timeout", "1s"];
    args.extend(closed.iter().map(String::as_str));
    let out = tb.synprobe(&args);
    let lines = result_lines(&out, 1, closed.len());
    for (line, t) in lines.iter().zip(&closed) {
        assert_eq!(
            line,
            &format!("{t} unhealthy: RST, nothing is listening on port 81"),
            "{}",
            describe(&out)
        );
    }
}

#[test]
fn on_link_block_with_eight_hosts_present_the_rest_no_neighbour() {
    if !require_root() {
        return;
    }
    let tb = routes_testbed();
    // scripts/testbed.sh: 198.19.21.10-17 and 2001:db8:23::10-17 exist on link B; the
    // prober holds no address in either block, so all 256 of each are unicast targets.
    let mut truth = Truth::new();
    for ips in [v4_block("198.19.21"), v6_block("2001:db8:23::")] {
        let (here, gone): (Vec<IpAddr>, Vec<IpAddr>) = ips.iter().partition(|ip| {
            let (last, first_here) = match ip {
                IpAddr::V4(a) => (a.octets()[3], 10),
                IpAddr::V6(a) => (a.octets()[15], 0x10),
            };
            (first_here..first_here + 8).contains(&last)
        });
        assert_eq!((here.len(), gone.len()), (8, 248));
        present(&mut truth, &here);
        absent(&mut truth, &gone, "no-neighbour");
    }
    let out = scan_all(&tb, &["198.19.21.0/24", "2001:db8:23::/120"]);
    assert_exact(&out, &truth);

    let out = tb.synprobe(&[
        "check",
        "--timeout",
        "1s",
        "198.19.21.9:80",
        "[2001:db8:23::9]:80",
    ]);
    let lines = result_lines(&out, 1, 2);
    assert_eq!(
        lines,
        [
            "198.19.21.9:80 unhealthy: no ARP reply: no host has this address",
            "[2001:db8:23::9]:80 unhealthy: no NDP reply: no host has this address",
        ]
    );
}

#[test]
fn a_target_with_no_route_next_to_a_routed_one() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let out = scan_all(&tb, &["198.18.0.9", "203.0.113.7", "2001:db8:1::9"]);
    let mut truth = Truth::new();
    present(
        &mut truth,
        &[
            "198.18.0.9".parse().unwrap(),
            "2001:db8:1::9".parse().unwrap(),
        ],
    );
    absent(&mut truth, &["203.0.113.7".parse().unwrap()], "no-route");
    assert_exact(&out, &truth);
    let err = stderr_of(&out);
    let named = err
        .lines()
        .filter(|l| l.starts_with("synprobe: no route to"))
        .count();
    assert_eq!(named, 1, "{err}");
    assert!(
        err.contains("synprobe: no route to 1 target address, not probed: 203.0.113.7 (no route)"),
        "{err}"
    );

    // Without --states filtered the row is gone, the stderr line stays.
    let out = tb.synprobe(&[
        "scan",
        "198.18.0.9",
        "203.0.113.7",
        "-p",
        "80",
        "--format",
        "jsonl",
        "--no-progress",
    ]);
    let lines = result_lines(&out, 0, 1);
    assert!(lines[0].contains("\"198.18.0.9\""), "{}", describe(&out));
    assert!(
        stderr_of(&out).contains("not probed: 203.0.113.7 (no route)"),
        "{}",
        describe(&out)
    );

    // Nothing routable: nothing to do is an error.
    let out = tb.synprobe(&["scan", "203.0.113.0/29", "-p", "80", "--no-progress"]);
    assert_eq!(code(out.status), Some(1), "{}", describe(&out));
    assert!(stdout_of(&out).is_empty(), "{}", describe(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("no route to 8 target addresses, not probed: 203.0.113.0-203.0.113.7"),
        "{err}"
    );
    assert!(err.contains("no route to any target"), "{err}");

    let out = tb.synprobe(&["check", "203.0.113.7:80", "--timeout", "1s"]);
    let lines = result_lines(&out, 1, 1);
    assert_eq!(lines[0], "203.0.113.7:80 unhealthy: no route to host");
    let out = tb.synprobe(&["check", "[2001:db8:99::7]:80", "--timeout", "1s"]);
    let lines = result_lines(&out, 1, 1);
    assert_eq!(lines[0], "[2001:db8:99::7]:80 unhealthy: no route to host");
}

#[test]
fn interface_the_kernel_would_not_route_through_is_refused() {
    if !require_root() {
        return;
    }
    let tb = routes_testbed();
    let link_a = format!("{}-s", tb.name);
    let link_b = format!("{}-sb", tb.name);
    let runs = [
        vec!["scan", "198.18.0.9", "-p", "80", "-i", &link_b],
        vec![
            "scan",
            "198.19.130.9",
            "198.18.0.9",
            "-p",
            "80",
            "-i",
            &link_b,
        ],
        vec!["check", "198.18.0.9:80", "-i", &link_b],
        vec!["check", "[2001:db8:21::9]:80", "-i", &link_a],
    ];
    for args in runs {
        let out = tb.synprobe(&args);
        assert_eq!(code(out.status), Some(2), "{args:?}\n{}", describe(&out));
        assert!(stdout_of(&out).is_empty(), "{}", describe(&out));
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        let (target, wrong, right) = if args.contains(&"[2001:db8:21::9]:80") {
            ("2001:db8:21::9", &link_a, &link_b)
        } else {
            ("198.18.0.9", &link_b, &link_a)
        };
        assert!(
            err.contains(target) && err.contains(&format!("through {right}, not {wrong}")),
            "{args:?}: {err}"
        );
    }

    // The interface the kernel would use anyway is fine.
    let out = tb.synprobe(&["check", "198.19.130.9:80", "-i", &link_b]);
    let lines = result_lines(&out, 0, 1);
    assert!(lines[0].starts_with("198.19.130.9:80 healthy"), "{lines:?}");
}
