//! nmap's per-octet IPv4 ranges: `198.18.0-3.1-20`, `198.18.*.1` (each of the four octets
//! is `N`, `N-M` or `*`). The set they name is the product of the octet ranges, which is
//! not one run of addresses: it becomes one run per combination of the leading octets,
//! with trailing full octets (`0-255`, `*`) folded into each run.

use std::net::{IpAddr, Ipv4Addr};

use super::range::IpRange;

/// Most runs one token may expand to: `0-255.0-255.0-255.1` would be 16.7 M runs of one
/// address, which the user should write as a list file instead.
pub(crate) const MAX_RUNS: u64 = 1 << 16;

/// `Ok(None)` if `tok` is not in octet form at all (not four dot-separated parts of
/// digits, `-` and `*`), so the caller can try other forms; `Err` with a reason if it is
/// in octet form but wrong.
pub(crate) fn parse_octet_ranges(tok: &str) -> Result<Option<Vec<IpRange>>, String> {
    let parts: Vec<&str> = tok.split('.').collect();
    let shaped = parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || b == b'-' || b == b'*')
        });
    if !shaped || !tok.bytes().any(|b| b == b'-' || b == b'*') {
        return Ok(None);
    }
    let mut octets = [(0u8, 0u8); 4];
    for (slot, part) in octets.iter_mut().zip(&parts) {
        *slot = octet_range(part)?;
    }
    // Trailing octets that span 0-255 fold into each run; the others are enumerated.
    let full = octets.iter().rev().take_while(|&&r| r == (0, 255)).count();
    let enumerated = 4 - full;
    let runs: u64 = octets[..enumerated.saturating_sub(1)]
        .iter()
        .map(|&(lo, hi)| u64::from(hi - lo) + 1)
        .product();
    if runs > MAX_RUNS {
        return Err(format!(
            "octet ranges expand to {runs} separate runs (at most {MAX_RUNS}); use CIDR blocks or a list file"
        ));
    }
    let mut out = Vec::with_capacity(runs as usize);
    let mut prefix = [0u8; 4];
    expand(&octets, enumerated, 0, &mut prefix, &mut out);
    Ok(Some(out))
}

/// One octet: `N`, `N-M` (N <= M) or `*`.
fn octet_range(part: &str) -> Result<(u8, u8), String> {
    if part == "*" {
        return Ok((0, 255));
    }
    let one = |s: &str| -> Result<u8, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("octet '{part}' is not N, N-M or *"));
        }
        s.parse::<u8>()
            .map_err(|_| format!("octet '{part}' is above 255"))
    };
    match part.split_once('-') {
        Some((a, b)) => {
            let (lo, hi) = (one(a)?, one(b)?);
            if lo > hi {
                return Err(format!("octet range '{part}' starts above its end"));
            }
            Ok((lo, hi))
        }
        None => one(part).map(|v| (v, v)),
    }
}

/// Fixes octets one by one up to the last enumerated one, whose range (with the full
/// octets after it) makes one run per prefix.
fn expand(
    octets: &[(u8, u8); 4],
    enumerated: usize,
    at: usize,
    prefix: &mut [u8; 4],
    out: &mut Vec<IpRange>,
) {
    if enumerated == 0 {
        out.push(run([0; 4], [255; 4]));
        return;
    }
    let (lo, hi) = octets[at];
    if at + 1 == enumerated {
        let mut first = *prefix;
        let mut last = *prefix;
        first[at] = lo;
        last[at] = hi;
        for i in at + 1..4 {
            first[i] = 0;
            last[i] = 255;
        }
        out.push(run(first, last));
        return;
    }
    for v in lo..=hi {
        prefix[at] = v;
        expand(octets, enumerated, at + 1, prefix, out);
    }
}

fn run(first: [u8; 4], last: [u8; 4]) -> IpRange {
    let (a, b) = (Ipv4Addr::from(first), Ipv4Addr::from(last));
    // first <= last octet by octet, so as numbers too.
    IpRange::new(IpAddr::V4(a), IpAddr::V4(b)).unwrap_or(IpRange::single(IpAddr::V4(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(a: &str, b: &str) -> IpRange {
        IpRange::new(a.parse().unwrap(), b.parse().unwrap()).unwrap()
    }

    fn runs(tok: &str) -> Vec<IpRange> {
        parse_octet_ranges(tok).unwrap().unwrap()
    }

    #[test]
    fn leading_ranges_enumerate_and_the_last_makes_runs() {
        assert_eq!(
            runs("198.18.0-2.1-20"),
            vec![
                r("198.18.0.1", "198.18.0.20"),
                r("198.18.1.1", "198.18.1.20"),
                r("198.18.2.1", "198.18.2.20"),
            ]
        );
        assert_eq!(
            runs("198.18-19.5.7"),
            vec![r("198.18.5.7", "198.18.5.7"), r("198.19.5.7", "198.19.5.7")]
        );
    }

    #[test]
    fn full_trailing_octets_fold_into_one_run() {
        assert_eq!(runs("198.18.0-3.*"), vec![r("198.18.0.0", "198.18.3.255")]);
        assert_eq!(
            runs("198.18-19.0-255.0-255"),
            vec![r("198.18.0.0", "198.19.255.255")]
        );
        assert_eq!(runs("*.*.*.*"), vec![r("0.0.0.0", "255.255.255.255")]);
        assert_eq!(
            runs("198.18.*.1"),
            (0..=255)
                .map(|c| {
                    let a = format!("198.18.{c}.1");
                    r(&a, &a)
                })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_address_of_the_product_and_no_other() {
        let got = runs("198.18.1-2.3-4");
        let want = ["198.18.1.3", "198.18.1.4", "198.18.2.3", "198.18.2.4"];
        let mut all = Vec::new();
        for g in &got {
            for n in 0..g.len().unwrap() {
                all.push(g.nth(n).to_string());
            }
        }
        assert_eq!(all, want);
    }

    #[test]
    fn other_forms_are_not_claimed() {
        for tok in [
            "198.18.0.1",
            "198.18.0.0/16",
            "198.18.0.1-198.18.0.9",
            "web-1.example",
            "2001:db8::1-2",
            "1-2.3",
            "1.2.3.4.5-6",
        ] {
            assert_eq!(parse_octet_ranges(tok), Ok(None), "{tok}");
        }
    }

    #[test]
    fn bad_octets_are_named() {
        for (tok, needle) in [
            ("198.18.0-300.1", "'0-300' is above 255"),
            ("198.18.5-2.1", "'5-2' starts above its end"),
            ("198.18.-2.1", "'-2' is not"),
            ("198.18.1-.1", "'1-' is not"),
            ("198.18.1-2-3.1", "'1-2-3' is not"),
            ("198.18.**.1", "'**' is not"),
            ("0-255.0-255.0-255.1", "16777216 separate runs"),
        ] {
            let err = parse_octet_ranges(tok).unwrap_err();
            assert!(err.contains(needle), "{tok}: {err}");
        }
    }
}
