//! The next hop's MAC address: from the kernel's neighbour table when it has one, else by
//! asking the wire ourselves (ARP request / IPv6 Neighbor Solicitation).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use super::socket::{
    ETH_P_ARP, ETH_P_IPV6, PACKET_IGNORE_OUTGOING, PACKET_OUTGOING, SOL_PACKET, open_bound,
};
use super::{IoError, Link};
use crate::wire::checksum;

const TRIES: u32 = 3;
const TRY_WAIT: Duration = Duration::from_millis(350);

/// Neighbour table first, then ARP / NDP on the wire; `NoNeighbour` when nobody answers.
pub(crate) fn next_hop_mac(link: &Link, src: IpAddr, hop: IpAddr) -> Result<[u8; 6], IoError> {
    let cached = match hop {
        IpAddr::V4(h) => std::fs::read_to_string("/proc/net/arp")
            .ok()
            .and_then(|t| parse_arp(&t, h, &link.name)),
        IpAddr::V6(h) => Command::new("ip")
            .args(["-6", "neigh", "show", "dev", &link.name])
            .output()
            .ok()
            .and_then(|o| parse_ip_neigh(&String::from_utf8_lossy(&o.stdout), h)),
    };
    if let Some(mac) = cached {
        return Ok(mac);
    }
    resolve(link, src, hop)?.ok_or(IoError::NoNeighbour(hop))
}

/// /proc/net/arp: IP address, HW type, Flags, HW address, Mask, Device.
fn parse_arp(text: &str, ip: Ipv4Addr, ifname: &str) -> Option<[u8; 6]> {
    const ATF_COM: u32 = 0x02;
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let flags = u32::from_str_radix(f.get(2)?.trim_start_matches("0x"), 16).ok()?;
        if f.get(5)? != &ifname
            || f.first()?.parse::<Ipv4Addr>().ok()? != ip
            || flags & ATF_COM == 0
        {
            return None;
        }
        parse_mac(f.get(3)?).filter(|m| m != &[0; 6])
    })
}

/// `ip -6 neigh show dev X` lines: `fe80::1 lladdr 52:54:00:12:34:56 router REACHABLE`.
fn parse_ip_neigh(text: &str, ip: Ipv6Addr) -> Option<[u8; 6]> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first()?.parse::<Ipv6Addr>().ok()? != ip
            || f.iter().any(|w| *w == "FAILED" || *w == "INCOMPLETE")
        {
            return None;
        }
        let at = f.iter().position(|w| *w == "lladdr")?;
        parse_mac(f.get(at + 1)?)
    })
}

pub(crate) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Ask the link who has `hop`: up to TRIES requests, TRY_WAIT each.
fn resolve(link: &Link, src: IpAddr, hop: IpAddr) -> Result<Option<[u8; 6]>, IoError> {
    let (proto, request) = match (src, hop) {
        (IpAddr::V4(s), IpAddr::V4(h)) => (ETH_P_ARP, arp_request(link.mac, s, h)),
        (IpAddr::V6(s), IpAddr::V6(h)) => (ETH_P_IPV6, neighbor_solicitation(link.mac, s, h)),
        _ => return Ok(None),
    };
    let sock = open_bound(&link.name, link.index, proto)?;
    // Our own request would otherwise come back to us as an outgoing copy.
    let _ = sock.set_opt(SOL_PACKET, PACKET_IGNORE_OUTGOING, &1i32);
    let mut buf = [0u8; 2048];
    for _ in 0..TRIES {
        sock.send(&request)
            .map_err(|e| IoError::os(format!("send neighbour request on '{}'", link.name), e))?;
        let deadline = Instant::now() + TRY_WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if !sock
                .wait(libc::POLLIN, left)
                .map_err(|e| IoError::os("wait for neighbour reply", e))?
            {
                continue;
            }
            while let Some((n, pkttype)) = sock
                .recv(&mut buf)
                .map_err(|e| IoError::os("read neighbour reply", e))?
            {
                if pkttype == PACKET_OUTGOING {
                    continue;
                }
                let frame = &buf[..n];
                let mac = match hop {
                    IpAddr::V4(h) => parse_arp_reply(frame, h),
                    IpAddr::V6(h) => parse_neighbor_advert(frame, h),
                };
                if mac.is_some() {
                    return Ok(mac);
                }
            }
        }
    }
    Ok(None)
}

fn arp_request(my_mac: [u8; 6], src: Ipv4Addr, hop: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&my_mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]); // ethernet, IPv4, request
    f.extend_from_slice(&my_mac);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&hop.octets());
    f.resize(60, 0); // minimum ethernet frame
    f
}

fn parse_arp_reply(f: &[u8], hop: Ipv4Addr) -> Option<[u8; 6]> {
    let arp = f.get(14..42)?;
    if f.get(12..14)? != ETH_P_ARP.to_be_bytes()
        || arp[..8] != [0, 1, 8, 0, 6, 4, 0, 2]
        || arp[14..18] != hop.octets()
    {
        return None;
    }
    arp[8..14].try_into().ok()
}

fn solicited_node(hop: Ipv6Addr) -> Ipv6Addr {
    let o = hop.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

fn neighbor_solicitation(my_mac: [u8; 6], src: Ipv6Addr, hop: Ipv6Addr) -> Vec<u8> {
    let dst = solicited_node(hop);
    let d = dst.octets();
    let mut f = Vec::with_capacity(86);
    f.extend_from_slice(&[0x33, 0x33, d[12], d[13], d[14], d[15]]);
    f.extend_from_slice(&my_mac);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    let icmp_len: u16 = 32; // header 8 + target 16 + source link-layer option 8
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&icmp_len.to_be_bytes());
    f.extend_from_slice(&[58, 255]); // ICMPv6, hop limit 255 as RFC 4861 requires
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&d);
    let icmp_at = f.len();
    f.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&hop.octets());
    f.extend_from_slice(&[1, 1]);
    f.extend_from_slice(&my_mac);
    let sum = icmpv6_checksum(src, dst, &f[icmp_at..]);
    f[icmp_at + 2..icmp_at + 4].copy_from_slice(&sum.to_be_bytes());
    f
}

fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, body: &[u8]) -> u16 {
    let pseudo = checksum::pseudo_v6(src, dst, 58, body.len() as u32);
    !checksum::fold(checksum::add_bytes(pseudo, body))
}

/// A Neighbor Advertisement for `hop`: its target link-layer option, else the frame source.
fn parse_neighbor_advert(f: &[u8], hop: Ipv6Addr) -> Option<[u8; 6]> {
    if f.get(12..14)? != ETH_P_IPV6.to_be_bytes() || *f.get(20)? != 58 {
        return None;
    }
    let icmp = f.get(54..)?;
    if *icmp.first()? != 136 || icmp.get(8..24)? != hop.octets() {
        return None;
    }
    let mut opts = icmp.get(24..)?;
    while opts.len() >= 8 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 {
            break;
        }
        if opts[0] == 2 {
            return opts.get(2..8)?.try_into().ok();
        }
        opts = opts.get(len..)?;
    }
    f.get(6..12)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARP: &str = "\
IP address       HW type     Flags       HW address            Mask     Device
198.18.0.1       0x1         0x2         52:54:00:12:34:56     *        eth0
198.18.0.2       0x1         0x0         00:00:00:00:00:00     *        eth0
198.18.0.3       0x1         0x2         52:54:00:aa:bb:cc     *        eth1
";

    #[test]
    fn parses_proc_net_arp() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            parse_arp(ARP, ip("198.18.0.1"), "eth0"),
            Some([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(parse_arp(ARP, ip("198.18.0.2"), "eth0"), None); // incomplete
        assert_eq!(parse_arp(ARP, ip("198.18.0.3"), "eth0"), None); // other interface
        assert_eq!(parse_arp(ARP, ip("198.18.0.9"), "eth0"), None);
        assert_eq!(parse_arp("garbage", ip("198.18.0.1"), "eth0"), None);
    }

    #[test]
    fn parses_ip_neigh_output() {
        let text = "fe80::1 lladdr 52:54:00:12:34:56 router REACHABLE\n\
                    2001:db8::2 FAILED\n\
                    2001:db8::3 lladdr 02:00:00:00:00:03 STALE\n";
        let ip = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(
            parse_ip_neigh(text, ip("fe80::1")),
            Some([0x52, 0x54, 0, 0x12, 0x34, 0x56])
        );
        assert_eq!(parse_ip_neigh(text, ip("2001:db8::2")), None);
        assert_eq!(
            parse_ip_neigh(text, ip("2001:db8::3")),
            Some([2, 0, 0, 0, 0, 3])
        );
    }

    #[test]
    fn parses_macs_strictly() {
        assert_eq!(
            parse_mac("0a:0b:0c:0d:0e:0f"),
            Some([10, 11, 12, 13, 14, 15])
        );
        assert_eq!(parse_mac("0a:0b:0c:0d:0e"), None);
        assert_eq!(parse_mac("0a:0b:0c:0d:0e:0f:01"), None);
        assert_eq!(parse_mac("zz:0b:0c:0d:0e:0f"), None);
    }

    #[test]
    fn arp_request_and_reply_round_trip() {
        let me = [2, 0, 0, 0, 0, 1];
        let req = arp_request(
            me,
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
        );
        assert_eq!(req.len(), 60);
        assert_eq!(&req[..6], &[0xff; 6]);
        // Turn it into the reply the gateway would send.
        let gw = [2, 0, 0, 0, 0, 9];
        let mut rep = req.clone();
        rep[21] = 2;
        rep[22..28].copy_from_slice(&gw);
        rep[28..32].copy_from_slice(&[198, 18, 0, 1]);
        assert_eq!(
            parse_arp_reply(&rep, Ipv4Addr::new(198, 18, 0, 1)),
            Some(gw)
        );
        assert_eq!(parse_arp_reply(&rep, Ipv4Addr::new(198, 18, 0, 7)), None);
        assert_eq!(parse_arp_reply(&req, Ipv4Addr::new(198, 18, 0, 1)), None);
        assert_eq!(
            parse_arp_reply(&rep[..30], Ipv4Addr::new(198, 18, 0, 1)),
            None
        );
    }

    #[test]
    fn neighbor_solicitation_is_well_formed() {
        let src: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let hop: Ipv6Addr = "2001:db8::1:abcd".parse().unwrap();
        let ns = neighbor_solicitation([2, 0, 0, 0, 0, 1], src, hop);
        assert_eq!(ns.len(), 14 + 40 + 32);
        assert_eq!(&ns[..6], &[0x33, 0x33, 0xff, 0x01, 0xab, 0xcd]);
        assert_eq!(
            &ns[38..54],
            &"ff02::1:ff01:abcd".parse::<Ipv6Addr>().unwrap().octets()
        );
        // A correct checksum sums to zero when verified.
        assert_eq!(icmpv6_checksum(src, solicited_node(hop), &ns[54..]), 0);
    }

    #[test]
    fn neighbor_advert_gives_target_mac() {
        let hop: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let mut na = vec![0u8; 14 + 40 + 32];
        na[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 7]);
        na[12..14].copy_from_slice(&[0x86, 0xdd]);
        na[20] = 58;
        na[54] = 136;
        na[62..78].copy_from_slice(&hop.octets());
        na[78..80].copy_from_slice(&[2, 1]);
        na[80..86].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        assert_eq!(parse_neighbor_advert(&na, hop), Some([2, 0, 0, 0, 0, 9]));
        // Without the option, the ethernet source is used.
        na[78] = 0;
        na[79] = 0;
        assert_eq!(parse_neighbor_advert(&na, hop), Some([2, 0, 0, 0, 0, 7]));
        assert_eq!(
            parse_neighbor_advert(&na, "2001:db8::5".parse().unwrap()),
            None
        );
        assert_eq!(parse_neighbor_advert(&na[..60], hop), None);
    }
}
