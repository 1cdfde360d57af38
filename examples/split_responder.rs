//! A split-handshake host for tests (issue 14): it answers a SYN with a bare SYN, as a peer
//! doing a simultaneous open would, and completes the handshake with an ACK once the prober
//! acknowledges that SYN. Run it only inside a namespace a test created, on the target's
//! veth, with the kernel silenced on PORT (`iptables -A INPUT -p tcp --dport PORT -j DROP`,
//! and ip6tables) so that no kernel RST answers for it:
//!
//!   split_responder IFACE PORT SECONDS [split|syn-only]
//!
//! For a SYN (no ACK) to PORT, on IPv4 or IPv6: a bare SYN back (addresses, ports and MACs
//! swapped), seq = S, where S is a keyed hash of the 4-tuple, so no table is kept.
//! For a segment with ACK to PORT (an ACK or a SYN-ACK) whose ack is S + 1: a pure ACK,
//! seq = S + 1, ack = their seq + 1. Everything else is ignored. Prints `ready` once it
//! listens, and its counts when it exits, after SECONDS or when killed.
//!
//! `syn-only` answers the SYN alone and never the acknowledgement: a host that looks like
//! a split handshake but never completes it, which no prober may call open.
use std::hash::Hasher;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use pnet::datalink::{self, Channel, Config};
use siphasher::sip::SipHasher13;
use synprobe::wire::{ControlFields, tcp};

const SYN: u8 = tcp::FLAG_SYN;
const RST: u8 = tcp::FLAG_RST;
const ACK: u8 = tcp::FLAG_ACK;

/// The fields of a received TCP segment this host answers from.
struct Seen {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Checked parse of ethernet / IPv4 or IPv6 (no extension headers) / TCP. Never panics.
fn parse(frame: &[u8]) -> Option<Seen> {
    let dst_mac: [u8; 6] = frame.get(0..6)?.try_into().ok()?;
    let src_mac: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    let ip = frame.get(14..)?;
    let (src, dst, seg) = match be16(frame, 12)? {
        0x0800 => {
            let ihl = usize::from(*ip.first()? & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let frag = be16(ip, 6)? & 0x3fff;
            if *ip.first()? >> 4 != 4 || ihl < 20 || total < ihl || frag != 0 || ip[9] != 6 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), ip.get(ihl..total)?)
        }
        0x86dd => {
            if *ip.first()? >> 4 != 6 || *ip.get(6)? != 6 {
                return None;
            }
            let len = usize::from(be16(ip, 4)?);
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (IpAddr::from(src), IpAddr::from(dst), ip.get(40..40 + len)?)
        }
        _ => return None,
    };
    let off = usize::from(*seg.get(12)? >> 4) * 4;
    if off < 20 || off > seg.len() {
        return None;
    }
    Some(Seen {
        src_mac,
        dst_mac,
        src,
        dst,
        sport: be16(seg, 0)?,
        dport: be16(seg, 2)?,
        seq: be32(seg, 4)?,
        ack: be32(seg, 8)?,
        flags: seg[13],
    })
}

/// Our sequence number for this connection: stateless, unguessable by the prober.
fn our_seq(key: (u64, u64), s: &Seen) -> u32 {
    let mut h = SipHasher13::new_with_keys(key.0, key.1);
    match (s.src, s.dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            h.write(&a.octets());
            h.write(&b.octets());
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            h.write(&a.octets());
            h.write(&b.octets());
        }
        _ => {}
    }
    h.write_u16(s.sport);
    h.write_u16(s.dport);
    h.finish() as u32
}

/// The answer to `s`: addresses, ports and MACs swapped, a 20-byte TCP header, checksums
/// computed over the whole packet.
fn reply(s: &Seen, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    ControlFields {
        src_mac: s.dst_mac,
        dst_mac: s.src_mac,
        src: s.dst,
        dst: s.src,
        sport: s.dport,
        dport: s.sport,
        seq,
        ack,
        flags,
        ttl: 64,
        window: Some(65535),
    }
    .to_frame()
}

fn random_key() -> (u64, u64) {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("read /dev/urandom");
    (
        u64::from_le_bytes(b[..8].try_into().unwrap()),
        u64::from_le_bytes(b[8..].try_into().unwrap()),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=5).contains(&args.len())
        || args.get(4).is_some_and(|m| m != "split" && m != "syn-only")
    {
        eprintln!("usage: split_responder IFACE PORT SECONDS [split|syn-only]");
        std::process::exit(2);
    }
    let complete = args.get(4).is_none_or(|m| m == "split");
    let port: u16 = args[2].parse().expect("PORT: a number");
    let secs: u64 = args[3].parse().expect("SECONDS: a number");
    let iface = datalink::interfaces()
        .into_iter()
        .find(|i| i.name == args[1])
        .unwrap_or_else(|| panic!("no interface {}", args[1]));
    let our_mac = iface.mac.expect("interface MAC").octets();
    let config = Config {
        read_timeout: Some(Duration::from_millis(100)),
        promiscuous: false,
        ..Config::default()
    };
    let (mut tx, mut rx) = match datalink::channel(&iface, config) {
        Ok(Channel::Ethernet(tx, rx)) => (tx, rx),
        Ok(_) => panic!("unexpected channel type"),
        Err(e) => panic!("cannot open a packet channel on {}: {e}", args[1]),
    };
    let key = random_key();
    println!("ready");
    let _ = std::io::stdout().flush();

    let (mut syns, mut acks, mut errors) = (0u64, 0u64, 0u64);
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let Ok(frame) = rx.next() else { continue };
        // Frames to our MAC only: this also skips our own frames going out.
        let Some(s) = parse(frame).filter(|s| s.dst_mac == our_mac && s.dport == port) else {
            continue;
        };
        let mine = our_seq(key, &s);
        let answer = if s.flags & RST != 0 {
            None
        } else if s.flags & SYN != 0 && s.flags & ACK == 0 {
            syns += 1;
            Some(reply(&s, mine, 0, SYN))
        } else if complete && s.flags & ACK != 0 && s.ack == mine.wrapping_add(1) {
            acks += 1;
            Some(reply(&s, mine.wrapping_add(1), s.seq.wrapping_add(1), ACK))
        } else {
            None
        };
        if let Some(f) = answer
            && !matches!(tx.send_to(&f, None), Some(Ok(())))
        {
            errors += 1;
        }
    }
    println!(
        "split_responder: answered {syns} SYNs with a SYN, {acks} acknowledgements with an ACK, {errors} send errors"
    );
}
