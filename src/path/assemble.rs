//! From the planner's answer (blocks of targets by kernel route) to the run's `PathTable`:
//! each route's interface, our source address and next hop made concrete, the user's
//! overrides applied, the targets with no route kept as spans without an exit. What needs
//! the system (an interface by index, a gateway's MAC, whether an address is ours) comes in
//! through a `Resolver`, so this is tested without root.

use std::collections::HashMap;
use std::net::IpAddr;

use super::planner::Plan;
use super::route::{NextHop, RouteKind};
use super::table::{Exit, Hop, Link, PathTable, Span};
use crate::target::{IpRange, TargetSet};

/// The system facts assembling needs.
pub trait Resolver {
    type Error;
    /// The interface with index `oif`.
    fn link(&mut self, oif: u32) -> Result<Link, Self::Error>;
    /// The MAC of gateway `gw`, reached through `link` from `src`.
    fn gateway_mac(&mut self, link: &Link, src: IpAddr, gw: IpAddr)
    -> Result<[u8; 6], Self::Error>;
    /// Whether `ip` is one of `link`'s addresses.
    fn owns(&mut self, link: &Link, ip: IpAddr) -> bool;
}

/// What the user set instead of asking the kernel.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Targets must leave through this interface (an error names those the kernel would not
    /// send through it).
    pub interface: Option<String>,
    /// Our address for targets of its family.
    pub source_ip: Option<IpAddr>,
    /// The next hop's MAC for every target: no ARP / NDP at all.
    pub gateway_mac: Option<[u8; 6]>,
}

#[derive(Debug)]
pub enum AssembleError<E> {
    /// The user's input contradicts the routes (exit 2).
    Input(String),
    /// Looking something up failed.
    Resolve(E),
}

/// The run's table, and what it says besides.
#[derive(Debug)]
pub struct Assembled {
    pub table: PathTable,
    /// Target ranges with no way out, and why, in target order.
    pub no_route: Vec<(IpRange, String)>,
    /// Things the user should hear about before the run (one line each).
    pub warnings: Vec<String>,
}

/// Assemble the table for `targets` (the set `plan` was made from).
pub fn assemble<R: Resolver>(
    plan: &Plan,
    targets: &TargetSet,
    ov: &Overrides,
    r: &mut R,
) -> Result<Assembled, AssembleError<R::Error>> {
    let mut links: Vec<Link> = Vec::new();
    let mut link_of: HashMap<u32, usize> = HashMap::new();
    let mut macs: HashMap<(u32, IpAddr), [u8; 6]> = HashMap::new();
    let mut spans: Vec<Span> = Vec::new();
    let mut no_route: Vec<(IpRange, String)> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let first_of = |range: &IpRange| targets.index_of(range.first());

    for block in plan.paths.iter().flat_map(|p| &p.blocks) {
        let route = block.route;
        if !matches!(route.kind, RouteKind::Unicast | RouteKind::Local) {
            // A subnet's broadcast address, multicast, anycast: no host to probe.
            let why = format!("{:?} address", route.kind).to_lowercase();
            no_route.push((block.range, why));
            continue;
        }
        let l = match link_of.get(&route.oif) {
            Some(&l) => l,
            None => {
                links.push(r.link(route.oif).map_err(AssembleError::Resolve)?);
                link_of.insert(route.oif, links.len() - 1);
                links.len() - 1
            }
        };
        let link = links[l].clone();
        if link.mac == [0; 6] && !link.loopback {
            // A tunnel (wireguard, tun, ppp) carries no ethernet header: our frames would be
            // garbage on it.
            return Err(AssembleError::Input(format!(
                "the kernel routes {} through {}, which has no MAC address (a tunnel?): synprobe sends ethernet frames and cannot probe through it",
                block.range.first(),
                link.name
            )));
        }
        if let Some(want) = &ov.interface
            && *want != link.name
        {
            return Err(AssembleError::Input(format!(
                "--interface {want}: the kernel routes {} through {}, not {want}; drop -i, or probe those targets apart",
                block.range.first(),
                link.name
            )));
        }
        let user_src = ov
            .source_ip
            .filter(|s| s.is_ipv4() == block.range.first().is_ipv4());
        let src = match (user_src, route.source) {
            (Some(s), _) => {
                if !r.owns(&link, s) && !link.loopback {
                    let w = format!(
                        "--source-ip {s} is not an address of {}: replies to it may not come back",
                        link.name
                    );
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
                s
            }
            (None, Some(s)) => s,
            (None, None) => {
                return Err(AssembleError::Input(format!(
                    "the kernel names no source address for {} on {}; set --source-ip",
                    block.range.first(),
                    link.name
                )));
            }
        };
        let hop = match (ov.gateway_mac, route.next_hop) {
            (Some(mac), _) => Hop::Mac(mac),
            // Through lo nothing resolves MACs: the frame is looped back as it is.
            _ if link.loopback || route.kind == RouteKind::Local => Hop::Mac([0; 6]),
            (None, NextHop::OnLink) => Hop::OnLink,
            (None, NextHop::Gateway(gw)) => match macs.get(&(route.oif, gw)) {
                Some(m) => Hop::Mac(*m),
                None => {
                    let m = r
                        .gateway_mac(&link, src, gw)
                        .map_err(AssembleError::Resolve)?;
                    macs.insert((route.oif, gw), m);
                    Hop::Mac(m)
                }
            },
        };
        if let Some(first) = first_of(&block.range) {
            spans.push(Span {
                first,
                exit: Some(Exit {
                    link: l,
                    src_ip: src,
                    hop,
                }),
            });
        }
    }
    for u in &plan.unroutable {
        no_route.push((u.range, u.why.to_string()));
    }
    for (range, _) in &no_route {
        if let Some(first) = first_of(range) {
            spans.push(Span { first, exit: None });
        }
    }
    no_route.sort_by_key(|(range, _)| first_of(range));
    spans.sort_by_key(|s| s.first);
    // Neighbouring blocks with the same exit are one span.
    spans.dedup_by(|next, prev| next.exit == prev.exit);
    let table = PathTable::new(links, spans).map_err(AssembleError::Input)?;
    Ok(Assembled {
        table,
        no_route,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::fib::StaticFib;
    use crate::path::test_util::{ip, pfx, send};
    use crate::path::{Boundaries, plan};

    /// Interfaces 2 (eth-a) and 3 (eth-b), gateways with known MACs.
    struct Fake {
        asked: Vec<IpAddr>,
    }

    impl Resolver for Fake {
        type Error = String;
        fn link(&mut self, oif: u32) -> Result<Link, String> {
            Ok(Link {
                name: ["lo", "x", "eth-a", "eth-b", "wg0"][oif as usize].to_string(),
                index: oif,
                // Interface 4 is a tunnel: no MAC.
                mac: if oif == 4 {
                    [0; 6]
                } else {
                    [2, 0, 0, 0, 0, oif as u8]
                },
                loopback: oif == 1,
            })
        }
        fn gateway_mac(&mut self, _: &Link, _: IpAddr, gw: IpAddr) -> Result<[u8; 6], String> {
            self.asked.push(gw);
            match gw {
                IpAddr::V4(a) => Ok([4, 0, 0, 0, 0, a.octets()[3]]),
                IpAddr::V6(_) => Err(format!("no NDP reply from {gw}")),
            }
        }
        fn owns(&mut self, link: &Link, ip: IpAddr) -> bool {
            link.index == 2 && ip == "198.19.0.1".parse::<IpAddr>().unwrap()
        }
    }

    /// Link A: 198.18.0.0/16 via 198.19.0.2; link B: on-link 198.20.0.0/24 and
    /// 198.21.0.0/16 via 198.20.0.254; nothing for 203.0.113.0/24.
    fn fib() -> StaticFib {
        let via = |gw: &str, oif, src: &str| send(oif, NextHop::Gateway(ip(gw)), src);
        let on_link = |oif, src: &str| send(oif, NextHop::OnLink, src);
        StaticFib::new(vec![
            (pfx("198.18.0.0/16"), via("198.19.0.2", 2, "198.19.0.1")),
            (pfx("198.20.0.0/24"), on_link(3, "198.20.0.1")),
            (pfx("198.21.0.0/16"), via("198.20.0.254", 3, "198.20.0.1")),
        ])
    }

    fn assembled(
        specs: &[&str],
        ov: &Overrides,
    ) -> Result<(Assembled, TargetSet), AssembleError<String>> {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        let targets = TargetSet::parse(&specs, &[]).unwrap();
        let f = fib();
        let p = plan(targets.ranges(), &Boundaries::new(f.prefixes()), |a| {
            f.lookup_ok(a)
        })
        .unwrap();
        let a = assemble(&p, &targets, ov, &mut Fake { asked: vec![] })?;
        Ok((a, targets))
    }

    #[test]
    fn every_target_gets_its_own_way_out() {
        let (a, t) = assembled(
            &[
                "198.18.0.0/24",
                "198.20.0.0/24",
                "198.21.0.0/24",
                "203.0.113.0/24",
            ],
            &Overrides::default(),
        )
        .unwrap();
        let exit = |s: &str| a.table.exit_of(t.index_of(ip(s)).unwrap()).copied();
        let e = exit("198.18.0.7").unwrap();
        assert_eq!(
            (a.table.links()[e.link].name.as_str(), e.hop),
            ("eth-a", Hop::Mac([4, 0, 0, 0, 0, 2]))
        );
        assert_eq!(e.src_ip, ip("198.19.0.1"));
        let e = exit("198.20.0.9").unwrap();
        assert_eq!(
            (a.table.links()[e.link].name.as_str(), e.hop),
            ("eth-b", Hop::OnLink)
        );
        let e = exit("198.21.0.9").unwrap();
        assert_eq!(e.hop, Hop::Mac([4, 0, 0, 0, 0, 254]));
        assert_eq!(e.src_ip, ip("198.20.0.1"));
        assert_eq!(exit("203.0.113.7"), None);
        assert_eq!(a.no_route.len(), 1);
        assert_eq!(a.no_route[0].0.first(), ip("203.0.113.0"));
        assert_eq!(a.table.spans().len(), 4);
        assert!(a.warnings.is_empty());
    }

    #[test]
    fn overrides_apply_and_a_wrong_interface_is_named() {
        let ov = Overrides {
            gateway_mac: Some([6; 6]),
            source_ip: Some(ip("198.19.0.9")),
            ..Default::default()
        };
        let (a, t) = assembled(&["198.18.0.0/30", "198.20.0.0/30"], &ov).unwrap();
        for s in ["198.18.0.1", "198.20.0.1"] {
            let e = a.table.exit_of(t.index_of(ip(s)).unwrap()).unwrap();
            assert_eq!((e.hop, e.src_ip), (Hop::Mac([6; 6]), ip("198.19.0.9")));
        }
        assert_eq!(a.warnings.len(), 2, "{:?}", a.warnings);
        let ov = Overrides {
            interface: Some("eth-a".into()),
            ..Default::default()
        };
        assert!(assembled(&["198.18.0.0/24"], &ov).is_ok());
        match assembled(&["198.18.0.0/24", "198.20.0.0/24"], &ov) {
            Err(AssembleError::Input(m)) => {
                assert!(m.contains("198.20.0.0") && m.contains("eth-b"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_gateway_without_a_mac_is_an_error_not_a_guess() {
        let mut f = Fake { asked: vec![] };
        let targets = TargetSet::parse(&["2001:db8::1".to_string()], &[]).unwrap();
        let fib = StaticFib::new(vec![(
            pfx("2001:db8::/32"),
            send(2, NextHop::Gateway(ip("2001:db8:ff::2")), "2001:db8:ff::1"),
        )]);
        let p = plan(targets.ranges(), &Boundaries::new(fib.prefixes()), |a| {
            fib.lookup_ok(a)
        })
        .unwrap();
        assert!(matches!(
            assemble(&p, &targets, &Overrides::default(), &mut f),
            Err(AssembleError::Resolve(_))
        ));
    }

    #[test]
    fn a_tunnel_is_refused_by_name() {
        let targets = TargetSet::parse(&["198.18.0.1".to_string()], &[]).unwrap();
        let fib = StaticFib::new(vec![(
            pfx("198.18.0.0/16"),
            send(4, NextHop::OnLink, "198.18.255.1"),
        )]);
        let p = plan(targets.ranges(), &Boundaries::new(fib.prefixes()), |a| {
            fib.lookup_ok(a)
        })
        .unwrap();
        match assemble(
            &p,
            &targets,
            &Overrides::default(),
            &mut Fake { asked: vec![] },
        ) {
            Err(AssembleError::Input(m)) => {
                assert!(m.contains("wg0") && m.contains("no MAC"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gateways_are_resolved_once() {
        let mut f = Fake { asked: vec![] };
        let targets = TargetSet::parse(
            &["198.18.0.0/24".to_string(), "198.18.9.0/24".to_string()],
            &[],
        )
        .unwrap();
        let fib = fib();
        let p = plan(targets.ranges(), &Boundaries::new(fib.prefixes()), |a| {
            fib.lookup_ok(a)
        })
        .unwrap();
        let a = assemble(&p, &targets, &Overrides::default(), &mut f).unwrap();
        assert_eq!(f.asked, vec![ip("198.19.0.2")]);
        assert_eq!(a.table.spans().len(), 1, "one exit, one span");
    }
}
