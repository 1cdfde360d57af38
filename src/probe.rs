//! The vocabulary every part of synprobe speaks: what a probe found and why.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Liveness of one (address, port) pair, as nmap -sS names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Something listens: the target answered the SYN with a SYN-ACK (or a bare SYN).
    Open,
    /// Nothing listens: the target's kernel answered with an RST.
    Closed,
    /// A filter is in the way: an ICMP unreachable, or no reply at all.
    Filtered,
}

impl State {
    pub const ALL: [State; 3] = [State::Open, State::Closed, State::Filtered];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
            State::Filtered => "filtered",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which ICMP / ICMPv6 destination-unreachable message came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unreachable {
    /// ICMPv4 code 0; ICMPv6 code 0 (no route).
    Net,
    /// ICMPv4 code 1; ICMPv6 code 3 (address unreachable).
    Host,
    /// ICMPv4 code 2.
    Protocol,
    /// ICMPv4 code 3; ICMPv6 code 4.
    Port,
    /// ICMPv4 code 9.
    NetProhibited,
    /// ICMPv4 code 10.
    HostProhibited,
    /// ICMPv4 code 13; ICMPv6 code 1.
    AdminProhibited,
    /// ICMPv6 code 2 (beyond scope of source address).
    BeyondScope,
    /// ICMPv6 code 6 (reject route to destination).
    RejectRoute,
}

impl Unreachable {
    /// The ICMPv4 destination-unreachable codes nmap counts as "filtered".
    pub fn from_icmpv4_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Unreachable::Net,
            1 => Unreachable::Host,
            2 => Unreachable::Protocol,
            3 => Unreachable::Port,
            9 => Unreachable::NetProhibited,
            10 => Unreachable::HostProhibited,
            13 => Unreachable::AdminProhibited,
            _ => return None,
        })
    }

    /// The ICMPv6 destination-unreachable codes that mean the SYN was refused on the way.
    pub fn from_icmpv6_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Unreachable::Net,
            1 => Unreachable::AdminProhibited,
            2 => Unreachable::BeyondScope,
            3 => Unreachable::Host,
            4 => Unreachable::Port,
            6 => Unreachable::RejectRoute,
            _ => return None,
        })
    }

    pub fn reason_str(self) -> &'static str {
        match self {
            Unreachable::Net => "icmp-net-unreachable",
            Unreachable::Host => "icmp-host-unreachable",
            Unreachable::Protocol => "icmp-proto-unreachable",
            Unreachable::Port => "icmp-port-unreachable",
            Unreachable::NetProhibited => "icmp-net-prohibited",
            Unreachable::HostProhibited => "icmp-host-prohibited",
            Unreachable::AdminProhibited => "icmp-admin-prohibited",
            Unreachable::BeyondScope => "icmp-beyond-scope",
            Unreachable::RejectRoute => "icmp-reject-route",
        }
    }

    /// Plain words for `check`: what the message tells an operator.
    pub fn plain(self) -> &'static str {
        match self {
            Unreachable::Net => "ICMP net unreachable, no route to the target's network",
            Unreachable::Host => "ICMP host unreachable, the target does not answer on its network",
            Unreachable::Protocol => "ICMP protocol unreachable, the target refuses TCP",
            Unreachable::Port => "ICMP port unreachable, a firewall rejects it",
            Unreachable::NetProhibited => "ICMP net prohibited, a firewall rejects it",
            Unreachable::HostProhibited => "ICMP host prohibited, a firewall rejects it",
            Unreachable::AdminProhibited => {
                "ICMP administratively prohibited, a firewall rejects it"
            }
            Unreachable::BeyondScope => "ICMPv6 beyond scope, the source address cannot reach it",
            Unreachable::RejectRoute => "ICMPv6 reject route, a route rejects it",
        }
    }

    /// What it means, without what came back: the words after the comma of [`Self::plain`].
    pub fn meaning(self) -> &'static str {
        let p = self.plain();
        p.split_once(", ").map_or(p, |(_, m)| m)
    }
}

/// Why a pair got its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    SynAck,
    /// A bare SYN came back (split handshake): something listens.
    Syn,
    Rst,
    Icmp(Unreachable),
    NoResponse,
    /// The kernel has no route to the target: it was not probed.
    NoRoute,
    /// An on-link target that answered no ARP / NDP request: no host has the address.
    NoNeighbour,
}

impl Reason {
    pub fn state(self) -> State {
        match self {
            Reason::SynAck | Reason::Syn => State::Open,
            Reason::Rst => State::Closed,
            Reason::Icmp(_) | Reason::NoResponse | Reason::NoRoute | Reason::NoNeighbour => {
                State::Filtered
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::Syn => "syn",
            Reason::Rst => "rst",
            Reason::Icmp(u) => u.reason_str(),
            Reason::NoResponse => "no-response",
            Reason::NoRoute => "no-route",
            Reason::NoNeighbour => "no-neighbour",
        }
    }

    /// What the reason tells an operator, in a few words: `check` writes it after what came
    /// back, `watch` prints it as an event's detail.
    pub fn meaning(self) -> &'static str {
        match self {
            Reason::SynAck | Reason::Syn => "something is listening",
            Reason::Rst => "nothing is listening",
            Reason::Icmp(u) => u.meaning(),
            Reason::NoResponse => "a filter drops the SYN",
            Reason::NoRoute => "no route to host",
            Reason::NoNeighbour => "no host has this address",
        }
    }
}

impl Reason {
    /// Every reason, for reading results back (`merge`).
    pub const ALL: [Reason; 15] = [
        Reason::SynAck,
        Reason::Syn,
        Reason::Rst,
        Reason::Icmp(Unreachable::Net),
        Reason::Icmp(Unreachable::Host),
        Reason::Icmp(Unreachable::Protocol),
        Reason::Icmp(Unreachable::Port),
        Reason::Icmp(Unreachable::NetProhibited),
        Reason::Icmp(Unreachable::HostProhibited),
        Reason::Icmp(Unreachable::AdminProhibited),
        Reason::Icmp(Unreachable::BeyondScope),
        Reason::Icmp(Unreachable::RejectRoute),
        Reason::NoResponse,
        Reason::NoRoute,
        Reason::NoNeighbour,
    ];

    /// The reason a printer wrote as `s` (`as_str`'s inverse).
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict for one (address, port) pair: what the engine hands to a sink.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeResult {
    pub ip: IpAddr,
    pub port: u16,
    pub reason: Reason,
    /// TTL (hop limit) of the reply, when there was one.
    pub ttl: Option<u8>,
    /// Round-trip time, when it could be measured.
    pub rtt: Option<Duration>,
}

impl ProbeResult {
    pub fn state(&self) -> State {
        self.reason.state()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meanings_are_the_plain_words_after_what_came_back() {
        assert_eq!(Reason::Rst.meaning(), "nothing is listening");
        assert_eq!(Reason::Syn.meaning(), "something is listening");
        assert_eq!(
            Reason::Icmp(Unreachable::Port).meaning(),
            "a firewall rejects it"
        );
        assert_eq!(
            Reason::Icmp(Unreachable::Net).meaning(),
            "no route to the target's network"
        );
    }

    #[test]
    fn reasons_map_to_nmap_states() {
        assert_eq!(Reason::SynAck.state(), State::Open);
        assert_eq!(Reason::Syn.state(), State::Open);
        assert_eq!(Reason::Rst.state(), State::Closed);
        assert_eq!(Reason::NoResponse.state(), State::Filtered);
        assert_eq!(Reason::NoRoute.state(), State::Filtered);
        assert_eq!(Reason::NoNeighbour.as_str(), "no-neighbour");
        for code in [0u8, 1, 2, 3, 9, 10, 13] {
            let u = Unreachable::from_icmpv4_code(code).unwrap();
            assert_eq!(Reason::Icmp(u).state(), State::Filtered);
        }
        for code in [4u8, 5, 6, 7, 8, 11, 12, 14, 15] {
            assert_eq!(Unreachable::from_icmpv4_code(code), None, "code {code}");
        }
        assert_eq!(
            Reason::Icmp(Unreachable::Port).as_str(),
            "icmp-port-unreachable"
        );
    }

    #[test]
    fn every_reason_reads_back_from_its_word() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
        assert_eq!(Reason::parse("open"), None);
        assert_eq!(Reason::parse(""), None);
    }
}
