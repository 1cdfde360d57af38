//! What the kernel says about one destination: a route (matched prefix, table, type,
//! interface, next hop, source) or why there is none. Values only; netlink_msg.rs builds
//! them from bytes and planner.rs groups targets by them.

use std::net::IpAddr;

use crate::target::{Family, IpRange};

/// A CIDR prefix `addr/len`, host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    range: IpRange,
    len: u8,
}

impl Prefix {
    /// `addr/len` with host bits of `addr` cleared, or `None` when `len` exceeds the family.
    pub fn new(addr: IpAddr, len: u8) -> Option<Prefix> {
        IpRange::cidr(addr, len).map(|range| Prefix { range, len })
    }

    /// The default route of `family` (`0.0.0.0/0` or `::/0`).
    pub fn default_route(family: Family) -> Prefix {
        let any: IpAddr = match family {
            Family::V4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        Prefix {
            range: IpRange::cidr(any, 0).unwrap_or(IpRange::single(any)),
            len: 0,
        }
    }

    pub fn family(&self) -> Family {
        self.range.family()
    }
    pub fn addr(&self) -> IpAddr {
        self.range.first()
    }
    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    /// The addresses the prefix covers.
    pub fn range(&self) -> IpRange {
        self.range
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.range.contains(ip)
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}

/// The kernel's route types (rtm_type) that can answer a destination lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// A gateway or on-link route.
    Unicast,
    /// One of this host's own addresses: packets go through `lo`.
    Local,
    /// A broadcast address of a local subnet.
    Broadcast,
    Anycast,
    Multicast,
    /// A type with no use to a prober (nat, unspec, or one added after this was written).
    Other(u8),
}

/// The next hop: a gateway, or the destination itself when it is on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    Gateway(IpAddr),
    /// No gateway: every destination is its own next hop (its own MAC).
    OnLink,
}

/// A route the kernel would send a destination through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// The FIB entry that matched (RTM_F_FIB_MATCH); `None` when the kernel named none.
    pub prefix: Option<Prefix>,
    /// Routing table id (254 main, 255 local, or a policy table).
    pub table: u32,
    pub kind: RouteKind,
    /// Output interface index.
    pub oif: u32,
    pub next_hop: NextHop,
    /// The source address the kernel selects for this destination.
    pub source: Option<IpAddr>,
}

impl Route {
    /// Which sender a destination on this route goes through.
    pub fn path_key(&self) -> PathKey {
        PathKey {
            oif: self.oif,
            source: self.source,
            next_hop: self.next_hop,
        }
    }
}

/// One way out of this host: targets with equal keys share an interface, a source address
/// and a next hop (or are each their own next hop, on-link).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathKey {
    pub oif: u32,
    pub source: Option<IpAddr>,
    pub next_hop: NextHop,
}

/// Why a destination cannot be reached, from the kernel's error for the lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoRoute {
    /// ENETUNREACH: no route matches (nor a default route).
    NetUnreachable,
    /// EHOSTUNREACH: an `unreachable` route matched.
    HostUnreachable,
    /// EINVAL: a `blackhole` route matched.
    Blackhole,
    /// EACCES / EPERM: a `prohibit` route (or rule) matched.
    Prohibited,
}

impl NoRoute {
    /// The outcome an RTM_GETROUTE error stands for, `None` for an errno that is not about
    /// routing (the caller reports it as a failure). `errno` is positive.
    pub fn from_errno(errno: i32) -> Option<NoRoute> {
        match errno {
            libc::ENETUNREACH => Some(NoRoute::NetUnreachable),
            libc::EHOSTUNREACH => Some(NoRoute::HostUnreachable),
            libc::EINVAL => Some(NoRoute::Blackhole),
            libc::EACCES | libc::EPERM => Some(NoRoute::Prohibited),
            _ => None,
        }
    }
}

impl std::fmt::Display for NoRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoRoute::NetUnreachable => "no route",
            NoRoute::HostUnreachable => "unreachable route",
            NoRoute::Blackhole => "blackhole route",
            NoRoute::Prohibited => "prohibited by a route or rule",
        })
    }
}

/// The answer to "how would the kernel send to this address".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteAnswer {
    Route(Route),
    NoRoute(NoRoute),
}

impl RouteAnswer {
    /// The matched prefix, when the answer names one.
    pub fn prefix(&self) -> Option<Prefix> {
        match self {
            RouteAnswer::Route(r) => r.prefix,
            RouteAnswer::NoRoute(_) => None,
        }
    }
}
