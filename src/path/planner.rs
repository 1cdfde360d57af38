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
