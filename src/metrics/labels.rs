//! The label sets of synprobe's metric families, and the fixed list of check reasons.
//!
//! A target label holds the `SocketAddr` itself, not its string: hashing and comparing it
//! costs no allocation, and the text is written only when a scrape encodes it.

use std::fmt::Write as _;
use std::net::SocketAddr;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::health::Health;
use crate::probe::{Reason, Unreachable};

/// A watched `host:port`, written as the output writes it (`198.18.0.1:80`, `[2001:db8::1]:80`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target(pub SocketAddr);

impl EncodeLabelValue for Target {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}", self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TargetLabel {
    pub target: Target,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TargetStateLabels {
    pub target: Target,
    pub state: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

/// How a check ended: a `Reason` string, the same words `scan` and `check` print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TransitionLabels {
    pub from: &'static str,
    pub to: &'static str,
}

/// Every health, in the order the state series are written.
pub const HEALTHS: [Health; 3] = [Health::Initial, Health::Healthy, Health::Unhealthy];

/// The transitions the state machine can make (see `health::state`): their counters exist
/// from the start, so a rate over them is 0, not absent, before the first one.
pub const TRANSITIONS: [(Health, Health); 4] = [
    (Health::Initial, Health::Healthy),
    (Health::Initial, Health::Unhealthy),
    (Health::Healthy, Health::Unhealthy),
    (Health::Unhealthy, Health::Healthy),
];

/// Every reason a check can end with, indexed by [`reason_slot`].
pub const REASONS: [Reason; 15] = Reason::ALL;

/// The index of `reason` in [`REASONS`]. Exhaustive on purpose: a new reason does not
/// compile until it has a counter (the test below checks the two lists agree).
pub fn reason_slot(reason: Reason) -> usize {
    match reason {
        Reason::SynAck => 0,
        Reason::Syn => 1,
        Reason::Rst => 2,
        Reason::Icmp(u) => {
            3 + match u {
                Unreachable::Net => 0,
                Unreachable::Host => 1,
                Unreachable::Protocol => 2,
                Unreachable::Port => 3,
                Unreachable::NetProhibited => 4,
                Unreachable::HostProhibited => 5,
                Unreachable::AdminProhibited => 6,
                Unreachable::BeyondScope => 7,
                Unreachable::RejectRoute => 8,
            }
        }
        Reason::NoResponse => 12,
        Reason::NoRoute => 13,
        Reason::NoNeighbour => 14,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot() {
        for (i, r) in REASONS.iter().enumerate() {
            assert_eq!(reason_slot(*r), i, "{r}");
        }
        let mut names: Vec<&str> = REASONS.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REASONS.len());
    }
}
