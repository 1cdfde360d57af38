//! Which interface a target is reached through, our address on it, and the next hop.
//!
//! The kernel already knows the answer; we ask it without sending anything: `connect()` on
//! a UDP socket picks the route and source address, and /proc/net/route (ipv6_route) gives
//! the gateway for that interface.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use super::neigh::next_hop_mac;
use super::{IoError, Link, NetPath, PathOptions};

const RTF_UP: u32 = 0x0001;
const RTF_GATEWAY: u32 = 0x0002;
const RTF_REJECT: u32 = 0x0200;

/// Find the interface the kernel routes `target` through, our address on it and the next
/// hop's MAC (neighbour table; resolved with ARP / NDP when absent). Overrides win.
pub fn find_path(target: IpAddr, opts: &PathOptions) -> Result<NetPath, IoError> {
    let ifaces = pnet::datalink::interfaces();
    let kernel_src = kernel_source(target);
    let owner = |ip: IpAddr| ifaces.iter().find(|i| i.ips.iter().any(|n| n.ip() == ip));

    let iface = match &opts.interface {
        Some(name) => ifaces
            .iter()
            .find(|i| &i.name == name)
            .ok_or_else(|| IoError::NoSuchInterface(name.clone()))?,
        None => {
            let src = kernel_src.as_ref().map_err(|_| IoError::NoRoute(target))?;
            // A local or loopback target is routed through lo, whoever owns the address.
            if target.is_loopback() || owner(target).is_some() {
                ifaces
                    .iter()
                    .find(|i| i.is_loopback())
                    .ok_or_else(|| IoError::NoSuchInterface("lo".into()))?
            } else {
                owner(*src).ok_or(IoError::NoRoute(target))?
            }
        }
    };
    let link = Link::from_pnet(iface);

    let src_ip = match opts.source_ip {
        Some(ip) => ip,
        None => match kernel_src {
            Ok(ip) if iface.ips.iter().any(|n| n.ip() == ip) || link.loopback => ip,
            _ => iface
                .ips
                .iter()
                .map(|n| n.ip())
                .filter(|ip| ip.is_ipv4() == target.is_ipv4())
                // Prefer a global address over link-local for IPv6.
                .min_by_key(|ip| matches!(ip, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80))
                .ok_or(IoError::NoSourceAddress(
                    link.name.clone(),
                    if target.is_ipv4() { "IPv4" } else { "IPv6" },
                ))?,
        },
    };

    let next_hop_mac = if link.loopback {
        [0; 6]
    } else if let Some(mac) = opts.gateway_mac {
        mac
    } else {
        let hop = next_hop(target, &link.name);
        next_hop_mac(&link, src_ip, hop)?
    };
    Ok(NetPath {
        link,
        src_ip,
        next_hop_mac,
    })
}

/// IPv4 frames we inject on `lo` arrive without a route attached, so the kernel treats a
/// 127/8 destination, and a source that is one of its own addresses, as martians and drops
/// them silently. Returns what to change when that would happen, None when it will not.
pub fn loopback_v4_hint() -> Option<String> {
    let on = |name: &str| {
        ["lo", "all"].iter().any(|dev| {
            std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{dev}/{name}"))
                .is_ok_and(|v| v.trim() == "1")
        })
    };
    let missing: Vec<String> = ["route_localnet", "accept_local"]
        .iter()
        .filter(|n| !on(n))
        .map(|n| format!("net.ipv4.conf.lo.{n}=1"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "probing 127.0.0.0/8 through a packet socket needs `sysctl -w {}`",
            missing.join(" ")
        )
    })
}

/// The source address the kernel would use for `target`. connect() on UDP sends nothing.
fn kernel_source(target: IpAddr) -> std::io::Result<IpAddr> {
    let any: SocketAddr = match target {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = UdpSocket::bind(any)?;
    s.connect((target, 9))?;
    Ok(s.local_addr()?.ip())
}

/// The next hop towards `target` out of `ifname`: the gateway of the longest matching
/// route, or the target itself when it is on-link (or no route names this interface).
/// Whether `target` is reached directly on `link` (no gateway): then its own MAC is the next
/// hop, and every on-link target has a different one.
pub fn is_on_link(target: IpAddr, link: &Link) -> bool {
    !link.loopback && next_hop(target, &link.name) == target
}

fn next_hop(target: IpAddr, ifname: &str) -> IpAddr {
    match target {
        IpAddr::V4(t) => {
            let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
            next_hop_v4(&parse_routes_v4(&text), t, ifname).map_or(target, IpAddr::V4)
        }
        IpAddr::V6(t) => {
            let text = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
            next_hop_v6(&parse_routes_v6(&text), t, ifname).map_or(target, IpAddr::V6)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Route<A> {
    iface: String,
    dest: A,
    prefix: u8,
    gateway: Option<A>,
    metric: u32,
}

/// /proc/net/route: hex fields hold the address bytes in network order as a native u32.
fn parse_routes_v4(text: &str) -> Vec<Route<Ipv4Addr>> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    let addr = |s: &str| hex(s).map(|v| Ipv4Addr::from(v.to_ne_bytes()));
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (iface, dest, gw, flags, metric, mask) = (
                f.first()?,
                addr(f.get(1)?)?,
                addr(f.get(2)?)?,
                hex(f.get(3)?)?,
                f.get(6)?,
                addr(f.get(7)?)?,
            );
            if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
                return None;
            }
            Some(Route {
                iface: iface.to_string(),
                dest,
                prefix: u32::from(mask).leading_ones() as u8,
                gateway: (flags & RTF_GATEWAY != 0).then_some(gw),
                metric: metric.parse().ok()?,
            })
        })
        .collect()
}

/// /proc/net/ipv6_route: dest, dest_len, src, src_len, next_hop, metric, refcnt, use,
/// flags, iface.
fn parse_routes_v6(text: &str) -> Vec<Route<Ipv6Addr>> {
    let addr = |s: &str| u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from);
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
                return None;
            }
            let gw = addr(f[4])?;
            Some(Route {
                iface: f[9].to_string(),
                dest: addr(f[0])?,
                prefix: u8::from_str_radix(f[1], 16).ok()?.min(128),
                gateway: (flags & RTF_GATEWAY != 0 && !gw.is_unspecified()).then_some(gw),
                metric: u32::from_str_radix(f[5], 16).ok()?,
            })
        })
        .collect()
}

fn best<'a, A: Copy>(
    routes: &'a [Route<A>],
    ifname: &str,
    matches: impl Fn(&Route<A>) -> bool,
) -> Option<&'a Route<A>> {
    routes
        .iter()
        .filter(|r| r.iface == ifname && matches(r))
        .max_by_key(|r| (r.prefix, std::cmp::Reverse(r.metric)))
}

fn next_hop_v4(routes: &[Route<Ipv4Addr>], target: Ipv4Addr, ifname: &str) -> Option<Ipv4Addr> {
    let t = u32::from(target);
    best(routes, ifname, |r| {
        let mask = u32::MAX.checked_shl(32 - u32::from(r.prefix)).unwrap_or(0);
        t & mask == u32::from(r.dest) & mask
    })
    .and_then(|r| r.gateway)
}

fn next_hop_v6(routes: &[Route<Ipv6Addr>], target: Ipv6Addr, ifname: &str) -> Option<Ipv6Addr> {
    let t = u128::from(target);
    best(routes, ifname, |r| {
        let mask = u128::MAX
            .checked_shl(128 - u32::from(r.prefix))
            .unwrap_or(0);
        t & mask == u128::from(r.dest) & mask
    })
    .and_then(|r| r.gateway)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010012C6\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t000012C6\t00000000\t0001\t0\t0\t100\t0000FFFF\t0\t0\t0
eth0\t000A12C6\t FE0A12C6\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t000013C6\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000B12C6\t00000000\t0201\t0\t0\t0\t00FFFFFF\t0\t0\t0
";

    #[test]
    fn parses_proc_net_route() {
        let r = parse_routes_v4(ROUTE);
        assert_eq!(r.len(), 4); // the reject route is dropped
        assert_eq!(r[0].gateway, Some(Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(r[0].prefix, 0);
        assert_eq!(r[1].dest, Ipv4Addr::new(198, 18, 0, 0));
        assert_eq!(r[1].prefix, 16);
        assert_eq!(r[1].gateway, None);
        assert_eq!(r[3].iface, "eth1");
    }

    #[test]
    fn v4_longest_prefix_wins() {
        let r = parse_routes_v4(ROUTE);
        // On-link /16: no gateway, the target is its own next hop.
        assert_eq!(next_hop_v4(&r, Ipv4Addr::new(198, 18, 1, 2), "eth0"), None);
        // The /24 via 198.18.10.254 beats the on-link /16.
        assert_eq!(
            next_hop_v4(&r, Ipv4Addr::new(198, 18, 10, 7), "eth0"),
            Some(Ipv4Addr::new(198, 18, 10, 254))
        );
        // Only the default route matches.
        assert_eq!(
            next_hop_v4(&r, Ipv4Addr::new(203, 0, 113, 1), "eth0"),
            Some(Ipv4Addr::new(198, 18, 0, 1))
        );
        // Routes of other interfaces are ignored.
        assert_eq!(next_hop_v4(&r, Ipv4Addr::new(203, 0, 113, 1), "eth1"), None);
    }

    const ROUTE6: &str = "\
20010db8000000000000000000000000 20 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000400 00000001 00000000 00000003     eth0
20010db8000100000000000000000000 30 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
";

    #[test]
    fn parses_proc_net_ipv6_route() {
        let r = parse_routes_v6(ROUTE6);
        assert_eq!(r.len(), 4); // the lo reject route is dropped
        assert_eq!(r[0].prefix, 32);
        assert_eq!(r[0].gateway, None);
        assert_eq!(r[1].gateway, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(r[3].prefix, 128);
        assert_eq!(r[3].iface, "lo");
    }

    #[test]
    fn v6_longest_prefix_wins() {
        let r = parse_routes_v6(ROUTE6);
        let hop = |t: &str| next_hop_v6(&r, t.parse().unwrap(), "eth0");
        assert_eq!(hop("2001:db8::42"), None);
        assert_eq!(hop("2001:db8:1::5"), Some("fe80::1".parse().unwrap()));
        assert_eq!(hop("2001:4860::1"), Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse_routes_v4("header\nnot a route\n\n").is_empty());
        assert!(parse_routes_v6("zz 1 2\n").is_empty());
    }

    #[test]
    fn loopback_target_uses_lo_with_zero_mac() {
        let p = find_path("127.0.0.1".parse().unwrap(), &PathOptions::default()).unwrap();
        assert!(p.link.loopback);
        assert_eq!(p.src_ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(p.next_hop_mac, [0; 6]);
    }

    #[test]
    fn unknown_interface_is_named() {
        let opts = PathOptions {
            interface: Some("nosuch0".into()),
            ..Default::default()
        };
        let e = find_path("127.0.0.1".parse().unwrap(), &opts).unwrap_err();
        assert!(matches!(e, IoError::NoSuchInterface(n) if n == "nosuch0"));
    }
}
