//! The next hop's MAC address: from the kernel's neighbour table when it has one, else by
//! asking the wire ourselves (ARP request / IPv6 Neighbor Solicitation).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use super::socket::{
    ETH_P_ARP, ETH_P_IPV6, PACKET_IGNORE_OUTGOING, PACKET_OUTGOING, SOL_PACKET, open_bound,
};
use super::{IoError, Link};
use crate::wire::{FRAME_CAP, neighbour};

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
    let proto = if hop.is_ipv4() { ETH_P_ARP } else { ETH_P_IPV6 };
    let mut request = [0u8; FRAME_CAP];
    let len = neighbour::build_request(&mut request, link.mac, src, hop);
    if len == 0 {
        return Ok(None);
    }
    let request = &request[..len];
    let sock = open_bound(&link.name, link.index, proto)?;
    // Our own request would otherwise come back to us as an outgoing copy.
    let _ = sock.set_opt(SOL_PACKET, PACKET_IGNORE_OUTGOING, &1i32);
    let mut buf = [0u8; 2048];
    for _ in 0..TRIES {
        sock.send(request)
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
                match neighbour::parse_answer(&buf[..n]) {
                    Some((ip, mac)) if ip == hop => return Ok(Some(mac)),
                    _ => {}
                }
            }
        }
    }
    Ok(None)
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
}
