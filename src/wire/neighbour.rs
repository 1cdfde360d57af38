//! Asking the link who has an address, and reading the answer: ARP for IPv4, Neighbor
//! Solicitation / Advertisement (RFC 4861) for IPv6. Used for a gateway before a run and for
//! every on-link target during one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum;

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// ARP over ethernet for IPv4: hardware type 1, protocol 0x0800, lengths 6 and 4.
const ARP_HEAD: [u8; 6] = [0, 1, 8, 0, 6, 4];
const ARP_REQUEST: u8 = 1;
const ARP_REPLY: u8 = 2;
const NEXT_ICMPV6: u8 = 58;
const NEIGHBOR_SOLICITATION: u8 = 135;
const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// Length of an ARP request frame (the ethernet minimum, padding included).
const ARP_LEN: usize = 60;
/// Ethernet, IPv6, and an NS: 8 bytes of header, the target, a source link-layer option.
const NS_LEN: usize = 14 + 40 + 32;

/// Write into `out` the request asking for `target`'s MAC, from `src` (our address on the
/// link) and `my_mac`; returns the frame length, 0 if the families differ or `out` is short.
pub fn build_request(out: &mut [u8], my_mac: [u8; 6], src: IpAddr, target: IpAddr) -> usize {
    match (src, target) {
        (IpAddr::V4(s), IpAddr::V4(t)) => arp_request(out, my_mac, s, t),
        (IpAddr::V6(s), IpAddr::V6(t)) => neighbor_solicitation(out, my_mac, s, t),
        _ => 0,
    }
}

fn arp_request(out: &mut [u8], my_mac: [u8; 6], src: Ipv4Addr, target: Ipv4Addr) -> usize {
    let Some(f) = out.get_mut(..ARP_LEN) else {
        return 0;
    };
    f.fill(0);
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&my_mac);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..20].copy_from_slice(&ARP_HEAD);
    f[21] = ARP_REQUEST;
    f[22..28].copy_from_slice(&my_mac);
    f[28..32].copy_from_slice(&src.octets());
    f[38..42].copy_from_slice(&target.octets());
    ARP_LEN
}

/// The solicited-node multicast address an NS for `target` goes to.
fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let o = target.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

fn neighbor_solicitation(
    out: &mut [u8],
    my_mac: [u8; 6],
    src: Ipv6Addr,
    target: Ipv6Addr,
) -> usize {
    let Some(f) = out.get_mut(..NS_LEN) else {
        return 0;
    };
    let dst = solicited_node(target);
    let d = dst.octets();
    f.fill(0);
    f[..6].copy_from_slice(&[0x33, 0x33, d[12], d[13], d[14], d[15]]);
    f[6..12].copy_from_slice(&my_mac);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    f[14] = 0x60;
    f[18..20].copy_from_slice(&32u16.to_be_bytes());
    // ICMPv6, and hop limit 255 as RFC 4861 requires.
    (f[20], f[21]) = (NEXT_ICMPV6, 255);
    f[22..38].copy_from_slice(&src.octets());
    f[38..54].copy_from_slice(&d);
    f[54] = NEIGHBOR_SOLICITATION;
    f[62..78].copy_from_slice(&target.octets());
    // Source link-layer address option: type 1, 8 bytes.
    (f[78], f[79]) = (1, 1);
    f[80..86].copy_from_slice(&my_mac);
    let pseudo = checksum::pseudo_v6(src, dst, NEXT_ICMPV6, 32);
    let sum = !checksum::fold(checksum::add_bytes(pseudo, &f[54..86]));
    f[56..58].copy_from_slice(&sum.to_be_bytes());
    NS_LEN
}

/// An answer to a request: the address asked about and its MAC (an ARP reply's sender, a
/// Neighbor Advertisement's target with its target link-layer option, else the frame's
/// source). `None` for anything else; never panics.
pub fn parse_answer(f: &[u8]) -> Option<(IpAddr, [u8; 6])> {
    match u16::from_be_bytes(f.get(12..14)?.try_into().ok()?) {
        ETHERTYPE_ARP => {
            let arp = f.get(14..42)?;
            if arp[..6] != ARP_HEAD || arp[6..8] != [0, ARP_REPLY] {
                return None;
            }
            let ip = Ipv4Addr::from(<[u8; 4]>::try_from(&arp[14..18]).ok()?);
            Some((IpAddr::V4(ip), arp[8..14].try_into().ok()?))
        }
        ETHERTYPE_IPV6 => {
            if *f.get(20)? != NEXT_ICMPV6 {
                return None;
            }
            let icmp = f.get(54..)?;
            if *icmp.first()? != NEIGHBOR_ADVERTISEMENT {
                return None;
            }
            let target = Ipv6Addr::from(<[u8; 16]>::try_from(icmp.get(8..24)?).ok()?);
            let mut opts = icmp.get(24..)?;
            while opts.len() >= 8 {
                let len = usize::from(opts[1]) * 8;
                if len == 0 {
                    break;
                }
                if opts[0] == 2 {
                    return Some((IpAddr::V6(target), opts.get(2..8)?.try_into().ok()?));
                }
                opts = opts.get(len..)?;
            }
            Some((IpAddr::V6(target), f.get(6..12)?.try_into().ok()?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FRAME_CAP;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn arp_request_and_reply_round_trip() {
        let me = [2, 0, 0, 0, 0, 1];
        let mut req = [0u8; FRAME_CAP];
        let n = build_request(&mut req, me, ip("198.18.0.2"), ip("198.18.0.1"));
        assert_eq!(n, 60);
        let req = &req[..n];
        assert_eq!(&req[..6], &[0xff; 6]);
        assert_eq!(&req[38..42], &[198, 18, 0, 1]);
        assert_eq!(parse_answer(req), None, "a request is no answer");
        // Turn it into the reply the target would send.
        let them = [2, 0, 0, 0, 0, 9];
        let mut rep = req.to_vec();
        rep[21] = 2;
        rep[22..28].copy_from_slice(&them);
        rep[28..32].copy_from_slice(&[198, 18, 0, 1]);
        assert_eq!(parse_answer(&rep), Some((ip("198.18.0.1"), them)));
        assert_eq!(parse_answer(&rep[..30]), None);
    }

    #[test]
    fn neighbor_solicitation_is_well_formed() {
        let src: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let target: Ipv6Addr = "2001:db8::1:abcd".parse().unwrap();
        let mut ns = [0u8; FRAME_CAP];
        let n = build_request(&mut ns, [2, 0, 0, 0, 0, 1], src.into(), target.into());
        assert_eq!(n, NS_LEN);
        assert_eq!(&ns[..6], &[0x33, 0x33, 0xff, 0x01, 0xab, 0xcd]);
        assert_eq!(
            &ns[38..54],
            &"ff02::1:ff01:abcd".parse::<Ipv6Addr>().unwrap().octets()
        );
        // A correct checksum sums to all ones when verified.
        let pseudo = checksum::pseudo_v6(src, solicited_node(target), 58, 32);
        assert_eq!(
            checksum::fold(checksum::add_bytes(pseudo, &ns[54..n])),
            0xffff
        );
        assert_eq!(parse_answer(&ns[..n]), None, "a solicitation is no answer");
        // Mixed families and short buffers write nothing.
        assert_eq!(
            build_request(&mut ns, [0; 6], src.into(), ip("198.18.0.1")),
            0
        );
        assert_eq!(
            build_request(&mut ns[..59], [0; 6], ip("198.18.0.2"), ip("198.18.0.1")),
            0
        );
    }

    #[test]
    fn neighbor_advert_gives_target_mac() {
        let target: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut na = vec![0u8; 14 + 40 + 32];
        na[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 7]);
        na[12..14].copy_from_slice(&[0x86, 0xdd]);
        na[20] = 58;
        na[54] = 136;
        na[62..78].copy_from_slice(&target.octets());
        na[78..80].copy_from_slice(&[2, 1]);
        na[80..86].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        assert_eq!(parse_answer(&na), Some((target.into(), [2, 0, 0, 0, 0, 9])));
        // Without the option, the ethernet source is used.
        na[78] = 0;
        na[79] = 0;
        assert_eq!(parse_answer(&na), Some((target.into(), [2, 0, 0, 0, 0, 7])));
        assert_eq!(parse_answer(&na[..60]), None);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let mut r = crate::wire::testdata::Rng(77);
        let mut buf = [0u8; 128];
        for i in 0..50_000 {
            let n = (r.next() % 128) as usize;
            for b in &mut buf[..n] {
                *b = r.next() as u8;
            }
            if n > 14 {
                let et: [u16; 2] = [ETHERTYPE_ARP, ETHERTYPE_IPV6];
                buf[12..14].copy_from_slice(&et[i % 2].to_be_bytes());
            }
            let _ = parse_answer(&buf[..n]);
        }
    }
}
