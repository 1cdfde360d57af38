//! Helpers the path modules' unit tests share: addresses, prefixes and FIB entries from text.

use std::net::IpAddr;

use super::fib::Entry;
use super::route::{NextHop, Prefix, Route, RouteKind};

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// "ADDR/LEN" as a prefix.
pub(super) fn pfx(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Prefix::new(ip(a), l.parse().unwrap()).unwrap()
}

/// A unicast route of the main table out of interface `oif`, with source `src`.
pub(super) fn send(oif: u32, next_hop: NextHop, src: &str) -> Entry {
    Entry::Send(Route {
        prefix: None,
        table: 254,
        kind: RouteKind::Unicast,
        oif,
        next_hop,
        source: Some(ip(src)),
    })
}
