//! Root-only: real AF_PACKET traffic, always inside a fresh network namespace (`unshare -n`)
//! that the kernel destroys when the child exits. Without root the tests are reported
//! skipped (tests/common `skip`), and fail in CI.
mod common;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use synprobe::cookie::SourcePorts;
use synprobe::io::{
    FrameBatch, Link, Receiver, RxFilter, SendMode, Sender, neighbour_mac, route_targets,
};
use synprobe::path::{Exit, Hop, Overrides};
use synprobe::target::TargetSet;

const CHILD: &str = "SYNPROBE_IO_TEST_IN_NETNS";

/// Run `name` again in a child under `unshare -n`; true when we are that child.
fn in_fresh_netns(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        // Refuse to touch anything unless this really is an empty namespace.
        let names: Vec<String> = pnet::datalink::interfaces()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(
            names,
            vec!["lo".to_string()],
            "not in a fresh network namespace"
        );
        sh(&["ip", "link", "set", "lo", "up"]);
        // Frames injected on lo carry no route: the kernel drops 127/8 destinations and
        // sources that are its own addresses as martians unless these are set (see
        // `synprobe::io::loopback_v4_hint`). Per-namespace settings: nothing else changes.
        std::fs::write("/proc/sys/net/ipv4/conf/lo/route_localnet", "1").unwrap();
        std::fs::write("/proc/sys/net/ipv4/conf/lo/accept_local", "1").unwrap();
        return true;
    }
    if !common::is_root() {
        return common::skip("needs root (network namespaces, AF_PACKET)");
    }
    let out = Command::new("unshare")
        .arg("-n")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("run unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child in netns failed:\n{text}");
    assert!(text.contains("1 passed"), "child ran nothing:\n{text}");
    false
}

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for c in chunks {
        for w in c.chunks(2) {
            sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet (zero MACs) + IPv4 + TCP SYN, checksums filled.
fn syn(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, seq: u32, out: &mut [u8]) -> usize {
    let f = &mut out[..54];
    f.fill(0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&[ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let pseudo = [&src.octets()[..], &dst.octets()[..], &[0, 6, 0, 20]].concat();
    let c = checksum(&[&pseudo, tcp]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    54
}

/// Ethernet (zero MACs) + IPv6 ::1 -> ::1 + TCP SYN.
fn syn6(sport: u16, dport: u16, seq: u32, out: &mut [u8]) -> usize {
    let f = &mut out[..74];
    f.fill(0);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14] = 0x60;
    f[18..20].copy_from_slice(&20u16.to_be_bytes());
    f[20] = 6;
    f[21] = 64;
    f[37] = 1; // src ::1
    f[53] = 1; // dst ::1
    let tcp = &mut f[54..74];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let one = std::net::Ipv6Addr::LOCALHOST.octets();
    let pseudo = [&one[..], &one[..], &[0, 0, 0, 20, 0, 0, 0, 6]].concat();
    let c = checksum(&[&pseudo, tcp]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    74
}

/// (sport, dport, flags, ack) of an IPv4 or IPv6 TCP frame.
fn tcp_of(f: &[u8]) -> Option<(u16, u16, u8, u32)> {
    let t = match f.get(12..14)? {
        [0x08, 0x00] if *f.get(23)? == 6 => f.get(14 + usize::from(f[14] & 0xf) * 4..)?,
        [0x86, 0xdd] if *f.get(20)? == 6 => f.get(54..)?,
        _ => return None,
    };
    let be16 = |i: usize| Some(u16::from_be_bytes(t.get(i..i + 2)?.try_into().ok()?));
    Some((
        be16(0)?,
        be16(2)?,
        *t.get(13)?,
        u32::from_be_bytes(t.get(8..12)?.try_into().ok()?),
    ))
}

fn syn_gets_syn_ack(use_ring: bool, sport: u16) {
    syn_gets_syn_ack_on(use_ring, sport, false, SendMode::Ring)
}

fn syn_gets_syn_ack_on(use_ring: bool, sport: u16, v6: bool, mode: SendMode) {
    let lo = Link::by_name("lo").unwrap();
    assert!(lo.loopback);
    let listener = TcpListener::bind(if v6 { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
    let port = listener.local_addr().unwrap().port();
    let me = Ipv4Addr::LOCALHOST;
    let filter = RxFilter {
        local_ips: vec![IpAddr::V4(me), IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)],
        ports: SourcePorts {
            first: 61001,
            last: 61100,
        },
        neighbours: false,
    };
    let mut rx = Receiver::open_with(&lo, &filter, use_ring).unwrap();
    assert_eq!(rx.uses_ring(), use_ring);
    let mut tx = Sender::open_with(&lo, mode).unwrap();
    assert_eq!(tx.mode(), mode);
    let mut batch = FrameBatch::with_capacity(4);
    if v6 {
        batch.push_with(|b| syn6(sport, port, 1000, b));
    } else {
        batch.push_with(|b| syn(me, me, sport, port, 1000, b));
    }
    assert_eq!(tx.send(&mut batch).unwrap(), 1);
    assert!(batch.is_empty());

    let (mut syn_ack, mut own_syn) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !syn_ack && Instant::now() < deadline {
        rx.poll(Duration::from_millis(50), &mut |f, _| match tcp_of(f) {
            Some((s, d, flags, ack)) if s == port && d == sport && flags == 0x12 && ack == 1001 => {
                syn_ack = true
            }
            Some((_, d, _, _)) if d == port => own_syn = true,
            _ => {}
        })
        .unwrap();
    }
    assert!(syn_ack, "no SYN-ACK delivered (ring: {use_ring}, v6: {v6})");
    assert!(!own_syn, "our own SYN was delivered");
    assert!(rx.stats().packets >= 1);
}

#[test]
fn loopback_syn_gets_syn_ack_through_ring_and_fallback() {
    if !in_fresh_netns("loopback_syn_gets_syn_ack_through_ring_and_fallback") {
        return;
    }
    let (link, e) = way_out("127.0.0.1");
    assert!(link.loopback);
    assert_eq!(e.hop, Hop::Mac([0; 6]));
    assert_eq!(synprobe::io::loopback_v4_hint(), None);
    syn_gets_syn_ack(true, 61001);
    syn_gets_syn_ack(false, 61002);
}

#[test]
fn loopback_v6_syn_gets_syn_ack() {
    if !in_fresh_netns("loopback_v6_syn_gets_syn_ack") {
        return;
    }
    let (link, e) = way_out("::1");
    assert!(link.loopback);
    assert_eq!(e.src_ip, "::1".parse::<IpAddr>().unwrap());
    syn_gets_syn_ack_on(true, 61003, true, SendMode::Ring);
    syn_gets_syn_ack_on(true, 61004, true, SendMode::Mmsg);
}

#[test]
fn loopback_syn_gets_syn_ack_through_sendmmsg() {
    if !in_fresh_netns("loopback_syn_gets_syn_ack_through_sendmmsg") {
        return;
    }
    syn_gets_syn_ack_on(true, 61005, false, SendMode::Mmsg);
}

/// More frames than the transmit ring has slots, in batches: every one must leave (each
/// closed-port SYN draws exactly one RST), so the ring wraps without losing or repeating.
#[test]
fn transmit_ring_wraps_without_loss() {
    if !in_fresh_netns("transmit_ring_wraps_without_loss") {
        return;
    }
    const N: u16 = 6000;
    const FIRST: u16 = 40000;
    let lo = Link::by_name("lo").unwrap();
    // A port nobody listens on: bind and drop a listener to find one.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let me = Ipv4Addr::LOCALHOST;
    let filter = RxFilter {
        local_ips: vec![IpAddr::V4(me)],
        ports: SourcePorts {
            first: FIRST,
            last: FIRST + N - 1,
        },
        neighbours: false,
    };
    let mut rx = Receiver::open(&lo, &filter).unwrap();
    let mut tx = Sender::open_with(&lo, SendMode::Ring).unwrap();
    assert_eq!(tx.mode(), SendMode::Ring);
    let mut seen = vec![false; N as usize];
    let rsts = std::cell::Cell::new(0usize);
    let mut on_frame = |f: &[u8], _| {
        if let Some((s, d, flags, ack)) = tcp_of(f)
            && s == port
            && flags & 0x04 != 0
            && let Some(i) = d.checked_sub(FIRST)
            && let Some(slot) = seen.get_mut(i as usize)
        {
            assert_eq!(ack, u32::from(d) + 1, "RST acks another SYN");
            assert!(!*slot, "SYN from port {d} sent twice");
            *slot = true;
            rsts.set(rsts.get() + 1);
        }
    };
    let mut batch = FrameBatch::with_capacity(64);
    let mut sport = FIRST;
    while sport < FIRST + N {
        while !batch.is_full() && sport < FIRST + N {
            batch.push_with(|b| syn(me, me, sport, port, u32::from(sport), b));
            sport += 1;
        }
        let n = batch.len();
        assert_eq!(tx.send(&mut batch).unwrap(), n);
        // Drain as we go so the receive ring never overflows.
        rx.poll(Duration::ZERO, &mut on_frame).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while rsts.get() < N as usize && Instant::now() < deadline {
        rx.poll(Duration::from_millis(50), &mut on_frame).unwrap();
    }
    assert_eq!(
        rsts.get(),
        N as usize,
        "RSTs for {} of {N} SYNs",
        rsts.get()
    );
}

/// A second, anonymous namespace held open by a `sleep`; killed (and so destroyed) on drop.
struct Peer(Child);

impl Peer {
    fn new() -> Peer {
        let child = Command::new("unshare")
            .args(["-n", "sleep", "60"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn peer namespace");
        std::thread::sleep(Duration::from_millis(200));
        Peer(child)
    }
    fn run(&self, args: &[&str]) -> String {
        let pid = self.0.id().to_string();
        let mut full = vec!["nsenter", "-t", &pid, "-n"];
        full.extend_from_slice(args);
        sh(&full)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn veth_neighbour_resolution_by_arp_and_ndp() {
    if !in_fresh_netns("veth_neighbour_resolution_by_arp_and_ndp") {
        return;
    }
    let peer = Peer::new();
    let pid = peer.0.id().to_string();
    sh(&[
        "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb",
    ]);
    sh(&["ip", "link", "set", "vb", "netns", &pid]);
    sh(&["ip", "addr", "add", "198.18.0.1/24", "dev", "va"]);
    sh(&["ip", "addr", "add", "2001:db8::1/64", "dev", "va", "nodad"]);
    sh(&["ip", "link", "set", "va", "up"]);
    peer.run(&["ip", "addr", "add", "198.18.0.2/24", "dev", "vb"]);
    peer.run(&["ip", "addr", "add", "2001:db8::2/64", "dev", "vb", "nodad"]);
    peer.run(&["ip", "link", "set", "vb", "up"]);
    let peer_mac = peer.run(&["ip", "-br", "link", "show", "vb"]);
    let peer_mac = peer_mac
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string();
    std::thread::sleep(Duration::from_millis(300));

    for (target, src) in [("198.18.0.2", "198.18.0.1"), ("2001:db8::2", "2001:db8::1")] {
        // Our own request, not the kernel's cache: flush it first.
        sh(&["ip", "neigh", "flush", "dev", "va"]);
        let (link, e) = way_out(target);
        assert_eq!(link.name, "va");
        assert_eq!(e.src_ip, src.parse::<IpAddr>().unwrap());
        assert_eq!(e.hop, Hop::OnLink, "{target} is on the link");
        let mac = neighbour_mac(&link, e.src_ip, target.parse().unwrap()).unwrap();
        let mac = mac.map(|b| format!("{b:02x}")).join(":");
        assert_eq!(mac, peer_mac.trim(), "MAC of {target}");
    }
    // An address nobody answers for.
    let (link, e) = way_out("198.18.0.77");
    let err = neighbour_mac(&link, e.src_ip, "198.18.0.77".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("198.18.0.77"), "{err}");
    // No route at all.
    let targets = TargetSet::parse(&["203.0.113.1".to_string()], &[]).unwrap();
    let a = route_targets(&targets, &Overrides::default()).unwrap();
    assert_eq!(a.table.exit_of(0), None);
    assert_eq!(a.no_route.len(), 1);
}

/// The interface and exit the kernel's routes give `target`.
fn way_out(target: &str) -> (Link, Exit) {
    let targets = TargetSet::parse(&[target.to_string()], &[]).unwrap();
    let a = route_targets(&targets, &Overrides::default()).unwrap();
    let e = *a.table.exit_of(0).expect("a route");
    (a.table.links()[e.link].clone(), e)
}
