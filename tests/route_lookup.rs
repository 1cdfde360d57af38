//! The kernel's route for each destination, asked over rtnetlink from inside the prober's
//! namespace, equals what `ip -j route get` (and `ip route get fibmatch`) says there: a
//! gateway route, an on-link /24, a policy table chosen by `ip rule`, a local address, no
//! route, IPv4 and IPv6; and the planner groups a target list by those answers. The
//! neighbour table dump returns the entries `ip neigh add` made, and a gateway's MAC comes
//! from that table, else from ARP / NDP on the wire.
mod common;

use std::net::IpAddr;

use common::*;
use nix::sched::{CloneFlags, setns};
use serde_json::Value;
use synprobe::io::{Link, NeighbourEntry, RouteSocket, neighbour_entries, neighbour_mac};
use synprobe::path::neigh_msg::NUD_PERMANENT;
use synprobe::path::{Boundaries, NextHop, NoRoute, RouteAnswer, plan};
use synprobe::target::{Family, IpRange};

/// Runs `f` on a thread that has entered namespace `ns` (a socket belongs to the namespace
/// of the thread that opens it; the test's own thread stays where it was).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
    .join()
    .expect("namespace thread")
}

fn ip_json(tb: &Testbed, args: &[&str]) -> Option<Value> {
    let mut full = vec!["ip", "-j"];
    full.extend_from_slice(args);
    let out = tb.in_scan(&full);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
    Some(v[0].clone())
}

fn setup(tb: &Testbed) -> String {
    let dev = format!("{}-s", tb.name);
    for cmd in [
        vec!["ip", "addr", "add", "198.20.0.1/24", "dev", &dev],
        vec!["ip", "rule", "add", "to", "198.22.0.0/16", "table", "100"],
        vec![
            "ip",
            "route",
            "add",
            "198.22.0.0/16",
            "via",
            "198.19.0.2",
            "table",
            "100",
        ],
        vec![
            "ip",
            "-6",
            "addr",
            "add",
            "2001:db8:20::1/64",
            "dev",
            &dev,
            "nodad",
        ],
        vec![
            "ip",
            "-6",
            "rule",
            "add",
            "to",
            "2001:db8:22::/48",
            "table",
            "100",
        ],
        vec![
            "ip",
            "-6",
            "route",
            "add",
            "2001:db8:22::/48",
            "via",
            "2001:db8:ff::2",
            "table",
            "100",
        ],
    ] {
        let out = tb.in_scan(&cmd);
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dev
}

#[test]
fn kernel_answers_match_ip_route_get() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let dev = setup(&tb);
    let ifindex = ip_json(&tb, &["link", "show", "dev", &dev]).unwrap()["ifindex"]
        .as_u64()
        .unwrap() as u32;
    let dests = [
        "198.18.3.4",     // via 198.19.0.2 (the testbed's route)
        "198.20.0.9",     // on-link /24
        "198.22.7.7",     // policy table 100
        "198.19.0.1",     // our own address: local, through lo
        "203.0.113.7",    // no route
        "2001:db8:1::5",  // via 2001:db8:ff::2
        "2001:db8:20::9", // on-link /64
        "2001:db8:22::7", // policy table 100
        "2001:db8:99::1", // no route
    ];
    let ips: Vec<IpAddr> = dests.iter().map(|d| d.parse().unwrap()).collect();
    let answers = in_netns(&tb.scan_ns, move || {
        let mut s = RouteSocket::open().expect("netlink socket");
        ips.iter()
            .map(|&a| s.lookup(a).expect("lookup"))
            .collect::<Vec<_>>()
    });
    for (d, answer) in dests.iter().zip(&answers) {
        let Some(want) = ip_json(&tb, &["route", "get", d]) else {
            assert_eq!(
                *answer,
                RouteAnswer::NoRoute(NoRoute::NetUnreachable),
                "{d}"
            );
            continue;
        };
        let fib = ip_json(&tb, &["route", "get", "fibmatch", d]).unwrap();
        let RouteAnswer::Route(r) = answer else {
            panic!("{d}: {answer:?}, ip says {want}")
        };
        let gw = want["gateway"]
            .as_str()
            .map(|g| NextHop::Gateway(g.parse().unwrap()));
        assert_eq!(r.next_hop, gw.unwrap_or(NextHop::OnLink), "{d}");
        assert_eq!(
            r.source.map(|s| s.to_string()).as_deref(),
            want["prefsrc"].as_str(),
            "{d}"
        );
        let want_dev = want["dev"].as_str().unwrap();
        assert_eq!(
            r.oif,
            if want_dev == "lo" { 1 } else { ifindex },
            "{d}: {want_dev}"
        );
        // fibmatch prints the prefix without /len for a host route.
        let p = r.prefix.expect("matched prefix");
        let fib_dst = fib["dst"].as_str().unwrap();
        let shown = if p.prefix_len() == p.family().bits() {
            p.addr().to_string()
        } else {
            p.to_string()
        };
        assert_eq!(shown, fib_dst, "{d}");
        let table = match fib["table"].as_str() {
            None => 254,
            Some("local") => 255,
            Some(t) => t.parse().unwrap(),
        };
        assert_eq!(r.table, table, "{d}");
    }

    // The planner over the kernel: the testbed's /16 and the on-link /24 and the policy
    // /16 each on their own path, 203.0.113.0/24 unroutable.
    let plan = in_netns(&tb.scan_ns, || {
        let mut s = RouteSocket::open().expect("netlink socket");
        let mut prefixes = s.boundary_prefixes(Family::V4).expect("dump");
        prefixes.extend(s.boundary_prefixes(Family::V6).expect("dump"));
        let bounds = Boundaries::new(prefixes);
        let cidr = |a: &str, l| IpRange::cidr(a.parse().unwrap(), l).unwrap();
        let ranges = [
            cidr("198.18.0.0", 16),
            cidr("198.20.0.0", 24),
            cidr("198.22.0.0", 16),
            cidr("203.0.113.0", 24),
            cidr("2001:db8:1::", 64),
        ];
        plan(&ranges, &bounds, |a| s.lookup(a)).expect("plan")
    });
    let summary: Vec<(u32, NextHop, Vec<String>)> = plan
        .paths
        .iter()
        .map(|pb| {
            let blocks = pb
                .blocks
                .iter()
                .map(|b| format!("{}-{}", b.range.first(), b.range.last()));
            (pb.key.oif, pb.key.next_hop, blocks.collect())
        })
        .collect();
    let gw = |s: &str| NextHop::Gateway(s.parse().unwrap());
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        summary,
        vec![
            // Our own address, through lo.
            (1, NextHop::OnLink, strs(&["198.20.0.1-198.20.0.1"])),
            // The main table's /16 and table 100's /16 share one gateway.
            (
                ifindex,
                gw("198.19.0.2"),
                strs(&["198.18.0.0-198.18.255.255", "198.22.0.0-198.22.255.255"])
            ),
            // On-link: the /24 around our address, its broadcast address its own block.
            (
                ifindex,
                NextHop::OnLink,
                strs(&[
                    "198.20.0.0-198.20.0.0",
                    "198.20.0.2-198.20.0.254",
                    "198.20.0.255-198.20.0.255"
                ])
            ),
            (
                ifindex,
                gw("2001:db8:ff::2"),
                strs(&["2001:db8:1::-2001:db8:1:0:ffff:ffff:ffff:ffff"])
            ),
        ]
    );
    // One lookup per region: the two /16s, the /24, our address, the broadcast address,
    // the unroutable gap, the /64.
    assert_eq!(plan.lookups, 7);
    assert_eq!(plan.unroutable.len(), 1, "{:?}", plan.unroutable);
    assert_eq!(
        plan.unroutable[0].range,
        IpRange::cidr("203.0.113.0".parse().unwrap(), 24).unwrap()
    );
}

fn mac_text(m: [u8; 6]) -> String {
    m.map(|b| format!("{b:02x}")).join(":")
}

/// The testbed's gateways 198.19.0.2 and 2001:db8:ff::2 (permanent entries made by
/// scripts/testbed.sh, the target side's MAC) as `neighbour_mac` finds them, in the
/// prober's namespace.
fn gateway_macs(tb: &Testbed, dev: &str) -> Vec<String> {
    let dev = dev.to_string();
    in_netns(&tb.scan_ns, move || {
        let link = Link::by_name(&dev).expect("link");
        [
            ("198.19.0.1", "198.19.0.2"),
            ("2001:db8:ff::1", "2001:db8:ff::2"),
        ]
        .iter()
        .map(|(src, gw)| {
            let mac = neighbour_mac(&link, src.parse().unwrap(), gw.parse().unwrap());
            mac_text(mac.unwrap_or_else(|e| panic!("{gw}: {e}")))
        })
        .collect()
    })
}

#[test]
fn neighbour_table_dump_and_gateway_mac() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    let dev = format!("{}-s", tb.name);
    let ifindex = ip_json(&tb, &["link", "show", "dev", &dev]).unwrap()["ifindex"]
        .as_u64()
        .unwrap() as u32;
    let out = run_ok(std::process::Command::new("ip").args([
        "-n",
        &tb.tgt_ns,
        "-j",
        "link",
        "show",
        "dev",
        &format!("{}-t", tb.name),
    ]));
    let v: Value = serde_json::from_slice(&out.stdout).expect("ip -j output");
    let mac_t = v[0]["address"].as_str().unwrap().to_string();
    // From the table: the testbed's own permanent entries.
    assert_eq!(gateway_macs(&tb, &dev), [mac_t.as_str(); 2]);

    let scan = |args: &[&str]| {
        let out = tb.in_scan(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let add = |ip: &str, mac: &str| {
        scan(&[
            "ip",
            "neigh",
            "replace",
            ip,
            "lladdr",
            mac,
            "dev",
            &dev,
            "nud",
            "permanent",
        ])
    };
    add("198.19.0.50", "02:00:00:00:00:50");
    add("2001:db8:ff::50", "02:00:00:00:00:51");
    let (usable, on_dev) = in_netns(&tb.scan_ns, move || {
        let mut s = RouteSocket::open().expect("netlink socket");
        let mut on_dev = s.neighbours_on(Family::V4, ifindex).expect("dump");
        on_dev.extend(s.neighbours_on(Family::V6, ifindex).expect("dump"));
        (neighbour_entries().expect("dump"), on_dev)
    });
    let permanent = |v: &[NeighbourEntry]| {
        let mut p: Vec<(u32, String, String)> = v
            .iter()
            .filter(|e| e.state == NUD_PERMANENT)
            .map(|e| (e.ifindex, e.ip.to_string(), mac_text(e.mac.unwrap())))
            .collect();
        p.sort();
        p
    };
    let want = vec![
        (ifindex, "198.19.0.2".to_string(), mac_t.clone()),
        (
            ifindex,
            "198.19.0.50".to_string(),
            "02:00:00:00:00:50".into(),
        ),
        (ifindex, "2001:db8:ff::2".to_string(), mac_t.clone()),
        (
            ifindex,
            "2001:db8:ff::50".to_string(),
            "02:00:00:00:00:51".into(),
        ),
    ];
    assert_eq!(permanent(&usable), want);
    assert_eq!(permanent(&on_dev), want);
    assert!(usable.iter().all(|e| e.is_usable()), "{usable:?}");
    assert!(on_dev.iter().all(|e| e.ifindex == ifindex), "{on_dev:?}");

    // The table wins over the wire: a MAC only the table knows is the answer.
    add("198.19.0.2", "02:00:00:00:00:99");
    add("2001:db8:ff::2", "02:00:00:00:00:99");
    assert_eq!(gateway_macs(&tb, &dev), ["02:00:00:00:00:99"; 2]);
    // No entry: ARP / NDP on the wire, answered by the target namespace.
    scan(&["ip", "neigh", "del", "198.19.0.2", "dev", &dev]);
    scan(&["ip", "-6", "neigh", "del", "2001:db8:ff::2", "dev", &dev]);
    assert_eq!(gateway_macs(&tb, &dev), [mac_t.as_str(); 2]);
}
