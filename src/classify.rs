//! From a received frame to a candidate reply: parse it with checked views and say what kind
//! of answer to a SYN it is. What a reply proves (the cookie check) is `proof`'s business.

use std::net::IpAddr;

use crate::probe::{Reason, Unreachable};
use crate::wire::{EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6Packet, TcpPacket};
use crate::wire::{checksum, ethernet, icmp, ipv4, ipv6, tcp};

/// A frame that answers (or claims to answer) one of our SYNs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The probed endpoint: who answered (for ICMP: the destination in the quoted header).
    pub target: IpAddr,
    pub target_port: u16,
    /// Our side as the reply names it.
    pub local: IpAddr,
    pub local_port: u16,
    /// The value that must equal our cookie's sequence number: ack - 1 for a SYN-ACK, an RST
    /// or the ACK that completes a split handshake, the quoted sequence number for an ICMP
    /// error. `None` for a bare SYN and an RST without ACK: they echo nothing.
    pub echoed_seq: Option<u32>,
    /// The reply's own sequence number (what a split-handshake SYN-ACK acknowledges).
    pub seq: u32,
    /// The reply's own acknowledgement number (the teardown RST's sequence number).
    pub ack: u32,
    /// `Reason::Syn` is a split handshake: a bare SYN when `echoed_seq` is `None`, the final
    /// ACK answering our SYN-ACK when it is `Some`.
    pub reason: Reason,
    /// TTL / hop limit of the reply's IP header.
    pub ttl: u8,
    /// TSecr of a TCP timestamp option, when present.
    pub tsecr: Option<u32>,
}

/// Parse an ethernet frame. `None` for anything that is not a TCP reply to a SYN (SYN-ACK,
/// RST, bare SYN, the ACK of a split handshake) or an ICMP/ICMPv6 destination-unreachable
/// quoting a TCP segment. Checksums are not looked at here (see [`checksums_ok`]). Never
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
    } else if t.ack() && !t.fin() {
        // The last step of a split handshake: the target acknowledges the SYN-ACK with which we
        // answered its bare SYN, whose sequence number was our cookie.
        (Reason::Syn, Some(echoed))
    } else {
        return None;
    };
    Some(Reply {
        target: src,
        target_port: t.src_port(),
        local: dst,
        local_port: t.dst_port(),
        echoed_seq,
        seq: t.seq_number(),
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
        seq: 0,
        ack: 0,
        reason: Reason::Icmp(kind),
        ttl,
        tsecr: None,
    })
}

/// Whether the IP header checksum (IPv4) and the TCP, ICMP or ICMPv6 checksum of a frame
/// hold. A frame that does not parse as far fails. The receiver asks only when the kernel
/// has not vouched for the frame: a frame built on this host (veth, lo) reaches a packet
/// socket before its checksum is filled in, and a NIC may have checked it already.
pub fn checksums_ok(frame: &[u8]) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    let sums_to_ones =
        |acc: u64, data: &[u8]| checksum::fold(checksum::add_bytes(acc, data)) == 0xffff;
    match eth.ethertype() {
        ethernet::ETHERTYPE_IPV4 => {
            let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
                return false;
            };
            let body = ip.payload();
            ip.verify_checksum()
                && match ip.protocol() {
                    ipv4::PROTO_TCP => TcpPacket::new_checked(body)
                        .is_ok_and(|t| t.verify_checksum_v4(ip.src_addr(), ip.dst_addr())),
                    ipv4::PROTO_ICMP => sums_to_ones(0, body),
                    _ => false,
                }
        }
        ethernet::ETHERTYPE_IPV6 => {
            let Ok(ip) = Ipv6Packet::new_checked(eth.payload()) else {
                return false;
            };
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            match ip.upper_layer() {
                Some((ipv6::NEXT_TCP, seg)) => {
                    TcpPacket::new_checked(seg).is_ok_and(|t| t.verify_checksum_v6(src, dst))
                }
                Some((ipv6::NEXT_ICMPV6, body)) => {
                    let pseudo =
                        checksum::pseudo_v6(src, dst, ipv6::NEXT_ICMPV6, body.len() as u32);
                    sums_to_ones(pseudo, body)
                }
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::{RST_ACK_V4, RST_ACK_V6, Rng, SYN_ACK_V4, SYN_V4, SYN_V6, hex};
    use crate::wire::{ControlFields, FRAME_CAP, SynFields, SynParams, SynTemplate, build_control};
    use pnet::packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
    use pnet::packet::icmp::{self as picmp, IcmpCode, IcmpTypes, MutableIcmpPacket};
    use pnet::packet::icmpv6::{self as picmpv6, Icmpv6Code, Icmpv6Types, MutableIcmpv6Packet};
    use pnet::packet::ip::{IpNextHeaderProtocol, IpNextHeaderProtocols};
    use pnet::packet::ipv4::{self as pipv4, MutableIpv4Packet};
    use pnet::packet::ipv6::MutableIpv6Packet;
    use pnet::packet::tcp::{self as ptcp, MutableTcpPacket, TcpFlags, TcpOption};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const ME4: &str = "198.18.0.1";
    const TARGET4: &str = "198.19.0.9";
    const ROUTER4: &str = "198.18.255.254";
    const ME6: &str = "2001:db8::1";
    const TARGET6: &str = "2001:db8:1::9";
    const ROUTER6: &str = "2001:db8::fffe";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Wrap an IP packet in an ethernet frame (pnet), optionally with a VLAN tag.
    fn eth(ethertype: EtherType, ip_packet: &[u8], vlan: bool) -> Vec<u8> {
        let tag = if vlan { 4 } else { 0 };
        let mut v = vec![0u8; 14 + tag + ip_packet.len()];
        let mut e = MutableEthernetPacket::new(&mut v[..]).unwrap();
        e.set_destination([2, 0, 0, 0, 0, 1].into());
        e.set_source([2, 0, 0, 0, 0, 2].into());
        if vlan {
            e.set_ethertype(EtherTypes::Vlan);
            v[14..16].copy_from_slice(&[0x00, 0x64]);
            v[16..18].copy_from_slice(&ethertype.0.to_be_bytes());
        } else {
            e.set_ethertype(ethertype);
        }
        v[14 + tag..].copy_from_slice(ip_packet);
        v
    }

    /// An IP packet (pnet) carrying `payload`.
    fn ip_packet(
        src: IpAddr,
        dst: IpAddr,
        proto: IpNextHeaderProtocol,
        ttl: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut v = vec![0u8; 20 + payload.len()];
                let mut p = MutableIpv4Packet::new(&mut v[..]).unwrap();
                p.set_version(4);
                p.set_header_length(5);
                p.set_total_length((20 + payload.len()) as u16);
                p.set_ttl(ttl);
                p.set_next_level_protocol(proto);
                p.set_source(s);
                p.set_destination(d);
                p.set_payload(payload);
                let c = pipv4::checksum(&p.to_immutable());
                p.set_checksum(c);
                v
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut v = vec![0u8; 40 + payload.len()];
                let mut p = MutableIpv6Packet::new(&mut v[..]).unwrap();
                p.set_version(6);
                p.set_payload_length(payload.len() as u16);
                p.set_next_header(proto);
                p.set_hop_limit(ttl);
                p.set_source(s);
                p.set_destination(d);
                p.set_payload(payload);
                v
            }
            _ => unreachable!(),
        }
    }

    /// A TCP segment (pnet) with the timestamp option when `ts` is given.
    fn tcp_seg(
        src: IpAddr,
        dst: IpAddr,
        ports: (u16, u16),
        seq: u32,
        ack: u32,
        flags: u8,
        ts: Option<(u32, u32)>,
    ) -> Vec<u8> {
        let opts: Vec<TcpOption> = match ts {
            Some((a, b)) => vec![
                TcpOption::nop(),
                TcpOption::nop(),
                TcpOption::timestamp(a, b),
            ],
            None => vec![],
        };
        let hl = if ts.is_some() { 32 } else { 20 };
        let mut v = vec![0u8; hl];
        let mut t = MutableTcpPacket::new(&mut v[..]).unwrap();
        t.set_source(ports.0);
        t.set_destination(ports.1);
        t.set_sequence(seq);
        t.set_acknowledgement(ack);
        t.set_data_offset((hl / 4) as u8);
        t.set_flags(flags);
        t.set_window(65535);
        t.set_options(&opts);
        let c = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => ptcp::ipv4_checksum(&t.to_immutable(), &s, &d),
            (IpAddr::V6(s), IpAddr::V6(d)) => ptcp::ipv6_checksum(&t.to_immutable(), &s, &d),
            _ => unreachable!(),
        };
        t.set_checksum(c);
        v
    }

    fn tcp_frame(
        src: &str,
        dst: &str,
        flags: u8,
        ack: u32,
        ts: Option<(u32, u32)>,
        vlan: bool,
    ) -> Vec<u8> {
        let (s, d) = (ip(src), ip(dst));
        let seg = tcp_seg(s, d, (443, 40000), 0x1111_2222, ack, flags, ts);
        let pkt = ip_packet(s, d, IpNextHeaderProtocols::Tcp, 57, &seg);
        eth(
            if s.is_ipv4() {
                EtherTypes::Ipv4
            } else {
                EtherTypes::Ipv6
            },
            &pkt,
            vlan,
        )
    }

    fn our_syn(me: &str, target: &str) -> Vec<u8> {
        let t = SynTemplate::new(&SynParams {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: ip(me),
            ttl: 64,
            window: 1024,
            mss: 1460,
            wscale: 7,
        });
        let mut out = [0u8; FRAME_CAP];
        let n = t.fill(
            &mut out,
            &SynFields {
                dst: ip(target),
                sport: 40000,
                dport: 443,
                seq: 0xcafe_f00d,
                ip_id: 7,
                tsval: 99,
            },
        );
        out[..n].to_vec()
    }

    /// An ICMP(v6) destination unreachable from a router, quoting the first `quote` bytes of
    /// our SYN's IP packet (pnet).
    fn icmp_frame(v6: bool, code: u8, quote: usize) -> Vec<u8> {
        let syn = if v6 {
            our_syn(ME6, TARGET6)
        } else {
            our_syn(ME4, TARGET4)
        };
        let quoted = &syn[14..(14 + quote).min(syn.len())];
        let mut body = vec![0u8; 8 + quoted.len()];
        if v6 {
            let (r, me) = (
                ROUTER6.parse::<Ipv6Addr>().unwrap(),
                ME6.parse::<Ipv6Addr>().unwrap(),
            );
            let mut m = MutableIcmpv6Packet::new(&mut body[..]).unwrap();
            m.set_icmpv6_type(Icmpv6Types::DestinationUnreachable);
            m.set_icmpv6_code(Icmpv6Code::new(code));
            m.set_payload(&[&[0u8; 4][..], quoted].concat());
            let c = picmpv6::checksum(&m.to_immutable(), &r, &me);
            m.set_checksum(c);
            let pkt = ip_packet(
                r.into(),
                me.into(),
                IpNextHeaderProtocols::Icmpv6,
                60,
                &body,
            );
            eth(EtherTypes::Ipv6, &pkt, false)
        } else {
            let mut m = MutableIcmpPacket::new(&mut body[..]).unwrap();
            m.set_icmp_type(IcmpTypes::DestinationUnreachable);
            m.set_icmp_code(IcmpCode::new(code));
            m.set_payload(&[&[0u8; 4][..], quoted].concat());
            let c = picmp::checksum(&m.to_immutable());
            m.set_checksum(c);
            let pkt = ip_packet(ip(ROUTER4), ip(ME4), IpNextHeaderProtocols::Icmp, 60, &body);
            eth(EtherTypes::Ipv4, &pkt, false)
        }
    }

    #[test]
    fn captured_syn_ack() {
        let r = parse_reply(&hex(SYN_ACK_V4)).unwrap();
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(
            r,
            Reply {
                target: lo,
                target_port: 48000,
                local: lo,
                local_port: 59224,
                echoed_seq: Some(588051390),
                seq: 3434255877,
                ack: 588051391,
                reason: Reason::SynAck,
                ttl: 64,
                tsecr: Some(3653003536),
            }
        );
    }

    #[test]
    fn captured_rst_ack() {
        let r = parse_reply(&hex(RST_ACK_V4)).unwrap();
        assert_eq!(
            (r.reason, r.echoed_seq, r.ack),
            (Reason::Rst, Some(1863324546), 1863324547)
        );
        assert_eq!((r.target_port, r.local_port, r.tsecr), (47999, 55366, None));
        let r = parse_reply(&hex(RST_ACK_V6)).unwrap();
        assert_eq!((r.reason, r.echoed_seq), (Reason::Rst, Some(2640604991)));
        assert_eq!(
            (r.target, r.target_port, r.local_port),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), 47999, 40546)
        );
        // Ethernet padding to 60 bytes changes nothing.
        let mut padded = hex(RST_ACK_V4);
        padded.resize(60, 0);
        assert_eq!(parse_reply(&padded), parse_reply(&hex(RST_ACK_V4)));
    }

    #[test]
    fn bare_syn_echoes_nothing() {
        for f in [
            hex(SYN_V4),
            hex(SYN_V6),
            our_syn(ME4, TARGET4),
            our_syn(ME6, TARGET6),
        ] {
            let r = parse_reply(&f).unwrap();
            assert_eq!((r.reason, r.echoed_seq), (Reason::Syn, None));
            assert_eq!(r.ack, 0);
        }
        let r = parse_reply(&our_syn(ME6, TARGET6)).unwrap();
        assert_eq!(
            (r.target, r.target_port, r.local, r.local_port),
            (ip(ME6), 40000, ip(TARGET6), 443)
        );
        assert_eq!(r.tsecr, Some(0));
    }

    #[test]
    fn pnet_syn_ack_v4_v6_and_vlan() {
        for (me, target) in [(ME4, TARGET4), (ME6, TARGET6)] {
            for vlan in [false, true] {
                let f = tcp_frame(
                    target,
                    me,
                    TcpFlags::SYN | TcpFlags::ACK,
                    0xcafe_f00e,
                    Some((5, 77)),
                    vlan,
                );
                let r = parse_reply(&f).unwrap();
                assert_eq!(
                    r,
                    Reply {
                        target: ip(target),
                        target_port: 443,
                        local: ip(me),
                        local_port: 40000,
                        echoed_seq: Some(0xcafe_f00d),
                        seq: 0x1111_2222,
                        ack: 0xcafe_f00e,
                        reason: Reason::SynAck,
                        ttl: 57,
                        tsecr: Some(77),
                    }
                );
            }
        }
        // ack 0 wraps.
        let f = tcp_frame(TARGET4, ME4, TcpFlags::SYN | TcpFlags::ACK, 0, None, false);
        assert_eq!(parse_reply(&f).unwrap().echoed_seq, Some(u32::MAX));
    }

    #[test]
    fn rst_with_and_without_ack() {
        let f = tcp_frame(TARGET6, ME6, TcpFlags::RST | TcpFlags::ACK, 10, None, false);
        assert_eq!(
            parse_reply(&f).map(|r| (r.reason, r.echoed_seq)),
            Some((Reason::Rst, Some(9)))
        );
        let f = tcp_frame(TARGET4, ME4, TcpFlags::RST, 10, None, false);
        assert_eq!(
            parse_reply(&f).map(|r| (r.reason, r.echoed_seq, r.ack)),
            Some((Reason::Rst, None, 10))
        );
        // Our own teardown RST parses the same way.
        let mut out = [0u8; FRAME_CAP];
        let n = build_control(
            &mut out,
            &ControlFields::rst(([0; 6], [0; 6]), ip(ME4), ip(TARGET4), (40000, 443), 5, 64),
        );
        let r = parse_reply(&out[..n]).unwrap();
        assert_eq!(
            (r.reason, r.echoed_seq, r.target, r.local),
            (Reason::Rst, None, ip(ME4), ip(TARGET4))
        );
    }

    #[test]
    fn an_ack_is_the_end_of_a_split_handshake() {
        for (target, me) in [(TARGET4, ME4), (TARGET6, ME6)] {
            for flags in [TcpFlags::ACK, TcpFlags::PSH | TcpFlags::ACK] {
                let r =
                    parse_reply(&tcp_frame(target, me, flags, 0xcafe_f00e, None, false)).unwrap();
                assert_eq!(
                    (r.reason, r.echoed_seq, r.seq, r.ack),
                    (Reason::Syn, Some(0xcafe_f00d), 0x1111_2222, 0xcafe_f00e)
                );
            }
        }
    }

    #[test]
    fn other_tcp_is_not_a_reply() {
        for flags in [
            TcpFlags::FIN | TcpFlags::ACK,
            0,
            TcpFlags::FIN,
            TcpFlags::PSH,
        ] {
            assert_eq!(
                parse_reply(&tcp_frame(TARGET4, ME4, flags, 1, None, false)),
                None,
                "{flags:#x}"
            );
            assert_eq!(
                parse_reply(&tcp_frame(TARGET6, ME6, flags, 1, None, false)),
                None,
                "{flags:#x}"
            );
        }
    }

    #[test]
    fn icmp_unreachable_quoting_our_syn() {
        for (v6, code, kind) in [
            (false, 13, Unreachable::AdminProhibited),
            (false, 3, Unreachable::Port),
            (false, 1, Unreachable::Host),
            (true, 1, Unreachable::AdminProhibited),
            (true, 4, Unreachable::Port),
            (true, 6, Unreachable::RejectRoute),
        ] {
            let (me, target) = if v6 { (ME6, TARGET6) } else { (ME4, TARGET4) };
            let ip_len = if v6 { 40 } else { 20 };
            // The RFC 792 minimum (header + 8 bytes) and the whole SYN.
            for quote in [ip_len + 8, 200] {
                let r = parse_reply(&icmp_frame(v6, code, quote)).unwrap();
                assert_eq!(
                    r,
                    Reply {
                        target: ip(target),
                        target_port: 443,
                        local: ip(me),
                        local_port: 40000,
                        echoed_seq: Some(0xcafe_f00d),
                        seq: 0,
                        ack: 0,
                        reason: Reason::Icmp(kind),
                        ttl: 60,
                        tsecr: None,
                    }
                );
            }
            // Fewer than 8 bytes of TCP: not enough to match.
            assert_eq!(parse_reply(&icmp_frame(v6, code, ip_len + 7)), None);
        }
        // Codes outside the table.
        assert_eq!(parse_reply(&icmp_frame(false, 4, 200)), None);
        assert_eq!(parse_reply(&icmp_frame(true, 5, 200)), None);
    }

    #[test]
    fn icmp_quoted_ipv4_options_and_other_types() {
        // Quote with IHL 6 (a 4-byte option), built by hand: ICMP payload = header + 8 bytes.
        let syn = our_syn(ME4, TARGET4);
        let mut quoted = syn[14..34].to_vec();
        quoted[0] = 0x46;
        quoted.extend_from_slice(&[1, 1, 1, 0]);
        quoted.extend_from_slice(&syn[34..42]);
        let mut body = vec![3, 10, 0, 0, 0, 0, 0, 0];
        body.extend_from_slice(&quoted);
        let pkt = ip_packet(ip(ROUTER4), ip(ME4), IpNextHeaderProtocols::Icmp, 60, &body);
        let r = parse_reply(&eth(EtherTypes::Ipv4, &pkt, true)).unwrap();
        assert_eq!(r.reason, Reason::Icmp(Unreachable::HostProhibited));
        assert_eq!(
            (r.target, r.target_port, r.echoed_seq),
            (ip(TARGET4), 443, Some(0xcafe_f00d))
        );

        // Time exceeded (type 11) is not an answer; nor a quoted UDP datagram.
        body[0] = 11;
        let pkt = ip_packet(ip(ROUTER4), ip(ME4), IpNextHeaderProtocols::Icmp, 60, &body);
        assert_eq!(parse_reply(&eth(EtherTypes::Ipv4, &pkt, false)), None);
        body[0] = 3;
        body[8 + 9] = 17;
        let pkt = ip_packet(ip(ROUTER4), ip(ME4), IpNextHeaderProtocols::Icmp, 60, &body);
        assert_eq!(parse_reply(&eth(EtherTypes::Ipv4, &pkt, false)), None);
    }

    #[test]
    fn fragments_and_other_protocols_are_not_replies() {
        let mut f = tcp_frame(TARGET4, ME4, TcpFlags::SYN | TcpFlags::ACK, 1, None, false);
        assert!(parse_reply(&f).is_some());
        f[14 + 7] = 1; // fragment offset 8 bytes
        assert_eq!(parse_reply(&f), None);
        let mut f = tcp_frame(TARGET4, ME4, TcpFlags::SYN | TcpFlags::ACK, 1, None, false);
        f[14 + 9] = 17;
        assert_eq!(parse_reply(&f), None);
        let mut f = tcp_frame(TARGET4, ME4, TcpFlags::SYN | TcpFlags::ACK, 1, None, false);
        f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(parse_reply(&f), None);
    }

    #[test]
    fn checksums_are_checked_for_every_kind() {
        // The first five frames of the corpus were captured on lo, where the kernel leaves
        // checksums partial (it fills them in only on the way to a wire): the receiver never
        // asks `checksums_ok` about such frames. The rest are built with full checksums.
        let mut frames = corpus().split_off(5);
        frames.push(tcp_frame(TARGET4, ME4, TcpFlags::ACK, 5, None, true));
        for f in &frames {
            assert!(checksums_ok(f), "{} bytes", f.len());
        }
        // One flipped bit anywhere past the ethernet header breaks a checksum (the IPv6
        // header has none of its own, but its addresses are in the pseudo-header).
        for f in &frames {
            let ip_at = if f[12..14] == [0x81, 0x00] { 18 } else { 14 };
            let ip_v6 = f[ip_at] >> 4 == 6;
            // Bytes a flip may not touch: the IPv6 version/class/flow word and hop limit
            // are in no checksum; the TTL is, through the IPv4 header checksum.
            let skip = |i: usize| ip_v6 && (i < ip_at + 4 || i == ip_at + 7);
            for i in (ip_at..f.len()).filter(|&i| !skip(i)) {
                let mut g = f.clone();
                g[i] ^= 0x10;
                if parse_reply(&g).is_some() {
                    assert!(!checksums_ok(&g), "byte {i} of a {}-byte frame", f.len());
                }
            }
        }
        assert!(!checksums_ok(&[]));
        assert!(!checksums_ok(&hex(SYN_ACK_V4)[..40]));
    }

    /// Valid frames of every kind, to truncate and mutate.
    fn corpus() -> Vec<Vec<u8>> {
        let mut c = vec![
            hex(SYN_ACK_V4),
            hex(RST_ACK_V4),
            hex(RST_ACK_V6),
            hex(SYN_V4),
            hex(SYN_V6),
            our_syn(ME4, TARGET4),
            our_syn(ME6, TARGET6),
            tcp_frame(
                TARGET6,
                ME6,
                TcpFlags::SYN | TcpFlags::ACK,
                1,
                Some((1, 2)),
                true,
            ),
        ];
        for v6 in [false, true] {
            c.push(icmp_frame(v6, 1, if v6 { 48 } else { 28 }));
            c.push(icmp_frame(v6, 3, 48));
            c.push(icmp_frame(v6, 0, 200));
        }
        c
    }

    /// Random, truncated and mutated frames never make the parser panic.
    #[test]
    fn hostile_bytes_never_panic() {
        let corpus = corpus();
        let mut parsed = 0usize;
        for (i, f) in corpus.iter().enumerate() {
            assert!(parse_reply(f).is_some(), "corpus {i}");
            for n in 0..=f.len() {
                parsed += usize::from(parse_reply(&f[..n]).is_some());
            }
        }
        let mut r = Rng(0xdead_beef_f00d_cafe);
        let mut buf = [0u8; 256];
        for i in 0..200_000u32 {
            let n = match i % 4 {
                // Pure noise behind a plausible ethertype.
                0 => {
                    let n = (r.next() % 200) as usize;
                    for b in &mut buf[..n] {
                        *b = r.next() as u8;
                    }
                    if n >= 15 {
                        let et: [u16; 3] = [0x0800, 0x86dd, 0x8100];
                        buf[12..14].copy_from_slice(&et[(r.next() % 3) as usize].to_be_bytes());
                        buf[14] = [0x45, 0x46, 0x4f, 0x60, 0x44][(r.next() % 5) as usize];
                    }
                    n
                }
                // A valid frame with a few bytes flipped, then maybe cut.
                _ => {
                    let f = &corpus[(r.next() % corpus.len() as u64) as usize];
                    buf[..f.len()].copy_from_slice(f);
                    for _ in 0..1 + r.next() % 4 {
                        let at = (r.next() % f.len() as u64) as usize;
                        buf[at] = if r.next().is_multiple_of(2) {
                            r.next() as u8
                        } else {
                            buf[at] ^ (1 << (r.next() % 8))
                        };
                    }
                    if i % 4 == 3 {
                        (r.next() % (f.len() as u64 + 1)) as usize
                    } else {
                        f.len()
                    }
                }
            };
            parsed += usize::from(parse_reply(&buf[..n]).is_some());
        }
        // Mutations that keep a frame valid are common; the walk must reach the deep paths.
        assert!(parsed > 10_000, "{parsed}");
    }
}
