//! `watch`'s target list: `HOST:PORT`, `[v6]:port`, or an address, CIDR block or range
//! with `-p PORTS`, from the command line and from a file (one per line, `#` comments).
//! Read again on SIGHUP, so a bad file must be an error that names its line, never a panic.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::target::{PortList, TargetSet, parse_endpoint};

/// The most target:port pairs one spec may expand to (a typo like /8 x 1000 ports is refused
/// rather than watched).
const MAX_PAIRS: u64 = 1 << 24;

/// Whether `spec` names its own port (`host:port`, `[v6]:port`) rather than addresses for
/// `-p`: one colon, or a bracket. A bare IPv6 address or block has several colons.
fn has_port(spec: &str) -> bool {
    spec.starts_with('[') || spec.matches(':').count() == 1
}

/// The pairs of one spec, appended to `out`.
fn expand(spec: &str, ports: Option<&PortList>, out: &mut Vec<SocketAddr>) -> Result<(), String> {
    if has_port(spec) {
        let (ip, port) = parse_endpoint(spec).map_err(|e| e.to_string())?;
        out.push(SocketAddr::new(ip, port));
        return Ok(());
    }
    let Some(ports) = ports else {
        return Err(format!(
            "invalid target '{spec}': no port (use HOST:PORT, [ADDR]:PORT, or give -p PORTS)"
        ));
    };
    let set = TargetSet::parse(&[spec.to_string()], &[]).map_err(|e| e.to_string())?;
    let pairs = set.len().saturating_mul(ports.len());
    if pairs > MAX_PAIRS {
        return Err(format!(
            "invalid target '{spec}': {pairs} target:port pairs, more than {MAX_PAIRS} watched at once"
        ));
    }
    for i in 0..set.len() {
        let ip = set.ip_at(i);
        out.extend(ports.as_slice().iter().map(|&p| SocketAddr::new(ip, p)));
    }
    Ok(())
}

/// Every pair of `specs` (command-line targets), in order.
pub fn from_args(specs: &[String], ports: Option<&PortList>) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for s in specs {
        expand(s, ports, &mut out)?;
    }
    Ok(out)
}

/// Every pair of a targets file's text; an error names `name:line`.
pub fn from_file_text(
    name: &str,
    text: &str,
    ports: Option<&PortList>,
) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let spec = line.split('#').next().unwrap_or("").trim();
        if spec.is_empty() {
            continue;
        }
        expand(spec, ports, &mut out).map_err(|e| format!("{name}:{}: {e}", n + 1))?;
    }
    Ok(out)
}

/// Reads and parses a targets file.
pub fn from_file(path: &str, ports: Option<&PortList>) -> Result<Vec<SocketAddr>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read targets file '{path}': {e}"))?;
    from_file_text(path, &text, ports)
}

/// The list without repeats, first occurrence kept.
pub fn dedup(list: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut seen = HashSet::with_capacity(list.len());
    list.into_iter().filter(|t| seen.insert(*t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn endpoints_and_ranges_with_ports() {
        let p = PortList::parse("80,443").unwrap();
        let got = from_args(
            &[
                "198.18.0.1:81".into(),
                "[2001:db8::1]:80".into(),
                "198.18.0.8/31".into(),
            ],
            Some(&p),
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                sa("198.18.0.1:81"),
                sa("[2001:db8::1]:80"),
                sa("198.18.0.8:80"),
                sa("198.18.0.8:443"),
                sa("198.18.0.9:80"),
                sa("198.18.0.9:443"),
            ]
        );
        let v6 = from_args(&["2001:db8::5".into()], Some(&p)).unwrap();
        assert_eq!(v6, vec![sa("[2001:db8::5]:80"), sa("[2001:db8::5]:443")]);
    }

    #[test]
    fn a_target_without_a_port_needs_p() {
        let e = from_args(&["198.18.0.0/30".into()], None).unwrap_err();
        assert!(e.contains("'198.18.0.0/30'") && e.contains("-p"), "{e}");
        let e = from_args(&["198.18.0.1:http".into()], None).unwrap_err();
        assert!(e.contains("198.18.0.1:http"), "{e}");
    }

    #[test]
    fn a_file_has_comments_and_names_its_bad_line() {
        let text = "# the fleet\n198.18.0.1:80\n\n  198.18.0.2:80   # web-2\n";
        assert_eq!(
            from_file_text("f.txt", text, None).unwrap(),
            vec![sa("198.18.0.1:80"), sa("198.18.0.2:80")]
        );
        let e = from_file_text("f.txt", "198.18.0.1:80\nnot a target\n", None).unwrap_err();
        assert!(e.starts_with("f.txt:2: "), "{e}");
        assert!(from_file("/nonexistent/fleet.txt", None).is_err());
    }

    #[test]
    fn huge_expansions_are_refused_and_repeats_dropped() {
        let p = PortList::parse("1-1000").unwrap();
        let e = from_args(&["198.18.0.0/15".into()], Some(&p)).unwrap_err();
        assert!(e.contains("more than"), "{e}");
        let d = dedup(vec![
            sa("198.18.0.1:80"),
            sa("198.18.0.2:80"),
            sa("198.18.0.1:80"),
        ]);
        assert_eq!(d, vec![sa("198.18.0.1:80"), sa("198.18.0.2:80")]);
    }
}
