//! What to probe: addresses (single, CIDR, `a-b` ranges, nmap octet ranges, host names,
//! `@FILE`), exclusions, ports, and the pair index space `0..targets*ports` the
//! permutation walks.
//!
//! `range` holds address runs and their set algebra, `spec` turns one token into runs
//! (`octets` the nmap form `198.18.0-3.1-20`), `set` builds the indexed `TargetSet`,
//! `ports` the `PortList`, `endpoint` parses `HOST:PORT` for `check`, `reserved` the
//! blocks no internet scan probes (IANA's special-purpose registries).

mod endpoint;
mod octets;
mod ports;
mod range;
pub mod reserved;
mod set;
mod spec;

use std::net::IpAddr;

use thiserror::Error;

pub use endpoint::{Endpoint, parse_endpoint, parse_endpoint_all};
pub use ports::PortList;
pub use range::{Family, IpRange};
pub use set::{MAX_TARGETS, TargetSet};

/// Most (address, port) pairs a scan may cover, so pair indices and counters never
/// overflow a `u64` even after multiplying by retries or shards.
pub const MAX_PAIRS: u64 = 1 << 48;

/// Bad input in a target, port or exclude spec; the message names the bad value.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("invalid target '{0}': {1}")]
    Target(String, String),
    #[error("invalid port '{0}': {1}")]
    Port(String, String),
    #[error("invalid exclude '{0}': {1}")]
    Exclude(String, String),
    #[error("cannot read target file '{0}': {1}")]
    File(String, String),
    #[error("cannot resolve host '{0}': {1}")]
    Resolve(String, String),
    #[error("{0}")]
    Other(String),
}

/// Every (address, port) pair, indexed `0..len()`; the index is `ip_index * ports + port_index`.
#[derive(Clone, Debug)]
pub struct PairSpace {
    pub targets: TargetSet,
    pub ports: PortList,
}

impl PairSpace {
    /// The pairs of `targets` x `ports`; errors if either is empty or there are more than
    /// `MAX_PAIRS` pairs.
    pub fn new(targets: TargetSet, ports: PortList) -> Result<PairSpace, TargetError> {
        let (t, p) = (targets.len(), ports.len());
        if t == 0 {
            return Err(TargetError::Other("no targets to probe".into()));
        }
        if p == 0 {
            return Err(TargetError::Other("no ports to probe".into()));
        }
        match t.checked_mul(p) {
            Some(n) if n <= MAX_PAIRS => Ok(PairSpace { targets, ports }),
            _ => Err(TargetError::Other(format!(
                "{t} addresses x {p} ports = {} pairs is above the limit of 2^48 ({MAX_PAIRS})",
                u128::from(t) * u128::from(p)
            ))),
        }
    }

    pub fn len(&self) -> u64 {
        self.targets.len() * self.ports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index (in `targets`) of pair `idx`'s address.
    #[inline]
    pub fn target_index(&self, idx: u64) -> u64 {
        idx / self.ports.len()
    }

    /// `pair(idx)` when its target index `t` is known already: one division less per probe.
    #[inline]
    pub fn pair_at(&self, idx: u64, t: u64) -> (IpAddr, u16) {
        (
            self.targets.ip_at(t),
            self.ports.at(idx - t * self.ports.len()),
        )
    }

    pub fn pair(&self, idx: u64) -> (IpAddr, u16) {
        let n = self.ports.len();
        (self.targets.ip_at(idx / n), self.ports.at(idx % n))
    }

    pub fn index(&self, ip: IpAddr, port: u16) -> Option<u64> {
        Some(self.targets.index_of(ip)? * self.ports.len() + self.ports.index_of(port)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(targets: &[&str], ports: &str) -> Result<PairSpace, TargetError> {
        let specs: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
        PairSpace::new(TargetSet::parse(&specs, &[])?, PortList::parse(ports)?)
    }

    #[test]
    fn pair_and_index_round_trip() {
        let ps = space(&["198.18.0.0/30", "2001:db8::1-2001:db8::2"], "22,80,443").unwrap();
        assert_eq!(ps.len(), 6 * 3);
        for i in 0..ps.len() {
            let (ip, port) = ps.pair(i);
            assert_eq!(ps.pair_at(i, ps.target_index(i)), (ip, port));
            assert_eq!(ps.index(ip, port), Some(i));
        }
        assert_eq!(ps.pair(0), ("198.18.0.0".parse().unwrap(), 22));
        assert_eq!(ps.pair(4), ("198.18.0.1".parse().unwrap(), 80));
        assert_eq!(ps.index("198.18.0.9".parse().unwrap(), 22), None);
        assert_eq!(ps.index("198.18.0.1".parse().unwrap(), 23), None);
    }

    #[test]
    fn pair_limit_of_2_to_the_48() {
        // 2^33 addresses x 2^15 ports = 2^48: allowed.
        assert_eq!(space(&["2001:db8::/95"], "1-32768").unwrap().len(), 1 << 48);
        let e = space(&["2001:db8::/95"], "1-32769").unwrap_err();
        assert!(
            matches!(&e, TargetError::Other(m) if m.contains("281483566645248")),
            "{e}"
        );
        // The full sizes: 2^40 addresses x 65535 ports does not overflow the check.
        let e = space(&["2001:db8::/88"], "1-65535").unwrap_err();
        assert!(matches!(e, TargetError::Other(_)));
    }

    #[test]
    fn empty_targets_rejected() {
        let e = PairSpace::new(TargetSet::default(), PortList::parse("80").unwrap());
        assert!(matches!(e, Err(TargetError::Other(_))));
    }
}
