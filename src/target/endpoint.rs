//! `HOST:PORT` endpoints for `check`: one port each, and every address of a host name.

use std::net::IpAddr;

use super::TargetError;
use super::range::Family;
use super::spec::{self, Resolver};

/// One `HOST:PORT` as the user typed it, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The host name, when one was typed (not an address): kept for the output.
    pub host: Option<String>,
    /// The address typed, or every address of the name (of the family asked), in the
    /// resolver's order, without duplicates.
    pub ips: Vec<IpAddr>,
    pub port: u16,
}

/// A `HOST:PORT` endpoint (`[v6]:port` for IPv6; host names resolved once, the resolver's
/// first address is used). For `watch`, which keeps one address per target.
pub fn parse_endpoint(spec: &str) -> Result<(IpAddr, u16), TargetError> {
    let e = parse_endpoint_with(spec, None, &spec::system_resolve)?;
    Ok((e.ips[0], e.port))
}

/// A `HOST:PORT` endpoint with every address of its name: a dual-stack name is checked on
/// both families, as a client with Happy Eyeballs may use either. `family` keeps one
/// (`check -4` / `-6`); an address of the other family is refused.
pub fn parse_endpoint_all(spec: &str, family: Option<Family>) -> Result<Endpoint, TargetError> {
    parse_endpoint_with(spec, family, &spec::system_resolve)
}

pub(crate) fn parse_endpoint_with(
    spec: &str,
    family: Option<Family>,
    resolve: Resolver,
) -> Result<Endpoint, TargetError> {
    let bad = |reason: String| TargetError::Target(spec.to_string(), reason);
    let s = spec.trim();
    let (host, port, bracketed) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after IPv6 address".into()))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p,
            None if after.is_empty() => return Err(bad("missing port (use [ADDR]:PORT)".into())),
            None => return Err(bad(format!("unexpected '{after}' after ']'"))),
        };
        (host, port, true)
    } else {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| bad("missing port (use HOST:PORT)".into()))?;
        if host.contains(':') {
            return Err(bad("an IPv6 address needs brackets: [ADDR]:PORT".into()));
        }
        (host, port, false)
    };
    let port = parse_port(port).map_err(bad)?;
    if host.is_empty() {
        return Err(bad("missing host".into()));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if let Some(f) = family
            && Family::of(ip) != f
        {
            return Err(bad(format!(
                "it is {}, and {} asks for {} only",
                name(Family::of(ip)),
                flag(f),
                name(f)
            )));
        }
        return Ok(Endpoint {
            host: None,
            ips: vec![ip],
            port,
        });
    }
    if bracketed || !spec::looks_like_host_name(host) {
        return Err(bad(format!("'{host}' is not an address or host name")));
    }
    let mut ips = resolve(host).map_err(|r| TargetError::Resolve(host.to_string(), r))?;
    let mut seen = Vec::new();
    ips.retain(|ip| {
        !seen.contains(ip) && {
            seen.push(*ip);
            true
        }
    });
    ips.retain(|&ip| family.is_none_or(|f| Family::of(ip) == f));
    if ips.is_empty() {
        let reason = match family {
            Some(f) => format!(
                "no {} address ({} asks for {} only)",
                name(f),
                flag(f),
                name(f)
            ),
            None => "no addresses found".into(),
        };
        return Err(TargetError::Resolve(host.to_string(), reason));
    }
    Ok(Endpoint {
        host: Some(host.to_string()),
        ips,
        port,
    })
}

fn name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

fn flag(f: Family) -> &'static str {
    match f {
        Family::V4 => "-4",
        Family::V6 => "-6",
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() {
        return Err("missing port (use HOST:PORT)".into());
    }
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port '{p}' is not a number"));
    }
    match p.parse::<u32>() {
        Ok(n @ 1..=65535) => Ok(n as u16),
        _ => Err(format!("port {p} is outside 1-65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn fake(host: &str) -> Result<Vec<IpAddr>, String> {
        match host {
            "db-1.internal" => Ok(vec![ip("2001:db8::7"), ip("198.18.7.1")]),
            "v4only.internal" => Ok(vec![ip("198.18.7.2")]),
            "nohost.internal" => Err("Name or service not known".into()),
            other => panic!("resolver asked about '{other}'"),
        }
    }

    fn ep(s: &str) -> Result<(IpAddr, u16), TargetError> {
        parse_endpoint_with(s, None, &fake).map(|e| (e.ips[0], e.port))
    }

    #[test]
    fn a_dual_stack_name_gives_both_families_unless_one_is_asked() {
        let all = parse_endpoint_with("db-1.internal:22", None, &fake).unwrap();
        assert_eq!(
            all,
            Endpoint {
                host: Some("db-1.internal".into()),
                ips: vec![ip("2001:db8::7"), ip("198.18.7.1")],
                port: 22
            }
        );
        let v4 = parse_endpoint_with("db-1.internal:22", Some(Family::V4), &fake).unwrap();
        assert_eq!(v4.ips, [ip("198.18.7.1")]);
        let v6 = parse_endpoint_with("db-1.internal:22", Some(Family::V6), &fake).unwrap();
        assert_eq!(v6.ips, [ip("2001:db8::7")]);
        assert_eq!(
            parse_endpoint_with("v4only.internal:22", Some(Family::V6), &fake).unwrap_err(),
            TargetError::Resolve(
                "v4only.internal".into(),
                "no IPv6 address (-6 asks for IPv6 only)".into()
            )
        );
        assert_eq!(
            parse_endpoint_with("198.18.0.1:80", Some(Family::V6), &fake).unwrap_err(),
            TargetError::Target(
                "198.18.0.1:80".into(),
                "it is IPv4, and -6 asks for IPv6 only".into()
            )
        );
        let literal = parse_endpoint_with("[2001:db8::1]:80", Some(Family::V6), &fake).unwrap();
        assert_eq!((literal.host, literal.ips), (None, vec![ip("2001:db8::1")]));
    }

    #[test]
    fn good_endpoints() {
        assert_eq!(ep("198.18.0.1:80").unwrap(), (ip("198.18.0.1"), 80));
        assert_eq!(ep("[2001:db8::1]:443").unwrap(), (ip("2001:db8::1"), 443));
        assert_eq!(ep(" 198.18.0.1:65535 ").unwrap(), (ip("198.18.0.1"), 65535));
        assert_eq!(ep("198.18.0.1:1").unwrap(), (ip("198.18.0.1"), 1));
        // The resolver's first answer, in its order.
        assert_eq!(ep("db-1.internal:22").unwrap(), (ip("2001:db8::7"), 22));
    }

    #[test]
    fn localhost_with_system_resolver() {
        let (a, p) = parse_endpoint("localhost:8080").unwrap();
        assert!(a.is_loopback());
        assert_eq!(p, 8080);
    }

    #[test]
    fn bad_endpoints_name_the_value() {
        let cases = [
            ("198.18.0.1", "missing port (use HOST:PORT)"),
            ("198.18.0.1:", "missing port (use HOST:PORT)"),
            ("198.18.0.1:0", "port 0 is outside 1-65535"),
            ("198.18.0.1:65536", "port 65536 is outside 1-65535"),
            (
                "198.18.0.1:99999999999",
                "port 99999999999 is outside 1-65535",
            ),
            ("198.18.0.1:http", "port 'http' is not a number"),
            (
                "198.18.0.300:80",
                "'198.18.0.300' is not an address or host name",
            ),
            (
                "2001:db8::1:80",
                "an IPv6 address needs brackets: [ADDR]:PORT",
            ),
            ("[2001:db8::1]", "missing port (use [ADDR]:PORT)"),
            ("[2001:db8::1]80", "unexpected '80' after ']'"),
            ("[2001:db8::1:80", "missing ']' after IPv6 address"),
            (
                "[2001:db8::g]:80",
                "'2001:db8::g' is not an address or host name",
            ),
            (
                "[db-1.internal]:80",
                "'db-1.internal' is not an address or host name",
            ),
            (":80", "missing host"),
            ("127.1:80", "'127.1' is not an address or host name"),
            ("", "missing port (use HOST:PORT)"),
        ];
        for (spec, reason) in cases {
            let e = ep(spec).unwrap_err();
            assert_eq!(e, TargetError::Target(spec.into(), reason.into()), "{spec}");
            assert!(e.to_string().contains(&format!("'{spec}'")));
        }
    }

    #[test]
    fn unresolvable_host() {
        assert_eq!(
            ep("nohost.internal:80").unwrap_err(),
            TargetError::Resolve("nohost.internal".into(), "Name or service not known".into())
        );
    }
}
