//! Stateless reply matching: a keyed hash of (source ip, destination ip, destination port)
//! becomes the SYN's sequence number and, when a range is in use, its source port.
//! STUB: interface fixed, body to be written.

use std::net::IpAddr;

/// The per-run secret. Replies that do not carry a cookie made with it are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieKey {
    pub k0: u64,
    pub k1: u64,
}

/// The source ports probes leave from: `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePorts {
    pub first: u16,
    pub last: u16,
}

impl SourcePorts {
    /// 61001-65535: outside Linux's default ephemeral range (32768-60999), so a probe never
    /// collides with a real local socket.
    pub const DEFAULT: SourcePorts = SourcePorts {
        first: 61001,
        last: 65535,
    };
}

/// What a probe to one (src, dst, dport) carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// The SYN's sequence number; a SYN-ACK or RST must acknowledge `seq + 1`.
    pub seq: u32,
    /// The source port the SYN leaves from.
    pub sport: u16,
}

impl CookieKey {
    /// A fresh key from the OS's random source.
    pub fn random() -> Self {
        todo!()
    }

    pub fn cookie(&self, src: IpAddr, dst: IpAddr, dport: u16, ports: SourcePorts) -> Cookie {
        let _ = (src, dst, dport, ports);
        todo!()
    }
}

impl SourcePorts {
    /// STUB until the cookie module lands.
    pub fn parse(spec: &str) -> Result<SourcePorts, String> {
        let _ = spec;
        todo!()
    }
}
