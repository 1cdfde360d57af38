//! Targets on the prober's own link have each their own MAC, learnt by ARP / NDP during the
//! run. One that answers no request is reported `no-neighbour` (never probed blindly), by
//! `scan` as a filtered row and by `check` as a verdict; the others are probed as usual.
//! In the testbed, 198.19.0.1 / 2001:db8:ff::1 is the prober itself and .2 / ::2 the target.
mod common;

use std::net::IpAddr;

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
        "[2001:db8:ff::77]:80",
        "--timeout",
        "1s",
    ]);
    let lines = result_lines(&out, 1, 4);
    assert!(
        lines[0].starts_with("198.19.0.2:80 healthy: SYN-ACK"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        lines[1],
        "198.19.0.77:80 unhealthy: no ARP reply: no host has this address"
    );
    assert!(
        lines[2].starts_with("198.18.0.1:80 healthy: SYN-ACK"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        lines[3],
        "[2001:db8:ff::77]:80 unhealthy: no NDP reply: no host has this address"
    );

    let out = tb.synprobe(&["check", "198.19.0.77:80", "--json", "--timeout", "1s"]);
    assert_eq!(code(out.status), Some(1), "{}", describe(&out));
    let v: serde_json::Value =
        serde_json::from_str(stdout_of(&out).trim()).expect("one JSON object");
    assert_eq!(v["healthy"], false);
    assert_eq!(v["state"], "filtered");
    assert_eq!(v["reason"], "no-neighbour");

    let out = tb.synprobe(&["check", "[2001:db8:ff::2]:80", "--timeout", "1s"]);
    let lines = result_lines(&out, 0, 1);
    assert!(
        lines[0].starts_with("[2001:db8:ff::2]:80 healthy: SYN-ACK"),
        "{}",
        describe(&out)
    );
}

/// Rows of an on-link sweep of port 80 as (ip, "state reason"), sorted.
fn sweep(tb: &Testbed, block: &str) -> Vec<(IpAddr, String)> {
    let (_, rows) = tb.scan_every_state(block, "80");
    let mut rows: Vec<(IpAddr, String)> = rows
        .into_iter()
        .map(|r| {
            // "ip port state reason"
            let w: Vec<&str> = r.split(' ').collect();
            assert_eq!(w[1], "80", "{r}");
            (w[0].parse().expect("ip"), format!("{} {}", w[2], w[3]))
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn scan_sweeps_the_own_link_each_host_by_its_own_mac() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    // Our own address answers through lo (nothing listens in the prober: closed); the
    // target's is open; the 14 others hold no host.
    for (block, v6) in [("198.19.0.0/28", false), ("2001:db8:ff::/124", true)] {
        let mut want: Vec<(IpAddr, String)> = (0..16u8)
            .map(|i| {
                let ip: IpAddr = if v6 {
                    format!("2001:db8:ff::{i:x}").parse().unwrap()
                } else {
                    format!("198.19.0.{i}").parse().unwrap()
                };
                let what = match i {
                    1 => "closed rst",
                    2 => "open syn-ack",
                    _ => "filtered no-neighbour",
                };
                (ip, what.to_string())
            })
            .collect();
        want.sort();
        assert_eq!(sweep(&tb, block), want, "{block}");
    }
}
