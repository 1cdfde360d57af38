//! Typed, checked views of the packets synprobe reads and writes (ethernet, IPv4, IPv6, TCP,
//! ICMP, ICMPv6) and the SYN and control-segment (RST, SYN-ACK) builders. Bytes from the network go through `new_checked`
//! constructors; no accessor can panic after that.

pub mod checksum;
mod control;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod neighbour;
mod syn;
pub mod tcp;

pub use control::{ControlFields, build_control};
pub use ethernet::EthernetFrame;
pub use icmp::IcmpPacket;
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;
pub use syn::{SynFields, SynParams, SynTemplate};
pub use tcp::TcpPacket;

/// Room for the largest frame synprobe builds (ethernet + IPv6 + TCP with options = 94).
pub const FRAME_CAP: usize = 128;

/// Why bytes were not accepted as a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("packet truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("malformed packet: bad {field} {value}")]
    Malformed { field: &'static str, value: u32 },
}

/// Big-endian u16 at `at`. Callers index only within lengths a `new_checked` validated.
#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
pub(crate) mod testdata;
