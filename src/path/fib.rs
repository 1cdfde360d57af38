//! A routing table in memory with longest-prefix match: stands in for the kernel in unit
//! tests and benchmarks of the planner (a linear scan, simple enough to be the reference).

use std::convert::Infallible;
use std::net::IpAddr;

use super::route::{NoRoute, Prefix, Route, RouteAnswer};

/// What a table entry does with a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Send through this route (its `prefix` is set to the entry's on lookup).
    Send(Route),
    /// An unreachable, blackhole or prohibit route.
    Refuse(NoRoute),
}

/// A single routing table.
#[derive(Clone, Debug, Default)]
pub struct StaticFib {
    /// Longest prefixes first, so the first match is the longest.
    entries: Vec<(Prefix, Entry)>,
}

impl StaticFib {
    pub fn new(mut entries: Vec<(Prefix, Entry)>) -> StaticFib {
        entries.sort_by_key(|(p, _)| std::cmp::Reverse(p.prefix_len()));
        StaticFib { entries }
    }

    /// Every prefix of the table (the planner's boundaries).
    pub fn prefixes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.entries.iter().map(|(p, _)| *p)
    }

    /// The longest match for `dst`, `None` when nothing matches.
    pub fn matching(&self, dst: IpAddr) -> Option<(Prefix, Entry)> {
        self.entries.iter().find(|(p, _)| p.contains(dst)).copied()
    }

    /// As the kernel answers RTM_GETROUTE with RTM_F_FIB_MATCH on this one table.
    pub fn lookup(&self, dst: IpAddr) -> RouteAnswer {
        match self.matching(dst) {
            Some((p, Entry::Send(r))) => RouteAnswer::Route(Route {
                prefix: Some(p),
                ..r
            }),
            Some((_, Entry::Refuse(no))) => RouteAnswer::NoRoute(no),
            None => RouteAnswer::NoRoute(NoRoute::NetUnreachable),
        }
    }

    /// `lookup` in the shape the planner takes.
    pub fn lookup_ok(&self, dst: IpAddr) -> Result<RouteAnswer, Infallible> {
        Ok(self.lookup(dst))
    }
}
