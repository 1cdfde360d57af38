//! Route grouping of a /8 over a routing table of 1,000 prefixes (mixed lengths, nested,
//! a default route), with an in-memory table standing in for the kernel.

use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use synprobe::path::{
    Boundaries, Entry, NextHop, NoRoute, Prefix, Route, RouteKind, StaticFib, plan,
};
use synprobe::target::IpRange;

fn table() -> StaticFib {
    let route = |oif: u32, gw: u32| {
        Entry::Send(Route {
            prefix: None,
            table: 254,
            kind: RouteKind::Unicast,
            oif,
            next_hop: if gw == 0 {
                NextHop::OnLink
            } else {
                NextHop::Gateway(IpAddr::V4(Ipv4Addr::from(gw)))
            },
            source: Some(IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1))),
        })
    };
    let mut entries = vec![(
        Prefix::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).unwrap(),
        route(2, 0xc613_00fe),
    )];
    let mut seen = std::collections::HashSet::new();
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    while entries.len() < 1000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        // Most inside the /8 (some nested in others), a few outside it.
        let len = [12u8, 16, 16, 20, 24, 24, 24, 28, 32][(s % 9) as usize];
        let high = if s.is_multiple_of(10) {
            0xcb00_0000
        } else {
            0x0a00_0000
        };
        let addr = high | ((s >> 16) as u32 & 0x00ff_ffff);
        let p = Prefix::new(IpAddr::V4(Ipv4Addr::from(addr)), len).unwrap();
        if !seen.insert(p) {
            continue;
        }
        let e = match (s >> 40) % 8 {
            0 => Entry::Refuse(NoRoute::HostUnreachable),
            1 => route(3, 0),
            n => route(3 + (n as u32 % 4), 0xc613_0002 + n as u32),
        };
        entries.push((p, e));
    }
    StaticFib::new(entries)
}

fn route_plan(c: &mut Criterion) {
    let fib = table();
    let slash8 = [IpRange::cidr(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8).unwrap()];
    let mut g = c.benchmark_group("route_plan");
    g.throughput(Throughput::Elements(1 << 24));
    g.bench_function("slash8_over_1000_prefixes", |b| {
        b.iter(|| {
            // Building the boundaries is part of every plan (once per scan).
            let bounds = Boundaries::new(fib.prefixes());
            plan(&slash8, &bounds, |a| fib.lookup_ok(a)).unwrap()
        })
    });
    g.finish();
    let bounds = Boundaries::new(fib.prefixes());
    let p = plan(&slash8, &bounds, |a| fib.lookup_ok(a)).unwrap();
    let blocks: usize = p.paths.iter().map(|pb| pb.blocks.len()).sum();
    eprintln!(
        "route_plan: /8 over {} prefixes: {} lookups, {} paths, {} blocks, {} unroutable blocks",
        bounds.len(),
        p.lookups,
        p.paths.len(),
        blocks,
        p.unroutable.len()
    );
}

criterion_group!(benches, route_plan);
criterion_main!(benches);
