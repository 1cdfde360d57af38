//! The teardown RST sent for every SYN-ACK, so the target drops its half-open connection.
//! Rare next to SYNs, so it is built from scratch with full checksums.

use std::net::IpAddr;

use super::syn::{write_ipv4, write_ipv6};
use super::{EthernetFrame, TcpPacket, ethernet, ipv4, ipv6, tcp};

/// Per-packet fields of a teardown RST (sent for every SYN-ACK).
#[derive(Clone, Copy, Debug)]
pub struct RstFields {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// The SYN-ACK's acknowledgement number.
    pub seq: u32,
    pub ttl: u8,
}

/// Write a bare RST for `f` into `out` (at least FRAME_CAP bytes); returns the frame length.
/// Returns 0 and writes nothing when `src` and `dst` are of different families or `out` is
/// too short.
pub fn build_rst(out: &mut [u8], f: &RstFields) -> usize {
    const TCP_LEN: usize = tcp::MIN_HEADER_LEN;
    let ip_off = ethernet::HEADER_LEN;
    let (len, tcp_off, ethertype) = match (f.src, f.dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => {
            let t = ip_off + ipv4::MIN_HEADER_LEN;
            (t + TCP_LEN, t, ethernet::ETHERTYPE_IPV4)
        }
        (IpAddr::V6(_), IpAddr::V6(_)) => {
            let t = ip_off + ipv6::HEADER_LEN;
            (t + TCP_LEN, t, ethernet::ETHERTYPE_IPV6)
        }
        _ => return 0,
    };
    let Some(buf) = out.get_mut(..len) else {
        return 0;
    };
    buf.fill(0);

    let mut eth = EthernetFrame::new_unchecked(&mut buf[..]);
    eth.set_dst_addr(f.dst_mac);
    eth.set_src_addr(f.src_mac);
    eth.set_ethertype(ethertype);

    let mut t = TcpPacket::new_unchecked(&mut buf[tcp_off..]);
    t.set_src_port(f.sport);
    t.set_dst_port(f.dport);
    t.set_seq_number(f.seq);
    t.set_header_len(TCP_LEN);
    t.set_flags(tcp::FLAG_RST);

    match (f.src, f.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            write_ipv4(&mut buf[ip_off..], s, d, f.ttl, 0);
            TcpPacket::new_unchecked(&mut buf[tcp_off..]).fill_checksum_v4(s, d);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            write_ipv6(&mut buf[ip_off..], s, d, f.ttl);
            TcpPacket::new_unchecked(&mut buf[tcp_off..]).fill_checksum_v6(s, d);
        }
        _ => return 0,
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testdata::hex;
    use crate::wire::{FRAME_CAP, Ipv4Packet, Ipv6Packet};
    use pnet::packet::Packet;
    use pnet::packet::ethernet::EthernetPacket;
    use pnet::packet::ipv4::{self as pipv4, Ipv4Packet as PIpv4};
    use pnet::packet::ipv6::Ipv6Packet as PIpv6;
    use pnet::packet::tcp::{self as ptcp, TcpFlags, TcpPacket as PTcp};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn fields(src: &str, dst: &str) -> RstFields {
        RstFields {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            sport: 40000,
            dport: 443,
            seq: 0xdead_beef,
            ttl: 64,
        }
    }

    #[test]
    fn rst_v4_checked_by_pnet() {
        let f = fields("198.18.0.1", "198.19.0.9");
        let mut out = [0xffu8; FRAME_CAP];
        let n = build_rst(&mut out, &f);
        assert_eq!(n, 54);
        let e = EthernetPacket::new(&out[..n]).unwrap();
        assert_eq!(e.get_destination().octets(), f.dst_mac);
        let ip = PIpv4::new(e.payload()).unwrap();
        assert_eq!(ip.get_checksum(), pipv4::checksum(&ip));
        assert_eq!(ip.get_total_length(), 40);
        let t = PTcp::new(ip.payload()).unwrap();
        let (s, d): (Ipv4Addr, Ipv4Addr) =
            ("198.18.0.1".parse().unwrap(), "198.19.0.9".parse().unwrap());
        assert_eq!(t.get_checksum(), ptcp::ipv4_checksum(&t, &s, &d));
        assert_eq!(t.get_flags(), TcpFlags::RST);
        assert_eq!(
            (t.get_sequence(), t.get_acknowledgement(), t.get_window()),
            (0xdead_beef, 0, 0)
        );
        assert_eq!(
            (t.get_source(), t.get_destination(), t.get_data_offset()),
            (40000, 443, 5)
        );
        assert!(
            Ipv4Packet::new_checked(&out[14..n])
                .unwrap()
                .verify_checksum()
        );
    }

    #[test]
    fn rst_v6_checked_by_pnet() {
        let f = fields("2001:db8::1", "2001:db8::2");
        let mut out = [0u8; FRAME_CAP];
        let n = build_rst(&mut out, &f);
        assert_eq!(n, 74);
        let ip = PIpv6::new(&out[14..n]).unwrap();
        assert_eq!((ip.get_payload_length(), ip.get_hop_limit()), (20, 64));
        let t = PTcp::new(ip.payload()).unwrap();
        let (s, d): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        assert_eq!(t.get_checksum(), ptcp::ipv6_checksum(&t, &s, &d));
        assert_eq!(t.get_flags(), TcpFlags::RST);
        assert!(Ipv6Packet::new_checked(&out[14..n]).is_ok());
    }

    /// Same layout as the kernel's own RST on lo (which also sets ACK and checksums lazily).
    #[test]
    fn rst_v4_layout_like_linux() {
        let mut want = hex(crate::wire::testdata::RST_ACK_V4);
        let mut f = fields("127.0.0.1", "127.0.0.1");
        (f.src_mac, f.dst_mac, f.sport, f.dport, f.seq) = ([0; 6], [0; 6], 47999, 55366, 0);
        let mut out = [0u8; FRAME_CAP];
        let n = build_rst(&mut out, &f);
        assert_eq!(n, want.len());
        // Ours: no ACK, ack 0, full TCP checksum. Compare everything else.
        want[42..46].fill(0);
        want[47] = tcp::FLAG_RST;
        want[50..52].copy_from_slice(&out[50..52]);
        assert_eq!(&out[..n], &want[..]);
    }

    #[test]
    fn rst_refuses_mixed_families_and_short_buffers() {
        let mut out = [0u8; FRAME_CAP];
        assert_eq!(build_rst(&mut out, &fields("198.18.0.1", "2001:db8::2")), 0);
        assert_eq!(
            build_rst(&mut out[..53], &fields("198.18.0.1", "198.18.0.2")),
            0
        );
        assert_eq!(
            build_rst(&mut out[..73], &fields("2001:db8::1", "2001:db8::2")),
            0
        );
    }
}
