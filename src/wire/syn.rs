//! The SYN template: the whole frame is built once per run, and `fill` patches the per-probe
//! fields and both checksums incrementally (RFC 1624), because summing 60-80 bytes per probe
//! at millions of probes per second is the cost this avoids.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{
    EthernetFrame, FRAME_CAP, Ipv4Packet, Ipv6Packet, TcpPacket, ethernet, ipv4, ipv6, tcp,
};

/// What the SYN looks like apart from its per-probe fields: built once per run.
#[derive(Clone, Debug)]
pub struct SynParams {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: IpAddr,
    pub ttl: u8,
    pub window: u16,
    pub mss: u16,
    pub wscale: u8,
}

/// Per-probe fields of a SYN.
#[derive(Clone, Copy, Debug)]
pub struct SynFields {
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ip_id: u16,
    /// TCP timestamp option value; the target echoes it, which gives a stateless RTT.
    pub tsval: u32,
}

const IP_OFF: usize = ethernet::HEADER_LEN;
/// TCP header with Linux's SYN options: MSS, SACK-permitted, timestamps, NOP, window scale.
const TCP_LEN: usize = 40;
const TCP4_OFF: usize = IP_OFF + ipv4::MIN_HEADER_LEN;
const TCP6_OFF: usize = IP_OFF + ipv6::HEADER_LEN;
const LEN4: usize = TCP4_OFF + TCP_LEN;
const LEN6: usize = TCP6_OFF + TCP_LEN;
/// Offset of TSval within the TCP header (kind and length of the option at 26, 27).
const TSVAL: usize = 28;

// Every patched field starts at an even offset from the start of its checksummed area, so
// each adds whole 16-bit words to the sum.
const _: () = assert!(LEN6 <= FRAME_CAP && TSVAL.is_multiple_of(2));

/// A prebuilt SYN frame; `fill` copies it and patches the per-probe fields with incremental
/// checksums.
#[derive(Clone, Debug)]
pub struct SynTemplate {
    len: usize,
    frame: [u8; FRAME_CAP],
    v6: bool,
    /// Checksums of the template, whose per-probe fields are all zero.
    ip_csum: u16,
    tcp_csum: u16,
}

impl SynTemplate {
    pub fn new(p: &SynParams) -> Self {
        let mut frame = [0u8; FRAME_CAP];
        let (len, tcp_off, ethertype) = match p.src_ip {
            IpAddr::V4(_) => (LEN4, TCP4_OFF, ethernet::ETHERTYPE_IPV4),
            IpAddr::V6(_) => (LEN6, TCP6_OFF, ethernet::ETHERTYPE_IPV6),
        };
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..len]);
        eth.set_dst_addr(p.dst_mac);
        eth.set_src_addr(p.src_mac);
        eth.set_ethertype(ethertype);

        let mut t = TcpPacket::new_unchecked(&mut frame[tcp_off..len]);
        t.set_header_len(TCP_LEN);
        t.set_flags(tcp::FLAG_SYN);
        t.set_window_len(p.window);
        let [m0, m1] = p.mss.to_be_bytes();
        // Linux's order, so the probe looks like an ordinary connect() to a fingerprinter.
        #[rustfmt::skip]
        let options = [
            tcp::OPT_MSS, 4, m0, m1,
            tcp::OPT_SACK_PERM, 2,
            tcp::OPT_TIMESTAMP, 10, 0, 0, 0, 0, 0, 0, 0, 0,
            tcp::OPT_NOP,
            tcp::OPT_WSCALE, 3, p.wscale,
        ];
        t.options_mut().copy_from_slice(&options);

        let (ip_csum, tcp_csum) = match p.src_ip {
            IpAddr::V4(src) => {
                let ip = write_ipv4(
                    &mut frame[IP_OFF..len],
                    src,
                    Ipv4Addr::UNSPECIFIED,
                    p.ttl,
                    0,
                );
                let mut t = TcpPacket::new_unchecked(&mut frame[tcp_off..len]);
                t.fill_checksum_v4(src, Ipv4Addr::UNSPECIFIED);
                (ip, t.checksum())
            }
            IpAddr::V6(src) => {
                write_ipv6(&mut frame[IP_OFF..len], src, Ipv6Addr::UNSPECIFIED, p.ttl);
                let mut t = TcpPacket::new_unchecked(&mut frame[tcp_off..len]);
                t.fill_checksum_v6(src, Ipv6Addr::UNSPECIFIED);
                (0, t.checksum())
            }
        };
        SynTemplate {
            len,
            frame,
            v6: p.src_ip.is_ipv6(),
            ip_csum,
            tcp_csum,
        }
    }

    /// Frame length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Write the SYN for `f` into `out` (at least `len()` bytes); returns the frame length.
    /// `f.dst` must be of the same family as the template's source: otherwise, or when `out`
    /// is too short, nothing is written and 0 is returned.
    #[inline]
    pub fn fill(&self, out: &mut [u8], f: &SynFields) -> usize {
        match (f.dst, self.v6) {
            (IpAddr::V4(dst), false) => self.fill_v4(out, dst, f),
            (IpAddr::V6(dst), true) => self.fill_v6(out, dst, f),
            _ => 0,
        }
    }

    #[inline]
    fn fill_v4(&self, out: &mut [u8], dst: Ipv4Addr, f: &SynFields) -> usize {
        let (Some(out), Some(tmpl)) = (
            out.first_chunk_mut::<LEN4>(),
            self.frame.first_chunk::<LEN4>(),
        ) else {
            return 0;
        };
        *out = *tmpl;
        let d = dst.to_bits();
        let dst_words = (d >> 16) + (d & 0xffff);

        out[IP_OFF + 4..IP_OFF + 6].copy_from_slice(&f.ip_id.to_be_bytes());
        out[IP_OFF + 16..IP_OFF + 20].copy_from_slice(&d.to_be_bytes());
        // RFC 1624 eqn. 3 with every old value zero (~0 adds nothing): HC' = ~(~HC + m').
        let ip = !fold(u32::from(!self.ip_csum) + u32::from(f.ip_id) + dst_words);
        out[IP_OFF + 10..IP_OFF + 12].copy_from_slice(&ip.to_be_bytes());

        let sum = u32::from(!self.tcp_csum) + dst_words + tcp_words(f);
        patch_tcp(&mut out[TCP4_OFF..], f, !fold(sum));
        LEN4
    }

    #[inline]
    fn fill_v6(&self, out: &mut [u8], dst: Ipv6Addr, f: &SynFields) -> usize {
        let (Some(out), Some(tmpl)) = (
            out.first_chunk_mut::<LEN6>(),
            self.frame.first_chunk::<LEN6>(),
        ) else {
            return 0;
        };
        *out = *tmpl;
        let d = dst.to_bits();
        out[IP_OFF + 24..IP_OFF + 40].copy_from_slice(&d.to_be_bytes());
        // 32-bit chunks sum to the same one's-complement value as 16-bit words (2^16 = 1).
        let dst_sum = (d >> 96) as u64
            + ((d >> 64) as u32) as u64
            + ((d >> 32) as u32) as u64
            + (d as u32) as u64;
        let dst_words = fold64(dst_sum);
        let sum = u32::from(!self.tcp_csum) + u32::from(dst_words) + tcp_words(f);
        patch_tcp(&mut out[TCP6_OFF..], f, !fold(sum));
        LEN6
    }
}

/// Sum of the per-probe TCP words (ports, sequence number, TSval).
#[inline(always)]
fn tcp_words(f: &SynFields) -> u32 {
    u32::from(f.sport)
        + u32::from(f.dport)
        + (f.seq >> 16)
        + (f.seq & 0xffff)
        + (f.tsval >> 16)
        + (f.tsval & 0xffff)
}

#[inline(always)]
fn patch_tcp(t: &mut [u8], f: &SynFields, csum: u16) {
    t[0..2].copy_from_slice(&f.sport.to_be_bytes());
    t[2..4].copy_from_slice(&f.dport.to_be_bytes());
    t[4..8].copy_from_slice(&f.seq.to_be_bytes());
    t[16..18].copy_from_slice(&csum.to_be_bytes());
    t[TSVAL..TSVAL + 4].copy_from_slice(&f.tsval.to_be_bytes());
}

/// Fold a u32 sum to 16 bits with end-around carry: two rounds suffice for any u32.
#[inline(always)]
fn fold(x: u32) -> u16 {
    let x = (x & 0xffff) + (x >> 16);
    ((x & 0xffff) + (x >> 16)) as u16
}

#[inline(always)]
fn fold64(x: u64) -> u16 {
    let x = (x & 0xffff_ffff) + (x >> 32);
    let x = (x & 0xffff_ffff) + (x >> 32);
    fold(x as u32)
}

/// Write a 20-byte IPv4 header (DF, no options) carrying TCP; returns its checksum.
pub(super) fn write_ipv4(b: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, ident: u16) -> u16 {
    let total = b.len() as u16;
    let mut ip = Ipv4Packet::new_unchecked(b);
    ip.set_version_header_len(ipv4::MIN_HEADER_LEN);
    ip.set_tos(0);
    ip.set_total_len(total);
    ip.set_ident(ident);
    ip.set_flags_frag(ipv4::FLAG_DF);
    ip.set_ttl(ttl);
    ip.set_protocol(ipv4::PROTO_TCP);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    ip.fill_checksum();
    ip.checksum()
}

/// Write a 40-byte IPv6 header carrying TCP.
pub(super) fn write_ipv6(b: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) {
    let payload = (b.len() - ipv6::HEADER_LEN) as u16;
    let mut ip = Ipv6Packet::new_unchecked(b);
    ip.set_version();
    ip.set_payload_len(payload);
    ip.set_next_header(ipv6::NEXT_TCP);
    ip.set_hop_limit(hop_limit);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use crate::wire::testdata::{Rng, SYN_V4, SYN_V6, hex};
    use pnet::packet::ethernet::{EtherTypes, MutableEthernetPacket};
    use pnet::packet::ip::IpNextHeaderProtocols;
    use pnet::packet::ipv4::{self as pipv4, MutableIpv4Packet};
    use pnet::packet::ipv6::MutableIpv6Packet;
    use pnet::packet::tcp::{self as ptcp, MutableTcpPacket, TcpFlags, TcpOption};
    use pnet::util::MacAddr;

    fn params(src: IpAddr) -> SynParams {
        SynParams {
            src_mac: [0x02, 0x11, 0x22, 0x33, 0x44, 0x55],
            dst_mac: [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee],
            src_ip: src,
            ttl: 64,
            window: 64240,
            mss: 1460,
            wscale: 7,
        }
    }

    /// The same SYN built field by field with pnet, checksums by pnet.
    fn pnet_syn(p: &SynParams, f: &SynFields) -> Vec<u8> {
        let tcp_len = 40;
        let ip_len = if p.src_ip.is_ipv4() { 20 } else { 40 };
        let mut v = vec![0u8; 14 + ip_len + tcp_len];
        {
            let mut t = MutableTcpPacket::new(&mut v[14 + ip_len..]).unwrap();
            t.set_source(f.sport);
            t.set_destination(f.dport);
            t.set_sequence(f.seq);
            t.set_data_offset(10);
            t.set_flags(TcpFlags::SYN);
            t.set_window(p.window);
            t.set_options(&[
                TcpOption::mss(p.mss),
                TcpOption::sack_perm(),
                TcpOption::timestamp(f.tsval, 0),
                TcpOption::nop(),
                TcpOption::wscale(p.wscale),
            ]);
            let c = match (p.src_ip, f.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => ptcp::ipv4_checksum(&t.to_immutable(), &s, &d),
                (IpAddr::V6(s), IpAddr::V6(d)) => ptcp::ipv6_checksum(&t.to_immutable(), &s, &d),
                _ => unreachable!(),
            };
            t.set_checksum(c);
        }
        match (p.src_ip, f.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut ip = MutableIpv4Packet::new(&mut v[14..]).unwrap();
                ip.set_version(4);
                ip.set_header_length(5);
                ip.set_total_length(60);
                ip.set_identification(f.ip_id);
                ip.set_flags(pipv4::Ipv4Flags::DontFragment);
                ip.set_ttl(p.ttl);
                ip.set_next_level_protocol(IpNextHeaderProtocols::Tcp);
                ip.set_source(s);
                ip.set_destination(d);
                let c = pipv4::checksum(&ip.to_immutable());
                ip.set_checksum(c);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let mut ip = MutableIpv6Packet::new(&mut v[14..]).unwrap();
                ip.set_version(6);
                ip.set_payload_length(40);
                ip.set_next_header(IpNextHeaderProtocols::Tcp);
                ip.set_hop_limit(p.ttl);
                ip.set_source(s);
                ip.set_destination(d);
            }
            _ => unreachable!(),
        }
        let mut e = MutableEthernetPacket::new(&mut v[..]).unwrap();
        e.set_destination(MacAddr::from(p.dst_mac));
        e.set_source(MacAddr::from(p.src_mac));
        e.set_ethertype(if p.src_ip.is_ipv4() {
            EtherTypes::Ipv4
        } else {
            EtherTypes::Ipv6
        });
        v
    }

    fn fill_vec(t: &SynTemplate, f: &SynFields) -> Vec<u8> {
        let mut out = [0u8; FRAME_CAP];
        let n = t.fill(&mut out, f);
        assert_eq!(n, t.len());
        out[..n].to_vec()
    }

    /// Replace lo's partial TCP checksum with the full one, computed by pnet.
    fn finish_captured(mut v: Vec<u8>) -> Vec<u8> {
        let (ip_len, tcp_off) = if v[12] == 0x08 { (20, 34) } else { (40, 54) };
        let _ = ip_len;
        let mut t = MutableTcpPacket::new(&mut v[tcp_off..]).unwrap();
        let c = if tcp_off == 34 {
            let l = std::net::Ipv4Addr::LOCALHOST;
            ptcp::ipv4_checksum(&t.to_immutable(), &l, &l)
        } else {
            let l = std::net::Ipv6Addr::LOCALHOST;
            ptcp::ipv6_checksum(&t.to_immutable(), &l, &l)
        };
        t.set_checksum(c);
        v
    }

    #[test]
    fn matches_captured_linux_syn_v4() {
        let want = finish_captured(hex(SYN_V4));
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let p = SynParams {
            src_mac: [0; 6],
            dst_mac: [0; 6],
            src_ip: lo,
            ttl: 64,
            window: 65495,
            mss: 65495,
            wscale: 10,
        };
        let f = SynFields {
            dst: lo,
            sport: 55366,
            dport: 47999,
            seq: 1863324546,
            ip_id: 0x80d1,
            tsval: 4241581052,
        };
        assert_eq!(fill_vec(&SynTemplate::new(&p), &f), want);
    }

    #[test]
    fn matches_captured_linux_syn_v6() {
        let mut want = finish_captured(hex(SYN_V6));
        // Linux sets a flow label; synprobe leaves it zero.
        want[15..18].copy_from_slice(&[0, 0, 0]);
        let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let p = SynParams {
            src_mac: [0; 6],
            dst_mac: [0; 6],
            src_ip: lo,
            ttl: 64,
            window: 65476,
            mss: 65476,
            wscale: 10,
        };
        let f = SynFields {
            dst: lo,
            sport: 40546,
            dport: 47999,
            seq: 2640604991,
            ip_id: 0,
            tsval: 646732023,
        };
        assert_eq!(fill_vec(&SynTemplate::new(&p), &f), want);
    }

    fn random_fields(r: &mut Rng, v6: bool) -> SynFields {
        let dst = if v6 {
            IpAddr::V6(Ipv6Addr::from(
                (u128::from(r.next()) << 64) | u128::from(r.next()),
            ))
        } else {
            IpAddr::V4(Ipv4Addr::from(r.next() as u32))
        };
        let x = r.next();
        SynFields {
            dst,
            sport: x as u16,
            dport: (x >> 16) as u16,
            seq: (x >> 32) as u32,
            ip_id: r.next() as u16,
            tsval: r.next() as u32,
        }
    }

    #[test]
    fn same_bytes_as_pnet() {
        let mut r = Rng(0x5eed_1234_abcd_ef01);
        for src in ["198.18.0.1", "2001:db8::1"] {
            let p = params(src.parse().unwrap());
            let t = SynTemplate::new(&p);
            for _ in 0..500 {
                let f = random_fields(&mut r, p.src_ip.is_ipv6());
                assert_eq!(fill_vec(&t, &f), pnet_syn(&p, &f), "{f:?}");
            }
        }
    }

    /// Incremental checksums against a full recompute, for many random field values, with
    /// random template parameters too; and the frame parses back.
    #[test]
    fn fill_matches_full_recompute() {
        let mut r = Rng(0x0123_4567_89ab_cdef);
        for i in 0..40_000 {
            let v6 = i % 2 == 1;
            let src = random_fields(&mut r, v6).dst;
            let x = r.next();
            let p = SynParams {
                src_mac: [x as u8, 1, 2, 3, 4, 5],
                dst_mac: [6, 7, 8, 9, 10, (x >> 8) as u8],
                src_ip: src,
                ttl: (x >> 16) as u8,
                window: (x >> 24) as u16,
                mss: (x >> 40) as u16,
                wscale: (x >> 56) as u8,
            };
            let t = SynTemplate::new(&p);
            let f = random_fields(&mut r, v6);
            let got = fill_vec(&t, &f);

            let mut full = got.clone();
            let eth = EthernetFrame::new_checked(&got[..]).unwrap();
            match (src, f.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    assert_eq!(eth.ethertype(), ethernet::ETHERTYPE_IPV4);
                    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                    assert!(ip.verify_checksum());
                    assert_eq!((ip.src_addr(), ip.dst_addr()), (s, d));
                    assert_eq!((ip.ident(), ip.ttl(), ip.protocol()), (f.ip_id, p.ttl, 6));
                    assert!(ip.dont_frag());
                    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
                    assert!(tcp.verify_checksum_v4(s, d));
                    check_tcp(&tcp, &p, &f);

                    full[24..26].fill(0);
                    full[50..52].fill(0);
                    let ipc = checksum::ipv4_header(&full[14..34]);
                    let tc = checksum::tcp_v4(s, d, &full[34..74]);
                    assert_eq!(ipc, ip.checksum(), "{p:?} {f:?}");
                    assert_eq!(tc, tcp.checksum(), "{p:?} {f:?}");
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    assert_eq!(eth.ethertype(), ethernet::ETHERTYPE_IPV6);
                    let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
                    assert_eq!((ip.src_addr(), ip.dst_addr()), (s, d));
                    assert_eq!((ip.hop_limit(), ip.next_header()), (p.ttl, 6));
                    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
                    assert!(tcp.verify_checksum_v6(s, d));
                    check_tcp(&tcp, &p, &f);

                    full[70..72].fill(0);
                    let tc = checksum::tcp_v6(s, d, &full[54..94]);
                    assert_eq!(tc, tcp.checksum(), "{p:?} {f:?}");
                }
                _ => unreachable!(),
            }
        }
    }

    fn check_tcp(t: &TcpPacket<&[u8]>, p: &SynParams, f: &SynFields) {
        assert_eq!((t.src_port(), t.dst_port()), (f.sport, f.dport));
        assert_eq!((t.seq_number(), t.ack_number()), (f.seq, 0));
        assert_eq!((t.header_len(), t.flags()), (40, tcp::FLAG_SYN));
        assert_eq!(t.window_len(), p.window);
        assert_eq!(t.timestamp(), Some((f.tsval, 0)));
        let o = t.options();
        assert_eq!(&o[..4], &[2, 4, (p.mss >> 8) as u8, p.mss as u8]);
        assert_eq!(&o[16..], &[1, 3, 3, p.wscale]);
        assert!(t.payload().is_empty());
    }

    #[test]
    fn fill_refuses_wrong_family_and_short_buffer() {
        let t4 = SynTemplate::new(&params("198.18.0.1".parse().unwrap()));
        let t6 = SynTemplate::new(&params("2001:db8::1".parse().unwrap()));
        assert_eq!((t4.len(), t6.len()), (74, 94));
        assert!(!t4.is_empty());
        let mut r = Rng(7);
        let f4 = random_fields(&mut r, false);
        let f6 = random_fields(&mut r, true);
        let mut out = [0u8; FRAME_CAP];
        assert_eq!(t4.fill(&mut out, &f6), 0);
        assert_eq!(t6.fill(&mut out, &f4), 0);
        assert_eq!(t4.fill(&mut out[..73], &f4), 0);
        assert_eq!(t6.fill(&mut out[..93], &f6), 0);
        assert_eq!(out, [0u8; FRAME_CAP]);
        assert_eq!(t4.fill(&mut out[..74], &f4), 74);
    }
}
