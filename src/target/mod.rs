//! What to probe: addresses (single, CIDR, `a-b` ranges, host names, `@FILE`), exclusions,
//! ports, and the pair index space `0..targets*ports` the permutation walks.
//! STUB: interface fixed, body to be written.

use std::net::IpAddr;

use thiserror::Error;

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

/// A set of addresses with a dense index `0..len()`.
#[derive(Clone, Debug, Default)]
pub struct TargetSet {}

impl TargetSet {
    /// Parse target specs (address, CIDR, `a-b`, host name, `@FILE`), minus the excluded
    /// CIDRs / addresses / ranges. Duplicates and overlaps are merged: each address once.
    pub fn parse(specs: &[String], excludes: &[String]) -> Result<Self, TargetError> {
        let _ = (specs, excludes);
        todo!()
    }

    /// Read an exclude file (one CIDR / address / range per line, `#` comments) into specs.
    pub fn read_exclude_file(path: &str) -> Result<Vec<String>, TargetError> {
        let _ = path;
        todo!()
    }

    pub fn len(&self) -> u64 {
        todo!()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The address with index `idx` (< len()).
    pub fn ip_at(&self, idx: u64) -> IpAddr {
        let _ = idx;
        todo!()
    }

    /// The index of `ip`, or `None` if it is not in the set.
    pub fn index_of(&self, ip: IpAddr) -> Option<u64> {
        let _ = ip;
        todo!()
    }
}

/// An ordered list of distinct ports with a constant-time reverse lookup.
#[derive(Clone, Debug)]
pub struct PortList {}

impl PortList {
    /// Parse `22,80,8000-8100` (1-65535; duplicates merged; empty list is an error).
    pub fn parse(spec: &str) -> Result<Self, TargetError> {
        let _ = spec;
        todo!()
    }

    pub fn len(&self) -> u64 {
        todo!()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn at(&self, idx: u64) -> u16 {
        let _ = idx;
        todo!()
    }

    pub fn index_of(&self, port: u16) -> Option<u64> {
        let _ = port;
        todo!()
    }
}

/// Every (address, port) pair, indexed `0..len()`; the index is `ip_index * ports + port_index`.
#[derive(Clone, Debug)]
pub struct PairSpace {
    pub targets: TargetSet,
    pub ports: PortList,
}

impl PairSpace {
    pub fn len(&self) -> u64 {
        self.targets.len() * self.ports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn pair(&self, idx: u64) -> (IpAddr, u16) {
        let n = self.ports.len();
        (self.targets.ip_at(idx / n), self.ports.at(idx % n))
    }

    pub fn index(&self, ip: IpAddr, port: u16) -> Option<u64> {
        Some(self.targets.index_of(ip)? * self.ports.len() + self.ports.index_of(port)?)
    }
}

/// A `HOST:PORT` endpoint for `check` (`[v6]:port` for IPv6; host names resolved once).
pub fn parse_endpoint(spec: &str) -> Result<(IpAddr, u16), TargetError> {
    let _ = spec;
    todo!()
}

impl PairSpace {
    /// STUB until the target module lands.
    pub fn new(targets: TargetSet, ports: PortList) -> Result<Self, TargetError> {
        Ok(PairSpace { targets, ports })
    }
}
