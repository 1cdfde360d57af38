//! Address ranges as runs of integers: an IPv4 address is its `u32` widened to `u128`, an IPv6
//! address its `u128`, and the family tag keeps the two number lines apart. Sets are sorted,
//! merged, disjoint runs, so union is sort-and-merge and exclusion is a linear sweep.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Address family. `V4` sorts before `V6`, so a set lists all IPv4 ranges first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Address width in bits: the largest valid prefix length.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

/// The number an address stands for on its family's line.
pub fn ip_key(ip: IpAddr) -> (Family, u128) {
    match ip {
        IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

/// The address for `key` on `family`'s line. IPv4 keys above `u32::MAX` cannot come from a
/// range built here; they are truncated rather than panicking.
pub fn key_ip(family: Family, key: u128) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(key as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(key)),
    }
}

/// An inclusive run `first..=last` of addresses of one family (never empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRange {
    // Field order matters: the derived `Ord` sorts by family, then start.
    family: Family,
    lo: u128,
    hi: u128,
}

impl IpRange {
    /// `first..=last`, or `None` if the families differ or `first > last`.
    pub fn new(first: IpAddr, last: IpAddr) -> Option<IpRange> {
        let (f1, lo) = ip_key(first);
        let (f2, hi) = ip_key(last);
        (f1 == f2 && lo <= hi).then_some(IpRange { family: f1, lo, hi })
    }

    /// The range holding only `ip`.
    pub fn single(ip: IpAddr) -> IpRange {
        let (family, k) = ip_key(ip);
        IpRange {
            family,
            lo: k,
            hi: k,
        }
    }

    /// The CIDR block `ip/prefix` with host bits of `ip` ignored (as nmap does), or `None`
    /// if `prefix` is longer than the address.
    pub fn cidr(ip: IpAddr, prefix: u8) -> Option<IpRange> {
        let (family, k) = ip_key(ip);
        let bits = family.bits();
        if prefix > bits {
            return None;
        }
        let host_bits = u32::from(bits - prefix);
        // A shift by 128 overflows, so the /0 host mask is spelled out.
        let host_mask = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let lo = k & !host_mask;
        Some(IpRange {
            family,
            lo,
            hi: lo | host_mask,
        })
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn first(&self) -> IpAddr {
        key_ip(self.family, self.lo)
    }

    pub fn last(&self) -> IpAddr {
        key_ip(self.family, self.hi)
    }

    /// Number of addresses, or `None` for the whole IPv6 space (2^128 does not fit a `u128`).
    pub fn len(&self) -> Option<u128> {
        (self.hi - self.lo).checked_add(1)
    }

    /// Always false: a range holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (family, k) = ip_key(ip);
        family == self.family && self.lo <= k && k <= self.hi
    }

    /// The `n`-th address of the range (`n` below `len()`).
    pub fn nth(&self, n: u128) -> IpAddr {
        debug_assert!(n <= self.hi - self.lo);
        key_ip(self.family, self.lo.wrapping_add(n))
    }

    pub(crate) fn lo(&self) -> u128 {
        self.lo
    }

    pub(crate) fn hi(&self) -> u128 {
        self.hi
    }
}

/// Sort and merge overlapping or touching ranges into disjoint ranges with gaps between them.
pub fn normalize(mut ranges: Vec<IpRange>) -> Vec<IpRange> {
    ranges.sort_unstable();
    let mut out: Vec<IpRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        if let Some(prev) = out.last_mut()
            && prev.family == r.family
            && r.lo <= prev.hi.saturating_add(1)
        {
            prev.hi = prev.hi.max(r.hi);
        } else {
            out.push(r);
        }
    }
    out
}

/// `keep` minus `drop`; both must be normalized, and so is the result.
pub fn subtract(keep: &[IpRange], drop: &[IpRange]) -> Vec<IpRange> {
    let mut out = Vec::with_capacity(keep.len());
    for r in keep {
        // First exclusion that ends at or after this range's start.
        let mut j = drop.partition_point(|d| (d.family, d.hi) < (r.family, r.lo));
        // `None` once the excluded run reaches the top of the number line.
        let mut cur = Some(r.lo);
        while let (Some(c), Some(d)) = (cur, drop.get(j)) {
            if d.family != r.family || d.lo > r.hi {
                break;
            }
            if d.lo > c {
                out.push(IpRange {
                    family: r.family,
                    lo: c,
                    hi: d.lo - 1,
                });
            }
            cur = d.hi.checked_add(1).filter(|&n| n <= r.hi);
            j += 1;
        }
        if let Some(c) = cur {
            out.push(IpRange {
                family: r.family,
                lo: c,
                hi: r.hi,
            });
        }
    }
    out
}

/// Total addresses over `ranges`, or `None` if it does not fit a `u128`.
pub fn count(ranges: &[IpRange]) -> Option<u128> {
    ranges
        .iter()
        .try_fold(0u128, |acc, r| acc.checked_add(r.len()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn r(a: &str, b: &str) -> IpRange {
        IpRange::new(ip(a), ip(b)).unwrap()
    }

    #[test]
    fn new_rejects_reversed_and_mixed() {
        assert!(IpRange::new(ip("198.18.0.2"), ip("198.18.0.1")).is_none());
        assert!(IpRange::new(ip("198.18.0.1"), ip("2001:db8::1")).is_none());
        assert_eq!(r("198.18.0.1", "198.18.0.1").len(), Some(1));
    }

    #[test]
    fn cidr_masks_host_bits() {
        let c = IpRange::cidr(ip("198.18.3.77"), 16).unwrap();
        assert_eq!(c, r("198.18.0.0", "198.18.255.255"));
        let c = IpRange::cidr(ip("2001:db8::1234"), 120).unwrap();
        assert_eq!(c, r("2001:db8::1200", "2001:db8::12ff"));
        assert_eq!(
            IpRange::cidr(ip("1.2.3.4"), 0).unwrap().len(),
            Some(1 << 32)
        );
        assert_eq!(IpRange::cidr(ip("::1"), 0).unwrap().len(), None);
        assert_eq!(IpRange::cidr(ip("::1"), 128).unwrap().len(), Some(1));
        assert!(IpRange::cidr(ip("1.2.3.4"), 33).is_none());
        assert!(IpRange::cidr(ip("::"), 129).is_none());
    }

    #[test]
    fn normalize_merges_overlapping_and_touching_only() {
        let v = normalize(vec![
            r("198.18.0.10", "198.18.0.20"),
            r("2001:db8::1", "2001:db8::5"),
            r("198.18.0.1", "198.18.0.9"),
            r("198.18.0.15", "198.18.0.30"),
            r("198.18.0.40", "198.18.0.40"),
            r("2001:db8::5", "2001:db8::9"),
        ]);
        assert_eq!(
            v,
            vec![
                r("198.18.0.1", "198.18.0.30"),
                r("198.18.0.40", "198.18.0.40"),
                r("2001:db8::1", "2001:db8::9"),
            ]
        );
    }

    #[test]
    fn normalize_does_not_merge_across_families() {
        // 255.255.255.255 and :: are adjacent as numbers only if families were ignored.
        let v = normalize(vec![r("255.255.255.255", "255.255.255.255"), r("::", "::")]);
        assert_eq!(v.len(), 2);
        let top = IpRange::cidr(ip("::"), 0).unwrap();
        assert_eq!(normalize(vec![top, top]), vec![top]);
    }

    #[test]
    fn subtract_splits_in_the_middle_and_trims_ends() {
        let keep = vec![
            r("198.18.0.0", "198.18.0.255"),
            r("2001:db8::", "2001:db8::ff"),
        ];
        let drop = normalize(vec![
            r("198.18.0.100", "198.18.0.110"),
            r("198.18.0.0", "198.18.0.0"),
            r("198.18.0.250", "198.18.1.5"),
            r("2001:db8::", "2001:db8::ff"),
        ]);
        assert_eq!(
            subtract(&keep, &drop),
            vec![
                r("198.18.0.1", "198.18.0.99"),
                r("198.18.0.111", "198.18.0.249")
            ]
        );
    }

    #[test]
    fn subtract_at_top_of_number_line() {
        let all = IpRange::cidr(ip("::"), 0).unwrap();
        let top = r(
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        );
        let out = subtract(&[all], &[top]);
        assert_eq!(
            out,
            vec![r("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffef")]
        );
        assert!(subtract(&[top], &[all]).is_empty());
    }

    #[test]
    fn subtract_with_other_family_only_keeps_everything() {
        let keep = vec![r("198.18.0.0", "198.18.0.9")];
        let drop = vec![r("::", "ffff::")];
        assert_eq!(subtract(&keep, &drop), keep);
    }

    #[test]
    fn count_sums_and_detects_overflow() {
        assert_eq!(
            count(&[r("198.18.0.0", "198.18.0.9"), r("::1", "::2")]),
            Some(12)
        );
        assert_eq!(count(&[IpRange::cidr(ip("::"), 0).unwrap()]), None);
        assert_eq!(count(&[]), Some(0));
    }
}
