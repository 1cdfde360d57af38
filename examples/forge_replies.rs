//! A blind forger for tests (issue 14): replies to a scan it cannot see, from spoofed
//! addresses inside the scanned range and from the scanned ports. Run it only inside a
//! namespace a test created, on the target's veth:
//!
//!   forge_replies IFACE SCANNER_MAC SCANNER_IPS TARGETS PORTS SYNS OTHERS SECONDS
//!
//! SCANNER_IPS: the scanner's addresses, one per family (198.19.0.1,2001:db8:ff::1).
//! TARGETS: the scanned CIDR blocks (198.18.0.0/23,2001:db8:1::/120); PORTS: the scanned
//! ports (22,82,84). Frames go to the scanner's MAC, at the default source-port range
//! 61001-65535, with valid checksums, interleaved:
//! - SYNS bare SYNs (random seq): each spoofed (address, port) pair in turn, in the order
//!   (address 0, port 0), (address 0, port 1), ..., sends one to every port of the range,
//!   so a scanner that takes a bare SYN passing the port check alone is sure to be fooled;
//! - OTHERS replies with random flags among SYN-ACK, RST, RST-ACK, ACK and SYN, random
//!   seq and ack, from a random pair to a random port of the range.
//!
//! A frame the kernel refuses (ENOBUFS from a veth whose peer's queue is full) is sent
//! again, so the counts printed are frames that reached the peer. It stops after SECONDS
//! even if not done, and prints one line of key=value counts.
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use pnet::datalink::{self, Channel, Config};
use synprobe::wire::{ControlFields, tcp};

const FIRST_PORT: u16 = 61001;
const LAST_PORT: u16 = 65535;

const SYN: u8 = tcp::FLAG_SYN;
const RST: u8 = tcp::FLAG_RST;
const ACK: u8 = tcp::FLAG_ACK;

/// xorshift64*: enough randomness for forged numbers; no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

struct Forge {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    scanner_v4: Option<IpAddr>,
    scanner_v6: Option<IpAddr>,
    /// Every scanned address, the blocks interleaved so both families come early.
    addrs: Vec<IpAddr>,
    ports: Vec<u16>,
}

impl Forge {
    /// The k-th spoofed (address, port) pair, ports varying fastest.
    fn pair(&self, k: u64) -> (IpAddr, u16) {
        let np = self.ports.len() as u64;
        let a = self.addrs[((k / np) % self.addrs.len() as u64) as usize];
        (a, self.ports[(k % np) as usize])
    }

    fn frame(&self, from: (IpAddr, u16), dport: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
        let dst = match from.0 {
            IpAddr::V4(_) => self.scanner_v4,
            IpAddr::V6(_) => self.scanner_v6,
        };
        let dst = dst.unwrap_or_else(|| panic!("no scanner address of the family of {}", from.0));
        ControlFields {
            src_mac: self.src_mac,
            dst_mac: self.dst_mac,
            src: from.0,
            dst,
            sport: from.1,
            dport,
            seq,
            ack,
            flags,
            ttl: 64,
            window: Some(65535),
        }
        .to_frame()
    }
}

fn parse_mac(s: &str) -> [u8; 6] {
    let b: Vec<u8> = s
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("MAC: hex bytes"))
        .collect();
    b.try_into().expect("MAC: six bytes")
}

/// Every address of the blocks, taken from each block in turn.
fn addresses(spec: &str) -> Vec<IpAddr> {
    let nets: Vec<Vec<IpAddr>> = spec
        .split(',')
        .map(|n| {
            let net: IpNet = n.parse().expect("TARGETS: CIDR blocks");
            // At most 2^20 addresses of a block: far more pairs than any run forges for.
            let hosts: Vec<IpAddr> = match net {
                IpNet::V4(v) => {
                    let first = u32::from(v.network());
                    (0..1u32 << (32 - v.prefix_len()).min(20))
                        .map(|i| IpAddr::from(std::net::Ipv4Addr::from(first + i)))
                        .collect()
                }
                IpNet::V6(v) => {
                    let first = u128::from(v.network());
                    (0..1u128 << (128 - v.prefix_len()).min(20))
                        .map(|i| IpAddr::from(std::net::Ipv6Addr::from(first + i)))
                        .collect()
                }
            };
            hosts
        })
        .collect();
    let longest = nets.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| nets.iter().filter_map(move |n| n.get(i).copied()))
        .collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 9 {
        eprintln!(
            "usage: forge_replies IFACE SCANNER_MAC SCANNER_IPS TARGETS PORTS SYNS OTHERS SECONDS"
        );
        std::process::exit(2);
    }
    let iface = datalink::interfaces()
        .into_iter()
        .find(|i| i.name == a[1])
        .unwrap_or_else(|| panic!("no interface {}", a[1]));
    let scanner_ips: Vec<IpAddr> = a[3]
        .split(',')
        .map(|s| s.parse().expect("SCANNER_IPS: addresses"))
        .collect();
    let forge = Forge {
        src_mac: iface.mac.expect("interface MAC").octets(),
        dst_mac: parse_mac(&a[2]),
        scanner_v4: scanner_ips.iter().copied().find(IpAddr::is_ipv4),
        scanner_v6: scanner_ips.iter().copied().find(IpAddr::is_ipv6),
        addrs: addresses(&a[4]),
        ports: a[5]
            .split(',')
            .map(|p| p.parse().expect("PORTS: numbers"))
            .collect(),
    };
    assert!(!forge.addrs.is_empty() && !forge.ports.is_empty());
    let syns: u64 = a[6].parse().expect("SYNS: a number");
    let others: u64 = a[7].parse().expect("OTHERS: a number");
    let end = Instant::now() + Duration::from_secs(a[8].parse().expect("SECONDS: a number"));

    let config = Config {
        promiscuous: false,
        ..Config::default()
    };
    let mut tx = match datalink::channel(&iface, config) {
        Ok(Channel::Ethernet(tx, _rx)) => tx,
        Ok(_) => panic!("unexpected channel type"),
        Err(e) => panic!("cannot open a packet channel on {}: {e}", a[1]),
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id()) << 32;
    let mut rng = Rng(seed | 1);

    let range = u64::from(LAST_PORT - FIRST_PORT) + 1;
    let total = syns + others;
    // Counts of frames the kernel took: cycled SYNs, then the random kinds.
    let (mut cycled, mut syn_ack, mut rst, mut rst_ack, mut ack, mut syn) = (0u64, 0, 0, 0, 0, 0);
    let mut refused = 0u64;
    let started = Instant::now();
    let mut i = 0u64;
    while i < total && Instant::now() < end {
        // Spread the cycled SYNs evenly among the others (a Bresenham step).
        let is_cycled = (i + 1) * syns / total > i * syns / total;
        let (f, kind) = if is_cycled {
            let pair = forge.pair(cycled / range);
            let dport = FIRST_PORT + (cycled % range) as u16;
            (forge.frame(pair, dport, rng.next() as u32, 0, SYN), 0)
        } else {
            let r = rng.next();
            let pair = forge.pair(r >> 40);
            let dport = FIRST_PORT + ((r >> 8) % range) as u16;
            let kind = 1 + (r % 5) as usize;
            let flags = [0, SYN | ACK, RST, RST | ACK, ACK, SYN][kind];
            let (seq, ackn) = (rng.next() as u32, rng.next() as u32);
            (forge.frame(pair, dport, seq, ackn, flags), kind)
        };
        // Resend a refused frame (bounded by the deadline) so every count is a delivery.
        let mut delivered = false;
        while !delivered && Instant::now() < end {
            match tx.send_to(&f, None) {
                Some(Ok(())) => delivered = true,
                _ => {
                    refused += 1;
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
        if !delivered {
            break;
        }
        match kind {
            0 => cycled += 1,
            1 => syn_ack += 1,
            2 => rst += 1,
            3 => rst_ack += 1,
            4 => ack += 1,
            _ => syn += 1,
        }
        i += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "forge_replies: bare_syn={} cycled_syn={cycled} random_syn={syn} syn_ack={syn_ack} rst={rst} rst_ack={rst_ack} ack={ack} total={} refused_resent={refused} seconds={secs:.2} done={}",
        cycled + syn,
        cycled + syn + syn_ack + rst + rst_ack + ack,
        i == total
    );
}
