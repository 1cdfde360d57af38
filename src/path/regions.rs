//! Where a destination lookup's answer can change: the prefixes of every routing table and
//! of every `ip rule ... to PREFIX`, as a nested (laminar) family of address runs. Two
//! destinations whose innermost covering prefix is the same are covered by exactly the same
//! routes in every table and selected by the same destination rules, so the kernel answers
//! both alike: that innermost prefix (or "none") is a *region*, and one lookup per region
//! is enough.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::route::Prefix;
use crate::target::Family;

/// A region: the family and the index of its innermost covering prefix (`None`: covered by
/// no prefix at all).
pub(crate) type RegionId = (Family, Option<u32>);

/// The prefixes of one family, sorted by start and then widest first, without duplicates.
/// CIDR prefixes never partly overlap, so every prefix's parent is the nearest earlier one
/// that still covers it.
#[derive(Clone, Debug, Default)]
struct Nested {
    lo: Vec<u128>,
    hi: Vec<u128>,
    parent: Vec<Option<u32>>,
}

impl Nested {
    fn new(mut runs: Vec<(u128, u128)>) -> Nested {
        runs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        runs.dedup();
        let mut n = Nested::default();
        let mut open: Vec<u32> = Vec::new();
        for (i, &(lo, hi)) in runs.iter().enumerate() {
            while open.last().is_some_and(|&p| n.hi[p as usize] < lo) {
                open.pop();
            }
            n.parent.push(open.last().copied());
            n.lo.push(lo);
            n.hi.push(hi);
            open.push(i as u32);
        }
        n
    }

    /// The innermost prefix covering `k`, and the last key of its region from `k` on (the
    /// region ends where that prefix ends or where the next prefix starts).
    fn region(&self, k: u128) -> (Option<u32>, u128) {
        let next = self.lo.partition_point(|&lo| lo <= k);
        let mut cur = next.checked_sub(1).map(|i| i as u32);
        // Bounded by the nesting depth (at most 129 for IPv6).
        while let Some(p) = cur {
            if self.hi[p as usize] >= k {
                break;
            }
            cur = self.parent[p as usize];
        }
        let mut end = cur.map_or(u128::MAX, |p| self.hi[p as usize]);
        if let Some(&start) = self.lo.get(next) {
            end = end.min(start - 1);
        }
        (cur, end)
    }

    fn len(&self) -> usize {
        self.lo.len()
    }
}

/// The region boundaries of both families.
#[derive(Clone, Debug, Default)]
pub struct Boundaries {
    v4: Nested,
    v6: Nested,
}

impl Boundaries {
    /// From the prefixes of every table and rule (`RouteSocket::boundary_prefixes`), in any
    /// order, duplicates allowed.
    pub fn new(prefixes: impl IntoIterator<Item = Prefix>) -> Boundaries {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for p in prefixes {
            let r = p.range();
            let run = (r.lo(), r.hi());
            match p.family() {
                Family::V4 => v4.push(run),
                Family::V6 => v6.push(run),
            }
        }
        Boundaries {
            v4: Nested::new(v4),
            v6: Nested::new(v6),
        }
    }

    /// Distinct prefixes held.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The region of key `k` on `family`'s line and the last key of that region from `k` on.
    pub(crate) fn region(&self, family: Family, k: u128) -> (RegionId, u128) {
        let (id, end) = match family {
            Family::V4 => {
                let (id, end) = self.v4.region(k);
                (id, end.min(u128::from(u32::MAX)))
            }
            Family::V6 => self.v6.region(k),
        };
        ((family, id), end)
    }
}

/// The address for key `k` on `family`'s line (IPv4 keys fit a u32 by construction).
pub(crate) fn key_ip(family: Family, k: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(k as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::test_util::pfx as p;

    fn k(s: &str) -> u128 {
        match s.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    #[test]
    fn regions_follow_nesting_and_gaps() {
        let b = Boundaries::new([
            p("198.18.0.0/16"),
            p("198.18.1.0/24"),
            p("198.18.1.128/25"),
            p("198.18.0.0/16"), // the same prefix in another table
            p("198.20.0.0/24"),
        ]);
        assert_eq!(b.len(), 4);
        let r = |s: &str| b.region(Family::V4, k(s));
        // Before every prefix: no region until the /16 starts.
        assert_eq!(r("1.2.3.4"), ((Family::V4, None), k("198.17.255.255")));
        // In the /16, before the nested /24.
        let (top, end) = r("198.18.0.9");
        assert_eq!(end, k("198.18.0.255"));
        let (mid, end) = r("198.18.1.0");
        assert_eq!(end, k("198.18.1.127"));
        let (inner, end) = r("198.18.1.200");
        assert_eq!(end, k("198.18.1.255"));
        // Back in the /16 after the nested ones: the same region as before them.
        assert_eq!(r("198.18.2.0"), (top, k("198.18.255.255")));
        assert!(top != mid && mid != inner && top != inner);
        // The gap after the /16, then the /24, then the rest of the line.
        assert_eq!(r("198.19.0.0").1, k("198.19.255.255"));
        assert_eq!(r("198.20.0.7").1, k("198.20.0.255"));
        assert_eq!(r("198.20.1.0"), ((Family::V4, None), k("255.255.255.255")));
    }

    #[test]
    fn default_route_and_ipv6_ends() {
        let b = Boundaries::new([p("0.0.0.0/0"), p("::/0"), p("2001:db8::/32")]);
        let (d, end) = b.region(Family::V4, k("203.0.113.7"));
        assert_eq!(d.1, Some(0));
        assert_eq!(end, k("255.255.255.255"));
        assert_eq!(
            b.region(Family::V6, k("::1")).1,
            k("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")
        );
        assert_eq!(b.region(Family::V6, k("ffff::1")).1, u128::MAX);
        assert!(Boundaries::default().is_empty());
        assert_eq!(
            Boundaries::default().region(Family::V4, 5).1,
            u128::from(u32::MAX)
        );
    }
}
