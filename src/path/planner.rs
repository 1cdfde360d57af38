//! Targets split at route boundaries and grouped by the path they leave through, with one
//! lookup per region (see the module doc of `path` for why that is exact and what it costs).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::regions::{Boundaries, RegionId, key_ip};
use super::route::{NoRoute, PathKey, Route, RouteAnswer};
use crate::target::{Family, IpRange};

/// Consecutive targets that leave through one route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub range: IpRange,
    pub route: Route,
}

/// Every block that leaves through one path, in address order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathBlocks {
    pub key: PathKey,
    pub blocks: Vec<Block>,
}

/// Consecutive targets the kernel has no route for, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unroutable {
    pub range: IpRange,
    pub why: NoRoute,
}

/// The targets by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// One entry per path, ordered by key.
    pub paths: Vec<PathBlocks>,
    pub unroutable: Vec<Unroutable>,
    /// How many times `lookup` was called.
    pub lookups: usize,
}

fn range(family: Family, lo: u128, hi: u128) -> IpRange {
    // lo <= hi on one family by construction; the fallback is never taken.
    IpRange::new(key_ip(family, lo), key_ip(family, hi))
        .unwrap_or_else(|| IpRange::single(key_ip(family, lo)))
}

/// Whether `b` continues `a` (same answer, next address).
fn touches(a: &IpRange, b: &IpRange) -> bool {
    a.family() == b.family() && a.hi().checked_add(1) == Some(b.lo())
}

/// Split `ranges` (normalized: sorted, disjoint, as `TargetSet::ranges()` gives them) at
/// the region boundaries of `bounds` and at the matched prefixes the answers name, ask
/// `lookup` once per region met, and group the blocks by path.
///
/// `bounds` must hold the prefixes of every table and destination rule the kernel consults
/// (`RouteSocket::boundary_prefixes`); with fewer, a more specific route that starts inside
/// a matched prefix, after the address that was asked, is missed.
pub fn plan<E>(
    ranges: &[IpRange],
    bounds: &Boundaries,
    mut lookup: impl FnMut(IpAddr) -> Result<RouteAnswer, E>,
) -> Result<Plan, E> {
    let mut cache: HashMap<RegionId, RouteAnswer> = HashMap::new();
    let mut routed: BTreeMap<PathKey, Vec<Block>> = BTreeMap::new();
    let mut unroutable: Vec<Unroutable> = Vec::new();
    let mut lookups = 0usize;
    for r in ranges {
        let family = r.family();
        let mut k = r.lo();
        loop {
            let (region, region_end) = bounds.region(family, k);
            let here = key_ip(family, k);
            // A cached answer whose matched prefix does not hold `k` came from a stale dump
            // (a route added since): ask again rather than trust it.
            let answer = match cache.get(&region) {
                Some(a) if a.prefix().is_none_or(|p| p.contains(here)) => *a,
                _ => {
                    lookups += 1;
                    let a = lookup(here)?;
                    cache.insert(region, a);
                    a
                }
            };
            let mut end = region_end.min(r.hi());
            if let Some(p) = answer.prefix().filter(|p| p.contains(here)) {
                end = end.min(p.range().hi());
            }
            let block = range(family, k, end);
            match answer {
                RouteAnswer::Route(route) => {
                    let blocks = routed.entry(route.path_key()).or_default();
                    match blocks.last_mut() {
                        Some(last) if last.route == route && touches(&last.range, &block) => {
                            last.range = range(family, last.range.lo(), end);
                        }
                        _ => blocks.push(Block {
                            range: block,
                            route,
                        }),
                    }
                }
                RouteAnswer::NoRoute(why) => match unroutable.last_mut() {
                    Some(last) if last.why == why && touches(&last.range, &block) => {
                        last.range = range(family, last.range.lo(), end);
                    }
                    _ => unroutable.push(Unroutable { range: block, why }),
                },
            }
            if end >= r.hi() {
                break;
            }
            k = end + 1;
        }
    }
    Ok(Plan {
        paths: routed
            .into_iter()
            .map(|(key, blocks)| PathBlocks { key, blocks })
            .collect(),
        unroutable,
        lookups,
    })
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use crate::path::fib::{Entry, StaticFib};
    use crate::path::route::{NextHop, Prefix};
    use crate::path::test_util::{ip, pfx, send};

    fn r(a: &str, b: &str) -> IpRange {
        IpRange::new(ip(a), ip(b)).unwrap()
    }
    /// Through gateway `gw`, or on-link when `gw` is empty.
    fn via(oif: u32, gw: &str, src: &str) -> Entry {
        let hop = if gw.is_empty() {
            NextHop::OnLink
        } else {
            NextHop::Gateway(ip(gw))
        };
        send(oif, hop, src)
    }

    fn run(fib: &StaticFib, ranges: &[IpRange]) -> Plan {
        let bounds = Boundaries::new(fib.prefixes());
        plan(ranges, &bounds, |a| fib.lookup_ok(a)).unwrap()
    }

    /// Every address of `ranges` is in exactly one block, whose answer is the table's.
    fn check_against_table(fib: &StaticFib, ranges: &[IpRange], p: &Plan) {
        let mut seen = 0u128;
        for pb in &p.paths {
            for b in &pb.blocks {
                assert_eq!(b.route.path_key(), pb.key);
                for n in 0..b.range.len().unwrap() {
                    let a = b.range.nth(n);
                    assert_eq!(fib.lookup(a), RouteAnswer::Route(b.route), "{a}");
                    seen += 1;
                }
            }
        }
        for u in &p.unroutable {
            for n in 0..u.range.len().unwrap() {
                let a = u.range.nth(n);
                assert_eq!(fib.lookup(a), RouteAnswer::NoRoute(u.why), "{a}");
                seen += 1;
            }
        }
        let total: u128 = ranges.iter().map(|r| r.len().unwrap()).sum();
        assert_eq!(seen, total);
    }

    fn table() -> StaticFib {
        StaticFib::new(vec![
            (pfx("0.0.0.0/0"), via(2, "198.19.0.254", "198.19.0.1")),
            (pfx("198.18.0.0/16"), via(3, "198.19.0.2", "198.19.0.1")),
            // Nested inside the /16, starting after its first address.
            (pfx("198.18.1.0/24"), via(4, "198.21.0.2", "198.21.0.1")),
            // Nested twice, same path as the /16 (another prefix, so its own block).
            (pfx("198.18.1.128/25"), via(3, "198.19.0.2", "198.19.0.1")),
            // On-link, adjacent to a gateway route.
            (pfx("198.20.0.0/24"), via(3, "", "198.20.0.1")),
            (pfx("198.20.1.0/24"), via(3, "198.19.0.2", "198.19.0.1")),
            (
                pfx("198.23.0.0/16"),
                Entry::Refuse(NoRoute::HostUnreachable),
            ),
            (
                pfx("2001:db8:1::/64"),
                via(3, "2001:db8:ff::2", "2001:db8:ff::1"),
            ),
            (pfx("2001:db8:1::8/125"), via(3, "", "2001:db8:ff::1")),
        ])
    }

    #[test]
    fn nested_prefix_starting_later_splits_the_block() {
        let fib = table();
        let ranges = [r("198.18.0.0", "198.18.3.255")];
        let p = run(&fib, &ranges);
        check_against_table(&fib, &ranges, &p);
        let blocks: Vec<(IpRange, Option<Prefix>)> = p
            .paths
            .iter()
            .flat_map(|pb| pb.blocks.iter().map(|b| (b.range, b.route.prefix)))
            .collect();
        assert_eq!(
            blocks,
            vec![
                (r("198.18.0.0", "198.18.0.255"), Some(pfx("198.18.0.0/16"))),
                (
                    r("198.18.1.128", "198.18.1.255"),
                    Some(pfx("198.18.1.128/25"))
                ),
                (r("198.18.2.0", "198.18.3.255"), Some(pfx("198.18.0.0/16"))),
                (r("198.18.1.0", "198.18.1.127"), Some(pfx("198.18.1.0/24"))),
            ]
        );
        // The /16 on both sides of its nested /24 is one region: 3 lookups, not 4.
        assert_eq!(p.lookups, 3);
        assert_eq!(p.paths.len(), 2);
    }

    #[test]
    fn adjacent_on_link_and_gateway_routes_and_unroutable_gaps() {
        // No default route here: the gaps have no route at all.
        let fib = StaticFib::new(
            table()
                .prefixes()
                .filter(|p| p.prefix_len() > 0)
                .map(|p| fib_entry(&table(), p))
                .collect(),
        );
        let ranges = [
            r("198.19.255.250", "198.20.1.5"),
            r("198.22.255.255", "198.23.0.3"),
        ];
        let p = run(&fib, &ranges);
        check_against_table(&fib, &ranges, &p);
        let on_link: Vec<&PathBlocks> = p
            .paths
            .iter()
            .filter(|pb| pb.key.next_hop == NextHop::OnLink)
            .collect();
        assert_eq!(on_link.len(), 1);
        assert_eq!(on_link[0].blocks[0].range, r("198.20.0.0", "198.20.0.255"));
        assert_eq!(
            p.unroutable,
            vec![
                Unroutable {
                    range: r("198.19.255.250", "198.19.255.255"),
                    why: NoRoute::NetUnreachable
                },
                Unroutable {
                    range: r("198.22.255.255", "198.22.255.255"),
                    why: NoRoute::NetUnreachable
                },
                Unroutable {
                    range: r("198.23.0.0", "198.23.0.3"),
                    why: NoRoute::HostUnreachable
                },
            ]
        );
    }

    fn fib_entry(fib: &StaticFib, p: Prefix) -> (Prefix, Entry) {
        fib.matching(p.addr()).filter(|(q, _)| *q == p).unwrap()
    }

    #[test]
    fn default_route_takes_the_gaps_with_one_lookup() {
        let fib = table();
        let ranges = [
            r("198.17.255.0", "198.18.0.3"),
            r("198.19.0.0", "198.19.0.9"),
            r("203.0.113.7", "203.0.113.7"),
        ];
        let p = run(&fib, &ranges);
        check_against_table(&fib, &ranges, &p);
        // The default route's region is asked once, for all three of its pieces.
        assert_eq!(p.lookups, 2);
        let default = p.paths.iter().find(|pb| pb.key.oif == 2).unwrap();
        assert_eq!(default.blocks.len(), 3);
    }

    #[test]
    fn ipv6_and_unaligned_ranges() {
        let fib = table();
        let ranges = [r("2001:db8:0:ffff:ffff:ffff:ffff:fffe", "2001:db8:1::13")];
        let p = run(&fib, &ranges);
        check_against_table(&fib, &ranges, &p);
        assert_eq!(
            p.unroutable,
            vec![Unroutable {
                range: r(
                    "2001:db8:0:ffff:ffff:ffff:ffff:fffe",
                    "2001:db8:0:ffff:ffff:ffff:ffff:ffff"
                ),
                why: NoRoute::NetUnreachable
            }]
        );
        // A /32-sized IPv6 set costs one lookup per region, not per address.
        let big = [IpRange::cidr(ip("2001:db8::"), 32).unwrap()];
        let p = run(&fib, &big);
        assert_eq!(p.lookups, 3);
        let blocks: usize = p.paths.iter().map(|pb| pb.blocks.len()).sum();
        assert_eq!((blocks, p.unroutable.len()), (3, 2));
    }

    #[test]
    fn policy_rule_prefix_splits_what_the_main_table_does_not() {
        // `ip rule add to 198.18.7.0/24 table 100`; table 100 has only a default route.
        let main = table();
        let t100 = StaticFib::new(vec![(pfx("0.0.0.0/0"), via(5, "198.30.0.2", "198.30.0.1"))]);
        let rule = pfx("198.18.7.0/24");
        let lookup = |a: IpAddr| -> Result<RouteAnswer, Infallible> {
            Ok(if rule.contains(a) {
                t100.lookup(a)
            } else {
                main.lookup(a)
            })
        };
        let bounds = Boundaries::new(main.prefixes().chain(t100.prefixes()).chain([rule]));
        let ranges = [r("198.18.6.0", "198.18.8.255")];
        let p = plan(&ranges, &bounds, lookup).unwrap();
        let by_oif = |oif| -> Vec<IpRange> {
            p.paths
                .iter()
                .filter(|pb| pb.key.oif == oif)
                .flat_map(|pb| pb.blocks.iter().map(|b| b.range))
                .collect()
        };
        assert_eq!(by_oif(5), vec![r("198.18.7.0", "198.18.7.255")]);
        assert_eq!(
            by_oif(3),
            vec![
                r("198.18.6.0", "198.18.6.255"),
                r("198.18.8.0", "198.18.8.255")
            ]
        );
    }

    #[test]
    fn stale_boundaries_still_end_blocks_at_the_matched_prefix() {
        // No dump at all: each answer's prefix still bounds its block.
        let fib = table();
        let ranges = [r("198.20.0.250", "198.20.1.3")];
        let p = plan(&ranges, &Boundaries::default(), |a| fib.lookup_ok(a)).unwrap();
        check_against_table(&fib, &ranges, &p);
        assert_eq!(p.lookups, 2);
    }

    #[test]
    fn random_tables_match_the_reference() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..200 {
            let mut entries = Vec::new();
            if next() % 2 == 0 {
                entries.push((pfx("0.0.0.0/0"), via(1, "198.19.0.254", "198.19.0.1")));
            }
            for i in 0..(next() % 12) {
                let a = 0xc612_0000u32 | (next() as u32 & 0x0fff);
                let len = 20 + (next() % 13) as u8;
                let e = match next() % 4 {
                    0 => Entry::Refuse(NoRoute::Blackhole),
                    1 => via(3, "", "198.20.0.1"),
                    _ => via(2 + (i % 3) as u32, "198.19.0.2", "198.19.0.1"),
                };
                entries.push((Prefix::new(IpAddr::V4(a.into()), len).unwrap(), e));
            }
            // One entry per prefix, as in one kernel table.
            let mut seen = std::collections::HashSet::new();
            entries.retain(|(p, _)| seen.insert(*p));
            let fib = StaticFib::new(entries);
            let lo = 0xc612_0000u32 | (next() as u32 & 0x0fff);
            let hi = lo + (next() as u32 % 3000);
            let ranges = [IpRange::new(IpAddr::V4(lo.into()), IpAddr::V4(hi.into())).unwrap()];
            let p = run(&fib, &ranges);
            check_against_table(&fib, &ranges, &p);
            assert!(p.lookups <= fib.prefixes().count() + 1);
        }
    }
}
