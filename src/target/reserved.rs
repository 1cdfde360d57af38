//! Address blocks no scan of the internet should probe: the four a large IPv4 sweep skips
//! by default (`GUARD_V4`), and IANA's special-purpose address registries for IPv4 and IPv6
//! (`SPECIAL_V4`, `SPECIAL_V6`, each block with its RFC) that `--exclude-reserved` skips
//! whatever the scan's size. Pure data and set arithmetic on `TargetSet`; nothing here sends.

use std::net::IpAddr;

use super::range::{self, IpRange};
use super::{TargetError, TargetSet};

/// One registered block: its CIDR, what it is, and the RFC that says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub cidr: &'static str,
    pub name: &'static str,
    pub rfc: &'static str,
}

const fn b(cidr: &'static str, name: &'static str, rfc: &'static str) -> Block {
    Block { cidr, name, rfc }
}

/// A scan whose IPv4 targets number more than a /8 skips `GUARD_V4` unless told otherwise:
/// a sweep that large is an internet scan, and these blocks hold no host one may probe.
pub const GUARD_ABOVE: u64 = 1 << 24;

/// Skipped by a scan of more than a /8 (issue 10): this network, loopback, multicast and
/// the reserved class E.
pub const GUARD_V4: [Block; 4] = [
    b("0.0.0.0/8", "this network", "RFC 791 section 3.2"),
    b("127.0.0.0/8", "loopback", "RFC 1122 section 3.2.1.3"),
    b("224.0.0.0/4", "multicast", "RFC 5771"),
    b("240.0.0.0/4", "reserved", "RFC 1112 section 4"),
];

/// IANA IPv4 Special-Purpose Address Registry (nested entries kept as listed there).
pub const SPECIAL_V4: [Block; 23] = [
    b("0.0.0.0/8", "this network", "RFC 791 section 3.2"),
    b("10.0.0.0/8", "private-use", "RFC 1918"),
    b("100.64.0.0/10", "shared address space", "RFC 6598"),
    b("127.0.0.0/8", "loopback", "RFC 1122 section 3.2.1.3"),
    b("169.254.0.0/16", "link local", "RFC 3927"),
    b("172.16.0.0/12", "private-use", "RFC 1918"),
    b(
        "192.0.0.0/24",
        "IETF protocol assignments",
        "RFC 6890 section 2.1",
    ),
    b("192.0.0.0/29", "IPv4 service continuity prefix", "RFC 7335"),
    b("192.0.0.8/32", "IPv4 dummy address", "RFC 7600"),
    b("192.0.0.9/32", "port control protocol anycast", "RFC 7723"),
    b(
        "192.0.0.10/32",
        "traversal using relays around NAT anycast",
        "RFC 8155",
    ),
    b(
        "192.0.0.170/31",
        "NAT64/DNS64 discovery",
        "RFC 8880, RFC 7050",
    ),
    b("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
    b("192.31.196.0/24", "AS112-v4", "RFC 7535"),
    b("192.52.193.0/24", "AMT", "RFC 7450"),
    b(
        "192.88.99.0/24",
        "deprecated 6to4 relay anycast",
        "RFC 7526",
    ),
    b("192.168.0.0/16", "private-use", "RFC 1918"),
    b(
        "192.175.48.0/24",
        "direct delegation AS112 service",
        "RFC 7534",
    ),
    b("198.18.0.0/15", "benchmarking", "RFC 2544"),
    b("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
    b("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
    b("240.0.0.0/4", "reserved", "RFC 1112 section 4"),
    b(
        "255.255.255.255/32",
        "limited broadcast",
        "RFC 8190, RFC 919 section 7",
    ),
];

/// IANA IPv6 Special-Purpose Address Registry (nested entries kept as listed there).
pub const SPECIAL_V6: [Block; 24] = [
    b("::1/128", "loopback", "RFC 4291"),
    b("::/128", "unspecified", "RFC 4291"),
    b("::ffff:0:0/96", "IPv4-mapped", "RFC 4291"),
    b("64:ff9b::/96", "IPv4-IPv6 translation", "RFC 6052"),
    b(
        "64:ff9b:1::/48",
        "local-use IPv4-IPv6 translation",
        "RFC 8215",
    ),
    b("100::/64", "discard-only", "RFC 6666"),
    b("2001::/23", "IETF protocol assignments", "RFC 2928"),
    b("2001::/32", "TEREDO", "RFC 4380, RFC 8190"),
    b("2001:1::1/128", "port control protocol anycast", "RFC 7723"),
    b(
        "2001:1::2/128",
        "traversal using relays around NAT anycast",
        "RFC 8155",
    ),
    b(
        "2001:1::3/128",
        "DNS-SD service registration protocol anycast",
        "RFC 9665",
    ),
    b("2001:2::/48", "benchmarking", "RFC 5180, RFC 1752"),
    b("2001:3::/32", "AMT", "RFC 7450"),
    b("2001:4:112::/48", "AS112-v6", "RFC 7535"),
    b("2001:10::/28", "deprecated ORCHID", "RFC 4843"),
    b("2001:20::/28", "ORCHIDv2", "RFC 7343"),
    b(
        "2001:30::/28",
        "drone remote ID protocol entity tags",
        "RFC 9374",
    ),
    b("2001:db8::/32", "documentation", "RFC 3849"),
    b("2002::/16", "6to4", "RFC 3056"),
    b(
        "2620:4f:8000::/48",
        "direct delegation AS112 service",
        "RFC 7534",
    ),
    b("3fff::/20", "documentation", "RFC 9637"),
    b("5f00::/16", "segment routing SIDs", "RFC 9602"),
    b("fc00::/7", "unique-local", "RFC 4193, RFC 8190"),
    b("fe80::/10", "link-local unicast", "RFC 4291"),
];

/// Multicast is in IANA's multicast registries, not the special-purpose ones, but is no
/// more a target: `--exclude-reserved` skips it too (IPv4's is in `GUARD_V4`).
pub const MULTICAST_V6: Block = b("ff00::/8", "multicast", "RFC 4291");

/// What a scan does with reserved blocks (`--include-reserved`, `--exclude-reserved`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reserved {
    /// The default: above a /8 of IPv4 targets, skip `GUARD_V4`.
    #[default]
    Guard,
    /// `--include-reserved`: skip nothing.
    Include,
    /// `--exclude-reserved`: skip every block of both registries (and the guard's).
    ExcludeAll,
}

/// A block that held some of the targets, and how many addresses were skipped in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub block: Block,
    pub addresses: u128,
}

impl Block {
    /// The block as a range. The tables are constants checked by a test.
    pub fn range(&self) -> IpRange {
        let (ip, len) = self.cidr.split_once('/').expect("table CIDR has a /");
        let ip: IpAddr = ip.parse().expect("table address");
        IpRange::cidr(ip, len.parse().expect("table prefix")).expect("table CIDR")
    }
}

/// The blocks `policy` skips for `targets` (none for `Include`, or a small `Guard` scan).
pub fn blocks_for(targets: &TargetSet, policy: Reserved) -> Vec<Block> {
    match policy {
        Reserved::Include => Vec::new(),
        Reserved::Guard if targets.v4_len() > GUARD_ABOVE => GUARD_V4.to_vec(),
        Reserved::Guard => Vec::new(),
        Reserved::ExcludeAll => GUARD_V4
            .iter()
            .chain(&SPECIAL_V4)
            .chain(&SPECIAL_V6)
            .chain(std::iter::once(&MULTICAST_V6))
            .copied()
            .collect(),
    }
}

/// `targets` without the blocks `policy` skips, and what was skipped, block by block
/// (a nested block is counted within the one that holds it, not twice). Errors when
/// nothing is left.
pub fn apply(
    targets: TargetSet,
    policy: Reserved,
) -> Result<(TargetSet, Vec<Skipped>), TargetError> {
    let blocks = blocks_for(&targets, policy);
    if blocks.is_empty() {
        return Ok((targets, Vec::new()));
    }
    let mut skipped = Vec::new();
    let mut taken: Vec<IpRange> = Vec::new();
    for block in blocks {
        let r = block.range();
        if taken
            .iter()
            .any(|t| t.contains(r.first()) && t.contains(r.last()))
        {
            continue;
        }
        let inside = range::count(&range::subtract(targets.ranges(), &[r]))
            .map(|rest| u128::from(targets.len()) - rest)
            .unwrap_or(0);
        if inside > 0 {
            skipped.push(Skipped {
                block,
                addresses: inside,
            });
        }
        taken.push(r);
    }
    if skipped.is_empty() {
        return Ok((targets, skipped));
    }
    let kept = targets.without(&range::normalize(taken))?;
    Ok((kept, skipped))
}

/// One stderr line saying what `apply` skipped and how to get it back; `None` if nothing.
pub fn skipped_line(skipped: &[Skipped], policy: Reserved) -> Option<String> {
    const SHOWN: usize = 6;
    if skipped.is_empty() {
        return None;
    }
    let total: u128 = skipped.iter().map(|s| s.addresses).sum();
    let mut parts: Vec<String> = skipped
        .iter()
        .take(SHOWN)
        .map(|s| format!("{} ({}, {})", s.block.cidr, s.block.name, s.addresses))
        .collect();
    if skipped.len() > SHOWN {
        parts.push(format!("and {} more blocks", skipped.len() - SHOWN));
    }
    let why = match policy {
        Reserved::ExcludeAll => "--exclude-reserved",
        _ => "targets span more than a /8 of IPv4",
    };
    let hint = match policy {
        Reserved::Guard => "; --include-reserved probes them",
        _ => "",
    };
    Some(format!(
        "{why}: skipped {total} reserved addresses: {}{hint}",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(specs: &[&str]) -> TargetSet {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        TargetSet::parse(&specs, &[]).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_table_entry_is_a_cidr_of_its_family_with_an_rfc() {
        for blk in GUARD_V4.iter().chain(&SPECIAL_V4) {
            assert!(blk.range().first().is_ipv4(), "{}", blk.cidr);
            assert!(blk.rfc.starts_with("RFC "), "{}", blk.cidr);
        }
        for blk in SPECIAL_V6.iter().chain(std::iter::once(&MULTICAST_V6)) {
            assert!(blk.range().first().is_ipv6(), "{}", blk.cidr);
            assert!(blk.rfc.starts_with("RFC "), "{}", blk.cidr);
        }
        // The address is the block's first: no typo of a host bit.
        for blk in GUARD_V4.iter().chain(&SPECIAL_V4).chain(&SPECIAL_V6) {
            let first = blk.range().first().to_string();
            let (given, _) = blk.cidr.split_once('/').unwrap();
            assert_eq!(first, given.parse::<IpAddr>().unwrap().to_string());
        }
    }

    #[test]
    fn a_scan_of_a_slash8_or_less_keeps_everything() {
        // Exactly a /8 is not "more than a /8", even the loopback one.
        let t = set(&["127.0.0.0/8"]);
        let (kept, skipped) = apply(t.clone(), Reserved::Guard).unwrap();
        assert_eq!(kept.len(), t.len());
        assert!(skipped.is_empty());
        // The test ranges stay scannable by default.
        let (kept, _) = apply(set(&["198.18.0.0/15"]), Reserved::Guard).unwrap();
        assert_eq!(kept.len(), 1 << 17);
    }

    #[test]
    fn above_a_slash8_the_four_blocks_are_skipped_and_named() {
        // 0.0.0.0/7: 0/8 goes, 1/8 stays.
        let (kept, skipped) = apply(set(&["0.0.0.0/7"]), Reserved::Guard).unwrap();
        assert_eq!(kept.len(), 1 << 24);
        assert!(!kept.contains(ip("0.0.0.1")) && kept.contains(ip("1.0.0.1")));
        assert_eq!(
            skipped,
            vec![Skipped {
                block: GUARD_V4[0],
                addresses: 1 << 24
            }]
        );
        let line = skipped_line(&skipped, Reserved::Guard).unwrap();
        assert_eq!(
            line,
            "targets span more than a /8 of IPv4: skipped 16777216 reserved addresses: \
             0.0.0.0/8 (this network, 16777216); --include-reserved probes them"
        );
        // Spread over the address space: a /8 plus a bit of each guarded block.
        let (kept, skipped) = apply(
            set(&[
                "11.0.0.0/8",
                "0.0.0.0/30",
                "127.0.0.1",
                "224.0.0.0-224.0.0.9",
                "255.255.255.255",
                "203.0.113.5",
            ]),
            Reserved::Guard,
        )
        .unwrap();
        assert_eq!(kept.len(), (1 << 24) + 1, "the /8 and 203.0.113.5 remain");
        let got: Vec<(&str, u128)> = skipped
            .iter()
            .map(|s| (s.block.cidr, s.addresses))
            .collect();
        assert_eq!(
            got,
            vec![
                ("0.0.0.0/8", 4),
                ("127.0.0.0/8", 1),
                ("224.0.0.0/4", 10),
                ("240.0.0.0/4", 1)
            ]
        );
    }

    #[test]
    fn include_reserved_keeps_them() {
        let t = set(&["0.0.0.0/7"]);
        let (kept, skipped) = apply(t, Reserved::Include).unwrap();
        assert_eq!(kept.len(), 1 << 25);
        assert!(skipped.is_empty());
        assert_eq!(skipped_line(&skipped, Reserved::Include), None);
    }

    #[test]
    fn ipv6_targets_do_not_count_toward_the_slash8() {
        let (kept, skipped) =
            apply(set(&["2001:db8::/100", "127.0.0.1"]), Reserved::Guard).unwrap();
        assert_eq!(kept.len(), (1 << 28) + 1);
        assert!(skipped.is_empty());
    }

    #[test]
    fn exclude_reserved_takes_both_registries_whatever_the_size() {
        let (kept, skipped) = apply(
            set(&[
                "192.0.0.0-192.0.3.255",
                "8.8.8.8",
                "2001:db8::1",
                "2606:4700::1",
                "ff02::1",
            ]),
            Reserved::ExcludeAll,
        )
        .unwrap();
        // 192.0.0/24 and 192.0.2/24 go; 192.0.1/24 and 192.0.3/24 stay.
        let left: Vec<String> = kept.ranges().iter().map(|r| format!("{r:?}")).collect();
        assert_eq!(kept.len(), 512 + 1 + 1, "{left:?}");
        assert!(kept.contains(ip("192.0.1.7")) && kept.contains(ip("192.0.3.7")));
        assert!(kept.contains(ip("8.8.8.8")) && kept.contains(ip("2606:4700::1")));
        assert!(!kept.contains(ip("192.0.0.9")) && !kept.contains(ip("2001:db8::1")));
        assert!(!kept.contains(ip("ff02::1")));
        // Nested blocks (192.0.0.9/32 in 192.0.0.0/24) are counted once, in the outer one.
        let got: Vec<(&str, u128)> = skipped
            .iter()
            .map(|s| (s.block.cidr, s.addresses))
            .collect();
        assert_eq!(
            got,
            vec![
                ("192.0.0.0/24", 256),
                ("192.0.2.0/24", 256),
                ("2001:db8::/32", 1),
                ("ff00::/8", 1)
            ]
        );
        let line = skipped_line(&skipped, Reserved::ExcludeAll).unwrap();
        assert!(line.starts_with("--exclude-reserved: skipped 514 reserved addresses: "));
        assert!(!line.contains("--include-reserved"), "{line}");
    }

    #[test]
    fn exclude_reserved_on_test_ranges_leaves_nothing_and_says_so() {
        let e = apply(set(&["198.18.0.0/16"]), Reserved::ExcludeAll).unwrap_err();
        assert_eq!(
            e,
            TargetError::Other("no targets left after exclusions".into())
        );
    }
}
