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

/// Feed `parse` every truncation of every `corpus` datagram, 100,000 mutated and cut copies,
/// and pure noise up to 512 bytes: it must never panic (deterministic, no crate).
pub(super) fn hostile_sweep(corpus: &[Vec<u8>], parse: impl Fn(&[u8])) {
    for f in corpus {
        for n in 0..=f.len() {
            parse(&f[..n]);
        }
    }
    // xorshift: deterministic noise.
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for i in 0..100_000u32 {
        let mut f = corpus[i as usize % corpus.len()].clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % f.len();
            f[at] = next() as u8;
        }
        let cut = (next() as usize) % (f.len() + 1);
        parse(&f[..cut.max(f.len() / 2)]);
    }
    for len in 0..512 {
        let f: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        parse(&f);
    }
}
