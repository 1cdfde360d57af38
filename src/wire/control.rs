//! The control segments synprobe answers replies with: the teardown RST for every proven open
//! port (so the target drops its half-open connection), and the SYN-ACK that answers a bare
//! SYN (a split handshake) the way a stack in SYN-SENT answers a simultaneous open. Rare next
//! to SYNs, so they are built from scratch with full checksums and no options.

use std::net::IpAddr;

use super::syn::{write_ipv4, write_ipv6};
use super::{EthernetFrame, FRAME_CAP, TcpPacket, ethernet, ipv4, ipv6, tcp};

/// Per-packet fields of a control segment.
#[derive(Clone, Copy, Debug)]
pub struct ControlFields {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// For a teardown RST: the acknowledgement number of the reply that proved the port open.
    pub seq: u32,
    /// The acknowledgement number; meaningful only with `tcp::FLAG_ACK` in `flags`.
    pub ack: u32,
    /// `tcp::FLAG_RST`, or `FLAG_SYN | FLAG_ACK` for a split-handshake answer.
    pub flags: u8,
    pub ttl: u8,
    /// The advertised window; `None` for the default: Linux's initial receive window on a
    /// segment with SYN, none otherwise. Test peers set it to answer like a given stack.
    pub window: Option<u16>,
}

impl ControlFields {
    /// The teardown RST for a proven open port: its sequence number is the acknowledgement
    /// number the target sent, so it falls inside the target's window.
    pub fn rst(
        macs: ([u8; 6], [u8; 6]),
        src: IpAddr,
        dst: IpAddr,
        ports: (u16, u16),
        seq: u32,
        ttl: u8,
    ) -> Self {
        ControlFields {
            src_mac: macs.0,
            dst_mac: macs.1,
            src,
            dst,
            sport: ports.0,
            dport: ports.1,
            seq,
            ack: 0,
            flags: tcp::FLAG_RST,
            ttl,
            window: None,
        }
    }

    /// The segment as a frame of its own (empty for mixed families): for tests and test
    /// peers; the engine builds into its send ring with `build_control`.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut out = [0u8; FRAME_CAP];
        let n = build_control(&mut out, self);
        out[..n].to_vec()
    }
}

/// The window of a split-handshake SYN-ACK: Linux's initial receive window.
const SYN_ACK_WINDOW: u16 = 64240;

/// Write the segment `f` into `out` (at least FRAME_CAP bytes); returns the frame length.
/// Returns 0 and writes nothing when `src` and `dst` are of different families or `out` is
/// too short.
pub fn build_control(out: &mut [u8], f: &ControlFields) -> usize {
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
    t.set_ack_number(f.ack);
    t.set_header_len(TCP_LEN);
    t.set_flags(f.flags);
    // By default a SYN-ACK opens a window like any stack's; a RST advertises none.
    let default = if f.flags & tcp::FLAG_SYN != 0 {
        SYN_ACK_WINDOW
    } else {
        0
    };
    t.set_window_len(f.window.unwrap_or(default));

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
    use crate::wire::{Ipv4Packet, Ipv6Packet};
    use pnet::packet::Packet;
    use pnet::packet::ethernet::EthernetPacket;
    use pnet::packet::ipv4::{self as pipv4, Ipv4Packet as PIpv4};
    use pnet::packet::ipv6::Ipv6Packet as PIpv6;
    use pnet::packet::tcp::{self as ptcp, TcpFlags, TcpPacket as PTcp};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn fields(src: &str, dst: &str) -> ControlFields {
        ControlFields::rst(
            ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]),
            src.parse().unwrap(),
            dst.parse().unwrap(),
            (40000, 443),
            0xdead_beef,
            64,
        )
    }

    #[test]
    fn rst_v4_checked_by_pnet() {
        let f = fields("198.18.0.1", "198.19.0.9");
        let mut out = [0xffu8; FRAME_CAP];
        let n = build_control(&mut out, &f);
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
        let n = build_control(&mut out, &f);
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
        let n = build_control(&mut out, &f);
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
        assert_eq!(
            build_control(&mut out, &fields("198.18.0.1", "2001:db8::2")),
            0
        );
        assert_eq!(
            build_control(&mut out[..53], &fields("198.18.0.1", "198.18.0.2")),
            0
        );
        assert_eq!(
            build_control(&mut out[..73], &fields("2001:db8::1", "2001:db8::2")),
            0
        );
    }

    #[test]
    fn syn_ack_carries_both_numbers_and_a_window() {
        for (src, dst) in [("198.18.0.1", "198.19.0.9"), ("2001:db8::1", "2001:db8::2")] {
            let f = ControlFields {
                ack: 0x1234_5679,
                flags: tcp::FLAG_SYN | tcp::FLAG_ACK,
                ..fields(src, dst)
            };
            let mut out = [0u8; FRAME_CAP];
            let n = build_control(&mut out, &f);
            let e = EthernetPacket::new(&out[..n]).unwrap();
            let (t, ok) = match (f.src, f.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    let ip = PIpv4::new(e.payload()).unwrap();
                    let t = PTcp::owned(ip.payload().to_vec()).unwrap();
                    let ok = t.get_checksum() == ptcp::ipv4_checksum(&t, &s, &d);
                    (t, ok)
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    let ip = PIpv6::new(e.payload()).unwrap();
                    let t = PTcp::owned(ip.payload().to_vec()).unwrap();
                    let ok = t.get_checksum() == ptcp::ipv6_checksum(&t, &s, &d);
                    (t, ok)
                }
                _ => unreachable!(),
            };
            assert!(ok, "{src}");
            assert_eq!(t.get_flags(), TcpFlags::SYN | TcpFlags::ACK);
            assert_eq!(
                (t.get_sequence(), t.get_acknowledgement(), t.get_window()),
                (0xdead_beef, 0x1234_5679, SYN_ACK_WINDOW)
            );
        }
    }

    #[test]
    fn a_window_given_is_kept_for_any_flags() {
        for flags in [tcp::FLAG_SYN, tcp::FLAG_ACK, tcp::FLAG_RST] {
            let f = ControlFields {
                flags,
                window: Some(65535),
                ..fields("2001:db8::1", "2001:db8::2")
            };
            let frame = f.to_frame();
            let ip = PIpv6::new(&frame[14..]).unwrap();
            let t = PTcp::new(ip.payload()).unwrap();
            let (s, d): (Ipv6Addr, Ipv6Addr) = (
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            );
            assert_eq!(t.get_checksum(), ptcp::ipv6_checksum(&t, &s, &d));
            assert_eq!((t.get_flags(), t.get_window()), (flags, 65535));
        }
    }
}
