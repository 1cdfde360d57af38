//! From a received frame to a candidate reply: parse it with checked views and say what kind
//! of answer to a SYN it is. Validation against the cookie happens in the engine.

use std::net::IpAddr;

use crate::probe::{Reason, Unreachable};
use crate::wire::{EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6Packet, TcpPacket};
use crate::wire::{ethernet, icmp, ipv4, ipv6, tcp};

/// A frame that answers (or claims to answer) one of our SYNs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The probed endpoint: who answered (for ICMP: the destination in the quoted header).
    pub target: IpAddr,
    pub target_port: u16,
    /// Our side as the reply names it.
    pub local: IpAddr,
    pub local_port: u16,
    /// The value that must equal our cookie's sequence number: ack - 1 for a SYN-ACK or RST,
    /// the quoted sequence number for an ICMP error. `None` for a bare SYN (nothing to check).
    pub echoed_seq: Option<u32>,
    /// The reply's own acknowledgement number (the teardown RST's sequence number).
    pub ack: u32,
    pub reason: Reason,
    /// TTL / hop limit of the reply's IP header.
    pub ttl: u8,
    /// TSecr of a TCP timestamp option, when present.
    pub tsecr: Option<u32>,
}

/// Parse an ethernet frame. `None` for anything that is not a TCP reply to a SYN (SYN-ACK,
/// RST, bare SYN) or an ICMP/ICMPv6 destination-unreachable quoting a TCP segment. Never
/// panics, whatever the bytes.
pub fn parse_reply(frame: &[u8]) -> Option<Reply> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    match eth.ethertype() {
        ethernet::ETHERTYPE_IPV4 => parse_ipv4(eth.payload()),
        ethernet::ETHERTYPE_IPV6 => parse_ipv6(eth.payload()),
        _ => None,
    }
}

fn parse_ipv4(b: &[u8]) -> Option<Reply> {
    let ip = Ipv4Packet::new_checked(b).ok()?;
    if ip.frag_offset() != 0 {
        // A later fragment holds no transport header.
        return None;
    }
    let (src, dst, ttl) = (
        IpAddr::V4(ip.src_addr()),
        IpAddr::V4(ip.dst_addr()),
        ip.ttl(),
    );
    match ip.protocol() {
        ipv4::PROTO_TCP => tcp_reply(src, dst, ttl, ip.payload()),
        ipv4::PROTO_ICMP => {
            let msg = IcmpPacket::new_checked(ip.payload()).ok()?;
            if msg.msg_type() != icmp::ICMPV4_DEST_UNREACHABLE {
                return None;
            }
            let kind = Unreachable::from_icmpv4_code(msg.code())?;
            let q = Ipv4Packet::new_quoted(msg.quoted()).ok()?;
            if q.protocol() != ipv4::PROTO_TCP || q.frag_offset() != 0 {
                return None;
            }
            // rest(), not payload(): routers may rewrite or mangle the quoted total length.
            let quoted = (IpAddr::V4(q.src_addr()), IpAddr::V4(q.dst_addr()), q.rest());
            icmp_reply(kind, ttl, quoted)
        }
        _ => None,
    }
}

fn parse_ipv6(b: &[u8]) -> Option<Reply> {
    let ip = Ipv6Packet::new_checked(b).ok()?;
    let (src, dst, ttl) = (
        IpAddr::V6(ip.src_addr()),
        IpAddr::V6(ip.dst_addr()),
        ip.hop_limit(),
    );
    match ip.upper_layer()? {
        (ipv6::NEXT_TCP, seg) => tcp_reply(src, dst, ttl, seg),
        (ipv6::NEXT_ICMPV6, body) => {
            let msg = IcmpPacket::new_checked(body).ok()?;
            if msg.msg_type() != icmp::ICMPV6_DEST_UNREACHABLE {
                return None;
            }
            let kind = Unreachable::from_icmpv6_code(msg.code())?;
            let q = Ipv6Packet::new_quoted(msg.quoted()).ok()?;
            let (next, seg) = ipv6::skip_extension_headers(q.next_header(), q.rest())?;
            if next != ipv6::NEXT_TCP {
                return None;
            }
            icmp_reply(
                kind,
                ttl,
                (IpAddr::V6(q.src_addr()), IpAddr::V6(q.dst_addr()), seg),
            )
        }
        _ => None,
    }
}

fn tcp_reply(src: IpAddr, dst: IpAddr, ttl: u8, seg: &[u8]) -> Option<Reply> {
    let t = TcpPacket::new_checked(seg).ok()?;
    let ack = t.ack_number();
    let echoed = ack.wrapping_sub(1);
    // RST wins over SYN: a stack receiving SYN|RST processes the reset.
    let (reason, echoed_seq) = if t.rst() {
        (Reason::Rst, t.ack().then_some(echoed))
    } else if t.syn() && t.ack() {
        (Reason::SynAck, Some(echoed))
    } else if t.syn() {
        (Reason::Syn, None)
    } else {
        return None;
    };
    Some(Reply {
        target: src,
        target_port: t.src_port(),
        local: dst,
        local_port: t.dst_port(),
        echoed_seq,
        ack,
        reason,
        ttl,
        tsecr: t.timestamp().map(|(_, ecr)| ecr),
    })
}

/// `quoted` is (our address, the target, the quoted TCP bytes) as the quoted SYN named them.
fn icmp_reply(kind: Unreachable, ttl: u8, quoted: (IpAddr, IpAddr, &[u8])) -> Option<Reply> {
    let (local, target, seg) = quoted;
    let (sport, dport, seq) = tcp::quoted_head(seg)?;
    Some(Reply {
        target,
        target_port: dport,
        local,
        local_port: sport,
        echoed_seq: Some(seq),
        ack: 0,
        reason: Reason::Icmp(kind),
        ttl,
        tsecr: None,
    })
}
