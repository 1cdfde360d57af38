//! One target token (address, CIDR, `a-b` range, nmap octet ranges, host name) to address
//! ranges, and the splitting of spec strings and `@FILE` contents into tokens.
//!
//! Anything that looks like an address (digits and dots, a `:`, a `/`, an address before a
//! `-`) is parsed strictly and never handed to the resolver: there may be no DNS, and
//! getaddrinfo would accept forms like `127.1` or `0x7f000001` that a user did not mean.

use std::net::{IpAddr, ToSocketAddrs};

use super::TargetError;
use super::octets::parse_octet_ranges;
use super::range::{Family, IpRange};

/// Host name lookup: a name to its addresses, or a one-line reason. Injected so tests
/// need no resolver.
pub(crate) type Resolver<'a> = &'a dyn Fn(&str) -> Result<Vec<IpAddr>, String>;

/// The system resolver, asked once per name: all A/AAAA records, deduplicated.
pub(crate) fn system_resolve(host: &str) -> Result<Vec<IpAddr>, String> {
    let addrs = (host, 0).to_socket_addrs().map_err(|e| e.to_string())?;
    let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
    ips.sort_unstable();
    ips.dedup();
    if ips.is_empty() {
        return Err("no addresses found".to_string());
    }
    Ok(ips)
}

/// Why one token is not a target.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SpecError {
    /// Malformed; the reason, without the token.
    Invalid(String),
    /// A host name the resolver could not turn into addresses.
    Resolve(String),
}

const NOT_A_TARGET: &str = "not an address, CIDR, range or host name";

/// Tokens of one spec string: commas and whitespace separate, empty pieces are skipped.
pub(crate) fn split_tokens(spec: &str) -> impl Iterator<Item = &str> {
    spec.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
}

/// The path of a spec file that means standard input (`@-`, `--exclude-file -`).
pub(crate) const STDIN: &str = "-";

/// Where line `line` of spec file `path` is, for an error message.
pub(crate) fn place(path: &str, line: usize) -> String {
    if path == STDIN {
        format!("standard input line {line}")
    } else {
        format!("'{path}' line {line}")
    }
}

/// Tokens of a spec file with their 1-based line numbers: `#` starts a comment, blank lines
/// are skipped, a line may hold several tokens. `-` reads standard input (to its end).
pub(crate) fn read_spec_file(path: &str) -> Result<Vec<(usize, String)>, TargetError> {
    let read = if path == STDIN {
        std::io::read_to_string(std::io::stdin().lock())
    } else {
        std::fs::read_to_string(path)
    };
    let text = read.map_err(|e| TargetError::File(path.into(), io_reason(&e)))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        out.extend(split_tokens(line).map(|t| (i + 1, t.to_string())));
    }
    Ok(out)
}

/// An I/O error as a short reason: the OS text without the "(os error N)" tail.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Parse one token (no commas, no `@`) into ranges.
pub(crate) fn parse_token(tok: &str, resolve: Resolver) -> Result<Vec<IpRange>, SpecError> {
    if let Ok(ip) = tok.parse::<IpAddr>() {
        return Ok(vec![IpRange::single(ip)]);
    }
    if let Some((base, prefix)) = tok.split_once('/') {
        return parse_cidr(base, prefix).map(|r| vec![r]);
    }
    if let Some((a, b)) = tok.split_once('-')
        && let Ok(first) = a.parse::<IpAddr>()
    {
        return parse_range(first, b).map(|r| vec![r]);
    }
    if let Some(runs) = parse_octet_ranges(tok).map_err(SpecError::Invalid)? {
        return Ok(runs);
    }
    if !looks_like_host_name(tok) {
        return Err(SpecError::Invalid(NOT_A_TARGET.into()));
    }
    let ips = resolve(tok).map_err(SpecError::Resolve)?;
    Ok(ips.into_iter().map(IpRange::single).collect())
}

fn parse_cidr(base: &str, prefix: &str) -> Result<IpRange, SpecError> {
    let ip: IpAddr = base
        .parse()
        .map_err(|_| SpecError::Invalid(format!("CIDR base '{base}' is not an IP address")))?;
    let bits = Family::of(ip).bits();
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SpecError::Invalid(format!(
            "prefix length '{prefix}' is not a number"
        )));
    }
    // Digits only, so the only parse failure is overflow: certainly too long.
    let len = prefix.parse::<u32>().unwrap_or(u32::MAX);
    let too_long = || SpecError::Invalid(format!("prefix length {prefix} is above {bits}"));
    let len = u8::try_from(len).map_err(|_| too_long())?;
    IpRange::cidr(ip, len).ok_or_else(too_long)
}

/// `first-b` where `b` is a full address or, for IPv4, a last octet (`198.18.0.1-20`).
fn parse_range(first: IpAddr, b: &str) -> Result<IpRange, SpecError> {
    let last = match (b.parse::<IpAddr>(), first) {
        (Ok(last), _) => last,
        (Err(_), IpAddr::V4(f)) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
            let octet: u8 = b.parse().map_err(|_| {
                SpecError::Invalid(format!("range end '{b}' is not an address or octet 0-255"))
            })?;
            let [a, b2, c, _] = f.octets();
            IpAddr::from([a, b2, c, octet])
        }
        (Err(_), _) => {
            return Err(SpecError::Invalid(format!(
                "range end '{b}' is not an address"
            )));
        }
    };
    if Family::of(first) != Family::of(last) {
        return Err(SpecError::Invalid("range mixes IPv4 and IPv6".into()));
    }
    IpRange::new(first, last).ok_or_else(|| SpecError::Invalid("range start above end".into()))
}

/// A plausible DNS name that is not a numeric address in disguise: labels of letters,
/// digits, `-`, `_`; at least one letter; a last label that is not all digits; not every
/// label an inet_aton number (decimal, or `0x` hex).
pub(crate) fn looks_like_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let inet_number = |l: &str| {
        let hex = l.strip_prefix("0x").or_else(|| l.strip_prefix("0X"));
        match hex {
            Some(h) => h.bytes().all(|b| b.is_ascii_hexdigit()),
            None => l.bytes().all(|b| b.is_ascii_digit()),
        }
    };
    let last = s.rsplit('.').next().unwrap_or("");
    s.split('.').all(label_ok)
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && !last.bytes().all(|b| b.is_ascii_digit())
        && !s.split('.').all(inet_number)
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

    /// A resolver that knows two names and panics if asked anything else, so a test fails
    /// loudly if a numeric-looking token ever reaches it.
    fn fake(host: &str) -> Result<Vec<IpAddr>, String> {
        match host {
            "db-1.internal" => Ok(vec![ip("198.18.7.1"), ip("2001:db8::7")]),
            "nohost.internal" => Err("Name or service not known".into()),
            other => panic!("resolver asked about '{other}'"),
        }
    }

    fn parse(tok: &str) -> Result<Vec<IpRange>, SpecError> {
        parse_token(tok, &fake)
    }

    fn invalid(tok: &str) -> String {
        match parse(tok) {
            Err(SpecError::Invalid(reason)) => reason,
            other => panic!("{tok}: expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn single_addresses() {
        assert_eq!(
            parse("198.18.0.1").unwrap(),
            vec![r("198.18.0.1", "198.18.0.1")]
        );
        assert_eq!(
            parse("2001:db8::1").unwrap(),
            vec![r("2001:db8::1", "2001:db8::1")]
        );
    }

    #[test]
    fn cidr_blocks() {
        assert_eq!(
            parse("198.18.0.0/16").unwrap(),
            vec![r("198.18.0.0", "198.18.255.255")]
        );
        assert_eq!(
            parse("198.18.1.9/24").unwrap(),
            vec![r("198.18.1.0", "198.18.1.255")]
        );
        assert_eq!(
            parse("2001:db8::/120").unwrap(),
            vec![r("2001:db8::", "2001:db8::ff")]
        );
        assert_eq!(
            parse("198.18.0.1/32").unwrap(),
            vec![r("198.18.0.1", "198.18.0.1")]
        );
    }

    #[test]
    fn ranges_full_and_short() {
        assert_eq!(
            parse("198.18.0.1-198.18.1.2").unwrap(),
            vec![r("198.18.0.1", "198.18.1.2")]
        );
        assert_eq!(
            parse("198.18.0.1-20").unwrap(),
            vec![r("198.18.0.1", "198.18.0.20")]
        );
        assert_eq!(
            parse("198.18.0.7-7").unwrap(),
            vec![r("198.18.0.7", "198.18.0.7")]
        );
        assert_eq!(
            parse("2001:db8::1-2001:db8::1:0").unwrap(),
            vec![r("2001:db8::1", "2001:db8::1:0")]
        );
    }

    #[test]
    fn octet_ranges_never_reach_resolver() {
        assert_eq!(
            parse("198.18.0-1.5").unwrap(),
            vec![r("198.18.0.5", "198.18.0.5"), r("198.18.1.5", "198.18.1.5")]
        );
        assert!(invalid("198.18.0-300.1").contains("above 255"));
    }

    #[test]
    fn host_names_go_to_resolver() {
        assert_eq!(
            parse("db-1.internal").unwrap(),
            vec![
                r("198.18.7.1", "198.18.7.1"),
                r("2001:db8::7", "2001:db8::7")
            ]
        );
        assert_eq!(
            parse("nohost.internal"),
            Err(SpecError::Resolve("Name or service not known".into()))
        );
    }

    #[test]
    fn bad_tokens_never_reach_resolver() {
        for tok in [
            "198.18.0.300",
            "198.18.0",
            "127.1",
            "2130706433",
            "0x7f000001",
            "0x7f.0.0.1",
            "198.18.0.1.5",
            "2001:db8::g",
            "fe80::1%eth0",
            "-host",
            "a..b",
            "host_with space",
            "*",
        ] {
            assert_eq!(invalid(tok), NOT_A_TARGET, "{tok}");
        }
    }

    #[test]
    fn bad_cidrs() {
        assert_eq!(invalid("198.18.0.0/33"), "prefix length 33 is above 32");
        assert_eq!(invalid("2001:db8::/129"), "prefix length 129 is above 128");
        assert_eq!(
            invalid("198.18.0.0/99999999999999"),
            "prefix length 99999999999999 is above 32"
        );
        assert_eq!(invalid("198.18.0.0/"), "prefix length '' is not a number");
        assert_eq!(invalid("198.18.0.0/a"), "prefix length 'a' is not a number");
        assert_eq!(
            invalid("198.18.0.0/-1"),
            "prefix length '-1' is not a number"
        );
        assert_eq!(
            invalid("198.18.0.300/24"),
            "CIDR base '198.18.0.300' is not an IP address"
        );
        assert_eq!(
            invalid("db-1.internal/24"),
            "CIDR base 'db-1.internal' is not an IP address"
        );
    }

    #[test]
    fn bad_ranges() {
        assert_eq!(invalid("198.18.0.5-198.18.0.1"), "range start above end");
        assert_eq!(invalid("198.18.0.5-1"), "range start above end");
        assert_eq!(
            invalid("198.18.0.1-2001:db8::1"),
            "range mixes IPv4 and IPv6"
        );
        assert_eq!(
            invalid("2001:db8::1-198.18.0.1"),
            "range mixes IPv4 and IPv6"
        );
        assert_eq!(
            invalid("198.18.0.1-300"),
            "range end '300' is not an address or octet 0-255"
        );
        assert_eq!(
            invalid("198.18.0.1-foo"),
            "range end 'foo' is not an address"
        );
        assert_eq!(invalid("198.18.0.1-"), "range end '' is not an address");
        assert_eq!(invalid("2001:db8::1-5"), "range end '5' is not an address");
        assert_eq!(
            invalid("198.18.0.1-198.18.0.2-198.18.0.3"),
            "range end '198.18.0.2-198.18.0.3' is not an address"
        );
    }

    #[test]
    fn host_name_shape() {
        assert!(looks_like_host_name("localhost"));
        assert!(looks_like_host_name("db-1.internal"));
        assert!(looks_like_host_name("example.com."));
        assert!(looks_like_host_name("_srv.example.com"));
        assert!(looks_like_host_name("1a.example"));
        assert!(!looks_like_host_name("198.18.0.1"));
        assert!(!looks_like_host_name("example.123"));
        assert!(!looks_like_host_name("0xff"));
        assert!(!looks_like_host_name("a-.b"));
        assert!(!looks_like_host_name(&"a".repeat(64)));
        assert!(!looks_like_host_name(""));
    }

    #[test]
    fn token_splitting() {
        let v: Vec<&str> =
            split_tokens(" 198.18.0.1,198.18.0.5 ,, 2001:db8::1\t10.0.0.0/8 ").collect();
        assert_eq!(v, ["198.18.0.1", "198.18.0.5", "2001:db8::1", "10.0.0.0/8"]);
        assert_eq!(split_tokens(" , ").count(), 0);
    }

    #[test]
    fn io_reason_drops_os_error_tail() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&e), "No such file or directory");
    }
}
