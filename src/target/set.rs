//! The target set: sorted disjoint ranges (IPv4 first) plus the index of each range's first
//! address, so index -> address and address -> index are binary searches over ranges with
//! no allocation, whatever the number of addresses.

use std::net::IpAddr;

use super::TargetError;
use super::range::{self, Family, IpRange, ip_key};
use super::spec::{self, Resolver, SpecError};

/// Most addresses a set may hold. Far above any real scan; an IPv6 /64 (2^64) is a typo,
/// and keeping totals below 2^40 leaves room for `addresses * ports` in a `u64`.
pub const MAX_TARGETS: u64 = 1 << 40;

/// A set of addresses with a dense index `0..len()`: IPv4 addresses first, each family in
/// ascending order.
#[derive(Clone, Debug, Default)]
pub struct TargetSet {
    /// Normalized: sorted, disjoint, not touching; IPv4 before IPv6.
    ranges: Vec<IpRange>,
    /// `starts[i]` is the index of `ranges[i].first()`; ascending, `starts[0] == 0`.
    starts: Vec<u64>,
    total: u64,
    /// `ranges[..v4_ranges]` are the IPv4 ranges.
    v4_ranges: usize,
    /// The host names among the targets, as typed, with the addresses each resolved to (in
    /// the order typed): what the user knows the targets by.
    names: Vec<(String, Vec<IpAddr>)>,
}

/// Whether a spec list holds targets or exclusions: only the error variant differs.
#[derive(Clone, Copy)]
enum Kind {
    Target,
    Exclude,
}

impl TargetSet {
    /// Parse target specs (address, CIDR, `a-b`, host name, `@FILE`), minus the excluded
    /// CIDRs / addresses / ranges. Duplicates and overlaps are merged: each address once.
    pub fn parse(specs: &[String], excludes: &[String]) -> Result<Self, TargetError> {
        Self::parse_with(specs, excludes, &spec::system_resolve)
    }

    /// `parse` with a chosen resolver for host names.
    pub(crate) fn parse_with(
        specs: &[String],
        excludes: &[String],
        resolve: Resolver,
    ) -> Result<Self, TargetError> {
        // The targets' names are noted as they resolve (not the excludes': nothing of
        // theirs is shown).
        let names = std::cell::RefCell::new(Vec::<(String, Vec<IpAddr>)>::new());
        let noting = |host: &str| {
            let ips = resolve(host)?;
            let mut names = names.borrow_mut();
            if !names.iter().any(|(n, _)| n == host) {
                names.push((host.to_string(), ips.clone()));
            }
            Ok(ips)
        };
        let include = collect(specs, Kind::Target, &noting)?;
        if include.is_empty() {
            return Err(TargetError::Other("no targets given".into()));
        }
        let exclude = range::normalize(collect(excludes, Kind::Exclude, resolve)?);
        let kept = range::subtract(&range::normalize(include), &exclude);
        if kept.is_empty() {
            return Err(TargetError::Other(
                "no targets left after exclusions".into(),
            ));
        }
        let mut set = Self::from_normalized(kept)?;
        set.names = names.into_inner();
        Ok(set)
    }

    fn from_normalized(ranges: Vec<IpRange>) -> Result<Self, TargetError> {
        let total = match range::count(&ranges) {
            Some(n) if n <= u128::from(MAX_TARGETS) => n as u64,
            n => {
                let shown = n.map_or("2^128".to_string(), |n| n.to_string());
                return Err(TargetError::Other(format!(
                    "{shown} target addresses is above the limit of 2^40 ({MAX_TARGETS}); \
                     narrow the ranges (an IPv6 /64 is not scannable) or exclude some"
                )));
            }
        };
        let mut starts = Vec::with_capacity(ranges.len());
        let mut next = 0u64;
        for r in &ranges {
            starts.push(next);
            // Every range is below the checked total, so neither cast nor sum overflows.
            next += r.len().unwrap_or(0) as u64;
        }
        let v4_ranges = ranges.partition_point(|r| r.family() == Family::V4);
        Ok(TargetSet {
            ranges,
            starts,
            total,
            v4_ranges,
            names: Vec::new(),
        })
    }

    /// This set minus `drop` (normalized ranges): the reserved blocks a scan skips.
    pub fn without(&self, drop: &[IpRange]) -> Result<Self, TargetError> {
        let kept = range::subtract(&self.ranges, drop);
        if kept.is_empty() {
            return Err(TargetError::Other(
                "no targets left after exclusions".into(),
            ));
        }
        let mut set = Self::from_normalized(kept)?;
        set.names = self.names.clone();
        Ok(set)
    }

    /// The host names typed among the targets, each with the addresses it resolved to.
    pub fn names(&self) -> &[(String, Vec<IpAddr>)] {
        &self.names
    }

    /// Read an exclude file (one CIDR / address / range per line, `#` comments) into specs.
    /// A line may hold several specs separated by commas or spaces.
    pub fn read_exclude_file(path: &str) -> Result<Vec<String>, TargetError> {
        let tokens = spec::read_spec_file(path)?;
        // A malformed entry is named with its line here; names are resolved later, with the
        // rest of the excludes, so the check resolves nothing.
        let no_lookup: Resolver = &|_| Ok(Vec::new());
        for (line, tok) in &tokens {
            if let Err(SpecError::Invalid(reason)) = spec::parse_token(tok, no_lookup) {
                return Err(TargetError::Exclude(
                    tok.clone(),
                    format!("{reason} (in {})", spec::place(path, *line)),
                ));
            }
        }
        Ok(tokens.into_iter().map(|(_, tok)| tok).collect())
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The address with index `idx`. Panics if `idx >= len()`: indices come from the pair
    /// space, never from input.
    pub fn ip_at(&self, idx: u64) -> IpAddr {
        assert!(
            idx < self.total,
            "target index {idx} out of 0..{}",
            self.total
        );
        let i = self.starts.partition_point(|&s| s <= idx) - 1;
        self.ranges[i].nth(u128::from(idx - self.starts[i]))
    }

    /// The index of `ip`, or `None` if it is not in the set.
    pub fn index_of(&self, ip: IpAddr) -> Option<u64> {
        let (family, key) = ip_key(ip);
        let base = match family {
            Family::V4 => 0,
            Family::V6 => self.v4_ranges,
        };
        let fam = match family {
            Family::V4 => self.ranges.get(..self.v4_ranges)?,
            Family::V6 => self.ranges.get(self.v4_ranges..)?,
        };
        let j = fam.partition_point(|r| r.hi() < key);
        let r = fam.get(j)?;
        let start = *self.starts.get(base + j)?;
        (r.lo() <= key).then(|| start + (key - r.lo()) as u64)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.index_of(ip).is_some()
    }

    /// The address with index 0, if any.
    pub fn first(&self) -> Option<IpAddr> {
        self.ranges.first().map(IpRange::first)
    }

    /// The disjoint ranges in index order (IPv4 first).
    pub fn ranges(&self) -> &[IpRange] {
        &self.ranges
    }

    /// Number of IPv4 addresses; they hold indices `0..v4_len()`.
    pub fn v4_len(&self) -> u64 {
        self.starts
            .get(self.v4_ranges)
            .copied()
            .unwrap_or(self.total)
    }

    /// Number of IPv6 addresses; they hold indices `v4_len()..len()`.
    pub fn v6_len(&self) -> u64 {
        self.total - self.v4_len()
    }

    pub fn has_v4(&self) -> bool {
        self.v4_ranges > 0
    }

    pub fn has_v6(&self) -> bool {
        self.v4_ranges < self.ranges.len()
    }
}

/// All ranges named by `specs`, un-normalized. `@FILE` reads a file of specs; a spec that
/// starts with `@` is a file name in full, so paths may hold spaces or commas.
fn collect(specs: &[String], kind: Kind, resolve: Resolver) -> Result<Vec<IpRange>, TargetError> {
    let mut out = Vec::new();
    for s in specs {
        let s = s.trim();
        if let Some(path) = s.strip_prefix('@') {
            read_file(path, s, kind, resolve, &mut out)?;
            continue;
        }
        for tok in spec::split_tokens(s) {
            match tok.strip_prefix('@') {
                Some(path) => read_file(path, tok, kind, resolve, &mut out)?,
                None => out.extend(parse_one(tok, kind, resolve, None)?),
            }
        }
    }
    Ok(out)
}

fn read_file(
    path: &str,
    tok: &str,
    kind: Kind,
    resolve: Resolver,
    out: &mut Vec<IpRange>,
) -> Result<(), TargetError> {
    if path.is_empty() {
        return Err(error(kind, tok, "missing file name after '@'".into()));
    }
    for (line, t) in spec::read_spec_file(path)? {
        if t.starts_with('@') {
            let reason = format!(
                "a target file cannot name another file (in {})",
                spec::place(path, line)
            );
            return Err(error(kind, &t, reason));
        }
        out.extend(parse_one(&t, kind, resolve, Some((path, line)))?);
    }
    Ok(())
}

fn parse_one(
    tok: &str,
    kind: Kind,
    resolve: Resolver,
    origin: Option<(&str, usize)>,
) -> Result<Vec<IpRange>, TargetError> {
    spec::parse_token(tok, resolve).map_err(|e| match e {
        SpecError::Invalid(mut reason) => {
            if let Some((path, line)) = origin {
                reason.push_str(&format!(" (in {})", spec::place(path, line)));
            }
            error(kind, tok, reason)
        }
        SpecError::Resolve(mut reason) => {
            if let Some((path, line)) = origin {
                reason.push_str(&format!(" (in {})", spec::place(path, line)));
            }
            TargetError::Resolve(tok.into(), reason)
        }
    })
}

fn error(kind: Kind, tok: &str, reason: String) -> TargetError {
    match kind {
        Kind::Target => TargetError::Target(tok.into(), reason),
        Kind::Exclude => TargetError::Exclude(tok.into(), reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Knows `db-1.internal`, `dup.internal` (the same address twice) and fails
    /// `nohost.internal`; panics on anything else so no bad token reaches it unnoticed.
    fn fake(host: &str) -> Result<Vec<IpAddr>, String> {
        match host {
            "db-1.internal" => Ok(vec![ip("198.18.7.1"), ip("2001:db8::7")]),
            "dup.internal" => Ok(vec![ip("198.18.0.1"), ip("198.18.0.1")]),
            "nohost.internal" => Err("Name or service not known".into()),
            other => panic!("resolver asked about '{other}'"),
        }
    }

    fn set(specs: &[&str], excludes: &[&str]) -> Result<TargetSet, TargetError> {
        TargetSet::parse_with(&strings(specs), &strings(excludes), &fake)
    }

    fn all(s: &TargetSet) -> Vec<IpAddr> {
        (0..s.len()).map(|i| s.ip_at(i)).collect()
    }

    /// Every index maps to an address that maps back, and neighbours outside the set do not.
    fn check_round_trip(s: &TargetSet) {
        let mut prev: Option<IpAddr> = None;
        for i in 0..s.len() {
            let a = s.ip_at(i);
            assert_eq!(s.index_of(a), Some(i), "{a}");
            if let Some(p) = prev {
                assert!(p < a, "{p} then {a}");
            }
            prev = Some(a);
        }
        for r in s.ranges() {
            let (f, lo) = ip_key(r.first());
            let (_, hi) = ip_key(r.last());
            if lo > 0 {
                assert_eq!(s.index_of(range::key_ip(f, lo - 1)), None);
            }
            let top = match f {
                Family::V4 => u128::from(u32::MAX),
                Family::V6 => u128::MAX,
            };
            if hi < top {
                assert_eq!(s.index_of(range::key_ip(f, hi + 1)), None);
            }
        }
    }

    /// A file under the temp dir, unique per test and process, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, contents: &str) -> TempFile {
            let p =
                std::env::temp_dir().join(format!("synprobe-target-{}-{name}", std::process::id()));
            std::fs::write(&p, contents).unwrap();
            TempFile(p)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn single_cidr_range_and_short_range() {
        let s = set(&["198.18.0.1"], &[]).unwrap();
        assert_eq!(all(&s), [ip("198.18.0.1")]);
        assert_eq!(set(&["198.18.0.0/24"], &[]).unwrap().len(), 256);
        assert_eq!(set(&["198.18.0.0/16"], &[]).unwrap().len(), 65536);
        assert_eq!(set(&["2001:db8::/120"], &[]).unwrap().len(), 256);
        assert_eq!(set(&["198.18.0.10-198.18.0.19"], &[]).unwrap().len(), 10);
        let s = set(&["198.18.0.1-20"], &[]).unwrap();
        assert_eq!((s.len(), s.ip_at(19)), (20, ip("198.18.0.20")));
    }

    #[test]
    fn commas_and_spaces_split_a_spec() {
        let s = set(&["198.18.0.1,198.18.0.5", " 198.18.0.9  2001:db8::1 "], &[]).unwrap();
        assert_eq!(
            all(&s),
            [
                ip("198.18.0.1"),
                ip("198.18.0.5"),
                ip("198.18.0.9"),
                ip("2001:db8::1")
            ]
        );
    }

    #[test]
    fn overlaps_and_duplicates_counted_once() {
        let s = set(
            &[
                "198.18.0.0/24",
                "198.18.0.128/25",
                "198.18.0.5",
                "198.18.0.250-198.18.1.9",
                "198.18.0.5",
                "dup.internal",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(s.len(), 256 + 10);
        assert_eq!(s.ranges().len(), 1);
        check_round_trip(&s);
    }

    #[test]
    fn host_names_resolve_to_all_addresses() {
        let s = set(&["db-1.internal"], &[]).unwrap();
        assert_eq!(all(&s), [ip("198.18.7.1"), ip("2001:db8::7")]);
        assert!(s.has_v4() && s.has_v6());
    }

    #[test]
    fn the_names_typed_are_kept_with_their_addresses() {
        let s = set(
            &[
                "198.18.0.9",
                "db-1.internal",
                "dup.internal",
                "db-1.internal",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            s.names(),
            [
                (
                    "db-1.internal".to_string(),
                    vec![ip("198.18.7.1"), ip("2001:db8::7")]
                ),
                (
                    "dup.internal".to_string(),
                    vec![ip("198.18.0.1"), ip("198.18.0.1")]
                ),
            ]
        );
        assert!(set(&["198.18.0.0/30"], &[]).unwrap().names().is_empty());
    }

    #[test]
    fn resolve_failure_is_a_resolve_error() {
        let e = set(&["nohost.internal"], &[]).unwrap_err();
        assert_eq!(
            e,
            TargetError::Resolve("nohost.internal".into(), "Name or service not known".into())
        );
        assert_eq!(
            e.to_string(),
            "cannot resolve host 'nohost.internal': Name or service not known"
        );
    }

    #[test]
    fn localhost_resolves_with_system_resolver() {
        // Answered from /etc/hosts: no packet leaves the machine.
        let s = TargetSet::parse(&strings(&["localhost"]), &[]).unwrap();
        assert!(!s.is_empty());
        assert!(s.ranges().iter().all(|r| r.first().is_loopback()));
    }

    #[test]
    fn excludes_split_a_range_in_the_middle() {
        let s = set(
            &["198.18.0.0/24"],
            &["198.18.0.100-198.18.0.109", "198.18.0.0"],
        )
        .unwrap();
        assert_eq!(s.len(), 256 - 11);
        assert_eq!(s.ranges().len(), 2);
        assert_eq!(s.ip_at(0), ip("198.18.0.1"));
        assert_eq!(s.ip_at(98), ip("198.18.0.99"));
        assert_eq!(s.ip_at(99), ip("198.18.0.110"));
        assert_eq!(s.index_of(ip("198.18.0.105")), None);
        assert_eq!(s.index_of(ip("198.18.0.0")), None);
        check_round_trip(&s);
    }

    #[test]
    fn excludes_accept_cidr_and_commas_and_other_family() {
        let s = set(
            &["198.18.0.0/28", "2001:db8::/124"],
            &["198.18.0.8/29,2001:db8::1", "2001:db8::f"],
        )
        .unwrap();
        assert_eq!(s.v4_len(), 8);
        assert_eq!(s.v6_len(), 14);
        check_round_trip(&s);
    }

    #[test]
    fn everything_excluded_or_nothing_given() {
        let e = set(&["198.18.0.0/24"], &["198.18.0.0/16"]).unwrap_err();
        assert_eq!(
            e,
            TargetError::Other("no targets left after exclusions".into())
        );
        assert!(matches!(set(&[], &[]), Err(TargetError::Other(_))));
        assert!(matches!(set(&["", " , "], &[]), Err(TargetError::Other(_))));
    }

    #[test]
    fn round_trip_over_mixed_sets() {
        let sets = [
            set(&["198.18.0.0/30", "2001:db8::/126"], &[]).unwrap(),
            set(
                &[
                    "2001:db8::5",
                    "198.18.1.1",
                    "198.18.0.1-3",
                    "2001:db8::1-2001:db8::3",
                ],
                &[],
            )
            .unwrap(),
            set(
                &["198.18.0.0/22"],
                &["198.18.1.0/24", "198.18.2.7", "198.18.3.255"],
            )
            .unwrap(),
            set(
                &["255.255.255.250-255.255.255.255", "0.0.0.0/30", "::/126"],
                &[],
            )
            .unwrap(),
            set(
                &["ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", "::1"],
                &["::1"],
            )
            .unwrap(),
            set(&["2001:db8::/112"], &[]).unwrap(),
        ];
        for s in &sets {
            check_round_trip(s);
            assert_eq!(s.v4_len() + s.v6_len(), s.len());
            if s.has_v4() {
                assert!(s.ip_at(0).is_ipv4());
            }
            if s.has_v6() {
                assert!(s.ip_at(s.len() - 1).is_ipv6());
            }
        }
        // IPv4 first, then IPv6, each ascending.
        assert_eq!(
            all(&sets[1]),
            [
                ip("198.18.0.1"),
                ip("198.18.0.2"),
                ip("198.18.0.3"),
                ip("198.18.1.1"),
                ip("2001:db8::1"),
                ip("2001:db8::2"),
                ip("2001:db8::3"),
                ip("2001:db8::5"),
            ]
        );
    }

    #[test]
    fn index_of_other_family_and_empty_set() {
        let s = set(&["198.18.0.0/24"], &[]).unwrap();
        assert_eq!(s.index_of(ip("::ffff:198.18.0.1")), None);
        assert!(!s.has_v6());
        let e = TargetSet::default();
        assert!(e.is_empty());
        assert_eq!(e.index_of(ip("198.18.0.1")), None);
        assert_eq!(e.first(), None);
    }

    #[test]
    #[should_panic(expected = "out of")]
    fn ip_at_past_the_end_panics() {
        set(&["198.18.0.1"], &[]).unwrap().ip_at(1);
    }

    #[test]
    fn limit_of_2_to_the_40() {
        // 2^40 exactly is allowed; one more is not.
        let s = set(&["2001:db8::/88"], &[]).unwrap();
        assert_eq!(s.len(), 1 << 40);
        assert_eq!(s.ip_at((1 << 40) - 1), ip("2001:db8::ff:ffff:ffff"));
        let e = set(&["2001:db8::/88", "198.18.0.1"], &[]).unwrap_err();
        assert!(
            matches!(&e, TargetError::Other(m) if m.contains("1099511627777")),
            "{e}"
        );
        let e = set(&["2001:db8::/64"], &[]).unwrap_err();
        assert!(e.to_string().contains("18446744073709551616"), "{e}");
        let e = set(&["::/0"], &[]).unwrap_err();
        assert!(e.to_string().contains("2^128"), "{e}");
        // The limit applies after exclusions: a /64 cut down to 2^32 addresses is fine.
        let s = set(
            &["2001:db8::/64"],
            &["2001:db8::1:0:0-2001:db8::ffff:ffff:ffff:ffff"],
        )
        .unwrap();
        assert_eq!(s.len(), 1 << 32);
    }

    #[test]
    fn bad_targets_name_the_value() {
        let cases: [(&str, &str); 6] = [
            (
                "198.18.0.300",
                "invalid target '198.18.0.300': not an address, CIDR, range or host name",
            ),
            (
                "198.18.0.0/33",
                "invalid target '198.18.0.0/33': prefix length 33 is above 32",
            ),
            (
                "2001:db8::/129",
                "invalid target '2001:db8::/129': prefix length 129 is above 128",
            ),
            (
                "198.18.0.9-198.18.0.1",
                "invalid target '198.18.0.9-198.18.0.1': range start above end",
            ),
            (
                "198.18.0.1-2001:db8::1",
                "invalid target '198.18.0.1-2001:db8::1': range mixes IPv4 and IPv6",
            ),
            ("@", "invalid target '@': missing file name after '@'"),
        ];
        for (spec, msg) in cases {
            let e = set(&["198.18.0.1", spec], &[]).unwrap_err();
            assert!(
                matches!(e, TargetError::Target(ref v, _) if v == spec),
                "{e:?}"
            );
            assert_eq!(e.to_string(), msg);
            assert!(!e.to_string().contains('\n'));
        }
        // The bad token is named, not the whole comma list.
        let e = set(&["198.18.0.1,198.18.0.256"], &[]).unwrap_err();
        assert_eq!(
            e,
            TargetError::Target(
                "198.18.0.256".into(),
                "not an address, CIDR, range or host name".into()
            )
        );
    }

    #[test]
    fn bad_excludes_are_exclude_errors() {
        let e = set(&["198.18.0.0/24"], &["198.18.0.0/40"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid exclude '198.18.0.0/40': prefix length 40 is above 32"
        );
        let e = set(&["198.18.0.0/24"], &["bogus!"]).unwrap_err();
        assert!(matches!(e, TargetError::Exclude(ref v, _) if v == "bogus!"));
    }

    #[test]
    fn target_file_with_comments_and_several_per_line() {
        let f = TempFile::new(
            "targets",
            "# scan list\n\n  198.18.0.1  \n198.18.0.2, 198.18.0.3 # inline\n2001:db8::/126\n\t\n#198.18.9.9\n",
        );
        let spec = format!("@{}", f.path());
        let s = set(&[&spec, "198.18.0.10"], &[]).unwrap();
        assert_eq!(s.v4_len(), 4);
        assert_eq!(s.v6_len(), 4);
        assert_eq!(s.index_of(ip("198.18.9.9")), None);
        check_round_trip(&s);
    }

    #[test]
    fn bad_line_in_file_names_token_file_and_line() {
        let f = TempFile::new("badline", "198.18.0.1\n# fine\n198.18.0.0/33\n");
        let spec = format!("@{}", f.path());
        let e = set(&[&spec], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid target '198.18.0.0/33': prefix length 33 is above 32 (in '{}' line 3)",
                f.path()
            )
        );
        let g = TempFile::new("nested", &format!("@{}\n", f.path()));
        let e = set(&[&format!("@{}", g.path())], &[]).unwrap_err();
        assert!(matches!(e, TargetError::Target(..)), "{e}");
    }

    #[test]
    fn unreadable_target_file() {
        let missing = std::env::temp_dir().join("synprobe-target-does-not-exist/x");
        let spec = format!("@{}", missing.display());
        let e = set(&[&spec], &[]).unwrap_err();
        assert_eq!(
            e,
            TargetError::File(
                missing.display().to_string(),
                "No such file or directory".into()
            )
        );
        assert_eq!(
            e.to_string(),
            format!(
                "cannot read target file '{}': No such file or directory",
                missing.display()
            )
        );
        let e = TargetSet::read_exclude_file(missing.to_str().unwrap()).unwrap_err();
        assert!(matches!(e, TargetError::File(..)));
        // A directory is not a file of specs.
        let dir = std::env::temp_dir();
        let e = TargetSet::read_exclude_file(dir.to_str().unwrap()).unwrap_err();
        assert!(matches!(e, TargetError::File(..)), "{e}");
    }

    #[test]
    fn exclude_file_read_and_applied() {
        let f = TempFile::new(
            "excludes",
            "# never scan\n198.18.0.0/30 198.18.0.100\n\n198.18.0.200-198.18.0.255 # tail\n",
        );
        let ex = TargetSet::read_exclude_file(f.path()).unwrap();
        assert_eq!(
            ex,
            ["198.18.0.0/30", "198.18.0.100", "198.18.0.200-198.18.0.255"]
        );
        let s = TargetSet::parse_with(&strings(&["198.18.0.0/24"]), &ex, &fake).unwrap();
        assert_eq!(s.len(), 256 - 4 - 1 - 56);
        check_round_trip(&s);
        // The same file works as an @FILE exclude.
        let at = format!("@{}", f.path());
        let s2 = set(&["198.18.0.0/24"], &[&at]).unwrap();
        assert_eq!(s2.ranges(), s.ranges());
    }

    #[test]
    fn a_bad_exclude_file_entry_is_named_with_its_line() {
        let f = TempFile::new(
            "bad-excludes",
            "198.18.0.0/30
# ok
db-1.internal bogus!
",
        );
        let e = TargetSet::read_exclude_file(f.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid exclude 'bogus!': not an address, CIDR, range or host name (in '{}' line 3)",
                f.path()
            )
        );
    }
}
