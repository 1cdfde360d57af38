//! Every target's way out, as the kernel routes it: the route planner (`path::plan`) asks
//! the kernel over rtnetlink, once per region of the routing tables, and `path::assemble`
//! turns its answer into the run's `PathTable` with what only the system knows, given here:
//! interfaces by index, a gateway's MAC (neighbour table, else ARP / NDP), our addresses.

use std::net::IpAddr;

use super::neigh::{next_hop_mac, table_mac};
use super::netlink::RouteSocket;
use super::{IoError, Link};
use crate::path::{AssembleError, Assembled, Boundaries, Overrides, Resolver, assemble, plan};
use crate::target::{Family, TargetSet};

/// The system behind `path::assemble`.
struct System {
    ifaces: Vec<pnet::datalink::NetworkInterface>,
    /// Only read the neighbour table, never ask the wire (a dry run sends nothing).
    quiet: bool,
}

impl Resolver for System {
    type Error = IoError;

    fn link(&mut self, oif: u32) -> Result<Link, IoError> {
        self.ifaces
            .iter()
            .find(|i| i.index == oif)
            .map(Link::from_pnet)
            .ok_or_else(|| IoError::NoSuchInterface(format!("index {oif}")))
    }

    fn gateway_mac(&mut self, link: &Link, src: IpAddr, gw: IpAddr) -> Result<[u8; 6], IoError> {
        if self.quiet {
            // Not in the table: all zeros, which no interface has, says "not known yet".
            return Ok(table_mac(link.index, gw)?.unwrap_or([0; 6]));
        }
        next_hop_mac(link, src, gw)
    }

    fn owns(&mut self, link: &Link, ip: IpAddr) -> bool {
        self.ifaces
            .iter()
            .any(|i| i.index == link.index && i.ips.iter().any(|n| n.ip() == ip))
    }
}

/// Plan every target's way out of this host (the calling thread's network namespace).
pub fn route_targets(
    targets: &TargetSet,
    ov: &Overrides,
) -> Result<Assembled, AssembleError<IoError>> {
    route_targets_with(targets, ov, false)
}

/// `route_targets` without a packet: a gateway's MAC comes from the neighbour table only,
/// all zeros when the table does not hold it. Needs no privilege (a dry run).
pub fn route_targets_quietly(
    targets: &TargetSet,
    ov: &Overrides,
) -> Result<Assembled, AssembleError<IoError>> {
    route_targets_with(targets, ov, true)
}

fn route_targets_with(
    targets: &TargetSet,
    ov: &Overrides,
    quiet: bool,
) -> Result<Assembled, AssembleError<IoError>> {
    let mut rs = RouteSocket::open().map_err(AssembleError::Resolve)?;
    let mut prefixes = Vec::new();
    for (family, present) in [
        (Family::V4, targets.has_v4()),
        (Family::V6, targets.has_v6()),
    ] {
        if present {
            prefixes.extend(
                rs.boundary_prefixes(family)
                    .map_err(AssembleError::Resolve)?,
            );
        }
    }
    let bounds = Boundaries::new(prefixes);
    let plan = plan(targets.ranges(), &bounds, |a| rs.lookup(a)).map_err(AssembleError::Resolve)?;
    let mut system = System {
        ifaces: pnet::datalink::interfaces(),
        quiet,
    };
    assemble(&plan, targets, ov, &mut system)
}

/// The MAC of `hop` on `link`, asked from `src`: the neighbour table, else ARP / NDP.
pub fn neighbour_mac(link: &Link, src: IpAddr, hop: IpAddr) -> Result<[u8; 6], IoError> {
    next_hop_mac(link, src, hop)
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
