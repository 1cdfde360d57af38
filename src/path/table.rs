//! Which way each target's probes leave: the target index space cut into spans, each with
//! its route (interface, our source address, next hop) or none. The route planner (or, for
//! `check`, one lookup per target) fills it; the senders and the receiver ask it per frame, so
//! the lookup is a binary search over the spans and nothing more.

use std::net::IpAddr;

/// A network interface packets go through (looked up by `io`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    pub loopback: bool,
}

/// The next hop of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hop {
    /// One MAC for every target of the span: a router, or the one target of a span.
    Mac([u8; 6]),
    /// The targets are on the link: each is its own next hop, resolved by ARP / NDP.
    OnLink,
}

/// How the probes to one span of targets leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Index into [`PathTable::links`].
    pub link: usize,
    pub src_ip: IpAddr,
    pub hop: Hop,
}

/// Targets `first..` (up to the next span) and their route; `None`: the kernel has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub first: u64,
    pub exit: Option<Exit>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTable {
    links: Vec<Link>,
    /// Sorted by `first`; the first starts at target 0.
    spans: Vec<Span>,
}

impl PathTable {
    /// A table over `spans` (sorted by `first`, starting at 0, every route's link in
    /// `links`); `Err` names what is wrong.
    pub fn new(links: Vec<Link>, spans: Vec<Span>) -> Result<PathTable, String> {
        if spans.first().map(|s| s.first) != Some(0) {
            return Err("the first span must start at target 0".into());
        }
        if spans.windows(2).any(|w| w[0].first >= w[1].first) {
            return Err("spans must be sorted and distinct".into());
        }
        if spans
            .iter()
            .filter_map(|s| s.exit)
            .any(|r| r.link >= links.len())
        {
            return Err("a route names a link the table does not have".into());
        }
        Ok(PathTable { links, spans })
    }

    pub fn links(&self) -> &[Link] {
        &self.links
    }

    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// The span holding target `t`, and its index.
    #[inline]
    pub fn span_of(&self, t: u64) -> (usize, &Span) {
        if let [only] = self.spans.as_slice() {
            return (0, only); // the usual case: no search per probe
        }
        let i = self
            .spans
            .partition_point(|s| s.first <= t)
            .saturating_sub(1);
        (i, &self.spans[i])
    }

    /// Target `t`'s route, if it has one.
    #[inline]
    pub fn exit_of(&self, t: u64) -> Option<&Exit> {
        self.span_of(t).1.exit.as_ref()
    }

    /// Our addresses, each once: replies come to them.
    pub fn local_ips(&self) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> = Vec::new();
        for r in self.spans.iter().filter_map(|s| s.exit) {
            if !ips.contains(&r.src_ip) {
                ips.push(r.src_ip);
            }
        }
        ips
    }

    /// Whether any target has a route.
    pub fn any_route(&self) -> bool {
        self.spans.iter().any(|s| s.exit.is_some())
    }

    /// The on-link targets among neighbour-table `entries` (interface index, address, MAC):
    /// (target index, MAC) for those entered on the interface the target leaves through.
    pub fn known_macs(
        &self,
        index_of: impl Fn(IpAddr) -> Option<u64>,
        entries: impl IntoIterator<Item = (u32, IpAddr, [u8; 6])>,
    ) -> Vec<(u64, [u8; 6])> {
        entries
            .into_iter()
            .filter_map(|(ifindex, ip, mac)| {
                let t = index_of(ip)?;
                let e = self.exit_of(t)?;
                (e.hop == Hop::OnLink && self.links[e.link].index == ifindex).then_some((t, mac))
            })
            .collect()
    }

    /// The targets (index ranges) whose next hop is on the link, span by span.
    pub fn on_link(&self, targets: u64) -> impl Iterator<Item = std::ops::Range<u64>> + '_ {
        self.spans.iter().enumerate().filter_map(move |(i, s)| {
            let end = self.spans.get(i + 1).map_or(targets, |n| n.first);
            matches!(
                s.exit,
                Some(Exit {
                    hop: Hop::OnLink,
                    ..
                })
            )
            .then_some(s.first..end)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, index: u32) -> Link {
        Link {
            name: name.into(),
            index,
            mac: [2, 0, 0, 0, 0, index as u8],
            loopback: false,
        }
    }

    fn exit(link: usize, src: &str, hop: Hop) -> Option<Exit> {
        Some(Exit {
            link,
            src_ip: src.parse().unwrap(),
            hop,
        })
    }

    #[test]
    fn spans_answer_for_every_target() {
        let t = PathTable::new(
            vec![link("a", 1), link("b", 2)],
            vec![
                Span {
                    first: 0,
                    exit: exit(0, "198.19.0.1", Hop::Mac([9; 6])),
                },
                Span {
                    first: 256,
                    exit: None,
                },
                Span {
                    first: 300,
                    exit: exit(1, "198.21.0.1", Hop::OnLink),
                },
            ],
        )
        .unwrap();
        assert_eq!(t.exit_of(0).unwrap().link, 0);
        assert_eq!(t.exit_of(255).unwrap().hop, Hop::Mac([9; 6]));
        assert_eq!(t.exit_of(256), None);
        assert_eq!(t.exit_of(299), None);
        assert_eq!(t.span_of(300).0, 2);
        assert_eq!(t.exit_of(u64::MAX).unwrap().link, 1);
        assert_eq!(t.on_link(400).collect::<Vec<_>>(), vec![300..400]);
        assert_eq!(
            t.local_ips(),
            vec![
                "198.19.0.1".parse::<IpAddr>().unwrap(),
                "198.21.0.1".parse().unwrap()
            ]
        );
        assert!(t.any_route());
        // Neighbour entries count for on-link targets, on their own interface only.
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let index_of = |a: IpAddr| match a {
            IpAddr::V4(v) => Some(u64::from(v.octets()[3]) + 300),
            _ => None,
        };
        let entries = [
            (2, ip("198.21.0.5"), [5; 6]),  // on-link target 305, its interface
            (1, ip("198.21.0.6"), [6; 6]),  // on-link target, other interface
            (2, ip("2001:db8::1"), [7; 6]), // not a target
        ];
        assert_eq!(t.known_macs(index_of, entries), vec![(305, [5; 6])]);
        let gateway_target = |_: IpAddr| Some(7);
        assert!(t.known_macs(gateway_target, entries).is_empty());
    }

    #[test]
    fn bad_tables_are_refused() {
        let s = |first| Span { first, exit: None };
        assert!(PathTable::new(vec![], vec![]).is_err());
        assert!(PathTable::new(vec![], vec![s(1)]).is_err());
        assert!(PathTable::new(vec![], vec![s(0), s(5), s(5)]).is_err());
        let r = Span {
            first: 0,
            exit: exit(1, "198.19.0.1", Hop::OnLink),
        };
        assert!(PathTable::new(vec![link("a", 1)], vec![r]).is_err());
        assert!(!PathTable::new(vec![], vec![s(0)]).unwrap().any_route());
    }
}
