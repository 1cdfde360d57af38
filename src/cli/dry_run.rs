//! `scan --dry-run`: what a scan would do, without a packet: the pair count, each group of
//! targets with the way it would leave, and how long it would take at the asked rate.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use super::estimate::{estimate, show_long};
use crate::path::{Exit, Hop, PathTable};
use crate::target::{IpRange, PairSpace};

/// Route groups shown; the rest are counted.
const SHOWN_GROUPS: usize = 20;

/// What the run would send, as the scan's flags say.
pub struct Pace {
    pub rate: Option<f64>,
    pub retries: u32,
    pub wait: Duration,
    /// 0-based index and count of `--shard`.
    pub shard: (u64, u64),
}

/// The dry run's report: plain text for a person, on stdout.
pub fn report(
    space: &PairSpace,
    paths: &PathTable,
    no_route: &[(IpRange, String)],
    pace: &Pace,
) -> String {
    let mut out = String::new();
    let (t, p) = (space.targets.len(), space.ports.len());
    let pairs = space.len();
    let _ = writeln!(out, "dry run: nothing is sent");
    let _ = write!(
        out,
        "pairs: {pairs} ({t} address{} x {p} port{})",
        plural_es(t),
        plural_s(p)
    );
    let (i, n) = pace.shard;
    let mine = if n > 1 {
        let _ = write!(out, "; shard {}/{n} probes about {}", i + 1, pairs / n);
        pairs / n
    } else {
        pairs
    };
    out.push('\n');
    for (name, ips) in space.targets.names() {
        let ips: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        let _ = writeln!(out, "name: {name} = {}", ips.join(", "));
    }
    let _ = writeln!(out, "routes:");
    let groups = groups(space, paths);
    for (first, last, count, exit) in groups.iter().take(SHOWN_GROUPS) {
        let way = match exit {
            Some(e) => way(paths, e),
            None => {
                let why = no_route
                    .iter()
                    .find(|(r, _)| r.first() == *first)
                    .map_or("no route", |(_, w)| w.as_str());
                format!("not probed: {why}")
            }
        };
        let range = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        let _ = writeln!(
            out,
            "  {range} ({count} address{}): {way}",
            plural_es(*count)
        );
    }
    if groups.len() > SHOWN_GROUPS {
        let _ = writeln!(out, "  and {} more groups", groups.len() - SHOWN_GROUPS);
    }
    let _ = match estimate(mine, pace.rate, pace.retries, pace.wait) {
        Some(e) => writeln!(
            out,
            "duration at {} probes/s: about {} (every pair once, then the wait){}",
            pace.rate.unwrap_or_default(),
            show_long(e.first_round),
            if pace.retries == 0 {
                String::new()
            } else {
                format!(
                    ", at most {} with {} retry round{}",
                    show_long(e.at_most),
                    pace.retries,
                    plural_s(u64::from(pace.retries))
                )
            }
        ),
        None => writeln!(
            out,
            "duration: unknown at --rate max (bench measures this machine's pace)"
        ),
    };
    out
}

fn plural_s(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn plural_es(n: u64) -> &'static str {
    if n == 1 { "" } else { "es" }
}

/// How probes would leave through `e`.
fn way(paths: &PathTable, e: &Exit) -> String {
    let dev = paths.links().get(e.link).map_or("?", |l| l.name.as_str());
    let hop = match e.hop {
        Hop::OnLink => "on the link (each target's MAC asked at run time)".to_string(),
        Hop::Mac([0, 0, 0, 0, 0, 0]) => {
            "via a gateway whose MAC is not yet known (asked at run time)".to_string()
        }
        Hop::Mac(m) => format!(
            "next hop {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ),
    };
    format!("dev {dev}, source {}, {hop}", e.src_ip)
}

/// Runs of targets with the same way out, as (first address, last address, count, way): a
/// run ends where the way changes or the addresses stop being consecutive.
fn groups(space: &PairSpace, paths: &PathTable) -> Vec<Group> {
    let total = space.targets.len();
    let range_starts: Vec<u64> = space
        .targets
        .ranges()
        .iter()
        .filter_map(|r| space.targets.index_of(r.first()))
        .collect();
    let mut cuts: Vec<u64> = paths.spans().iter().map(|s| s.first).collect();
    cuts.extend(&range_starts);
    cuts.retain(|&c| c < total);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<(u64, u64, Option<Exit>)> = Vec::new();
    for (k, &first) in cuts.iter().enumerate() {
        let end = cuts.get(k + 1).copied().unwrap_or(total);
        let exit = paths.exit_of(first).copied();
        match out.last_mut() {
            Some(last) if last.2 == exit && range_starts.binary_search(&first).is_err() => {
                last.1 = end
            }
            _ => out.push((first, end, exit)),
        }
    }
    out.into_iter()
        .map(|(a, b, e)| (space.targets.ip_at(a), space.targets.ip_at(b - 1), b - a, e))
        .collect()
}

type Group = (IpAddr, IpAddr, u64, Option<Exit>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{Link, Span};
    use crate::target::{PortList, TargetSet};

    fn space(t: &[&str], p: &str) -> PairSpace {
        let t: Vec<String> = t.iter().map(|s| s.to_string()).collect();
        PairSpace::new(
            TargetSet::parse(&t, &[]).unwrap(),
            PortList::parse(p).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn names_pairs_routes_and_duration() {
        // 198.18.0.0/30 via a gateway, 198.18.1.0/31 on the link, 203.0.113.7 without route.
        let sp = space(&["198.18.0.0/30", "198.18.1.0/31", "203.0.113.7"], "80,443");
        let link = Link {
            name: "veth-s".into(),
            index: 7,
            mac: [2, 0, 0, 0, 0, 2],
            loopback: false,
        };
        let src = "198.18.0.254".parse().unwrap();
        let gw = Exit {
            link: 0,
            src_ip: src,
            hop: Hop::Mac([2, 0, 0, 0, 0, 1]),
        };
        let onlink = Exit {
            link: 0,
            src_ip: src,
            hop: Hop::OnLink,
        };
        let paths = PathTable::new(
            vec![link],
            vec![
                Span {
                    first: 0,
                    exit: Some(gw),
                },
                // The same way again: one group with the span before.
                Span {
                    first: 2,
                    exit: Some(gw),
                },
                Span {
                    first: 4,
                    exit: Some(onlink),
                },
                Span {
                    first: 6,
                    exit: None,
                },
            ],
        )
        .unwrap();
        let no_route = [(
            IpRange::single("203.0.113.7".parse().unwrap()),
            "unreachable route".to_string(),
        )];
        let pace = Pace {
            rate: Some(7.0),
            retries: 1,
            wait: Duration::from_secs(1),
            shard: (0, 1),
        };
        let text = report(&sp, &paths, &no_route, &pace);
        assert_eq!(
            text,
            "dry run: nothing is sent\n\
             pairs: 14 (7 addresses x 2 ports)\n\
             routes:\n  \
             198.18.0.0-198.18.0.3 (4 addresses): dev veth-s, source 198.18.0.254, next hop 02:00:00:00:00:01\n  \
             198.18.1.0-198.18.1.1 (2 addresses): dev veth-s, source 198.18.0.254, on the link (each target's MAC asked at run time)\n  \
             203.0.113.7 (1 address): not probed: unreachable route\n\
             duration at 7 probes/s: about 3.0 s (every pair once, then the wait), at most 6.0 s with 1 retry round\n"
        );
        let named = PairSpace::new(
            TargetSet::parse_with(&["web-1.internal".to_string()], &[], &|_| {
                Ok(vec![
                    "198.18.0.1".parse().unwrap(),
                    "2001:db8::1".parse().unwrap(),
                ])
            })
            .unwrap(),
            PortList::parse("80").unwrap(),
        )
        .unwrap();
        let one = PathTable::new(
            vec![],
            vec![Span {
                first: 0,
                exit: None,
            }],
        )
        .unwrap();
        let text = report(&named, &one, &[], &pace);
        assert!(
            text.starts_with(
                "dry run: nothing is sent\npairs: 2 (2 addresses x 1 port)\n\
                 name: web-1.internal = 198.18.0.1, 2001:db8::1\nroutes:\n"
            ),
            "{text}"
        );
        let sharded = report(
            &sp,
            &paths,
            &no_route,
            &Pace {
                rate: None,
                shard: (1, 2),
                ..pace
            },
        );
        assert!(
            sharded.contains("pairs: 14 (7 addresses x 2 ports); shard 2/2 probes about 7\n"),
            "{sharded}"
        );
        assert!(
            sharded.ends_with(
                "duration: unknown at --rate max (bench measures this machine's pace)\n"
            ),
            "{sharded}"
        );
    }
}
