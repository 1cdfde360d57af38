//! From a received frame to a candidate reply: parse it with checked views and say what kind
//! of answer to a SYN it is. Validation against the cookie happens in the engine.
//! STUB: interface fixed, body to be written.

use std::net::IpAddr;

use crate::probe::Reason;

/// A frame that answers (or claims to answer) one of our SYNs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The probed endpoint: who answered (for ICMP: the destination in the quoted header).
    pub target: IpAddr,
    pub target_port: u16,
    /// Our side as the reply names it.
    pub local: IpAddr,
    pub local_port: u16,
    /// The value that must equal our cookie's sequence number: ack - 1 for a SYN-ACK or RST,
    /// the quoted sequence number for an ICMP error. `None` for a bare SYN (nothing to check).
    pub echoed_seq: Option<u32>,
    /// The reply's own acknowledgement number (the teardown RST's sequence number).
    pub ack: u32,
    pub reason: Reason,
    /// TTL / hop limit of the reply's IP header.
    pub ttl: u8,
    /// TSecr of a TCP timestamp option, when present.
    pub tsecr: Option<u32>,
}

/// Parse an ethernet frame. `None` for anything that is not a TCP reply to a SYN (SYN-ACK,
/// RST, bare SYN) or an ICMP/ICMPv6 destination-unreachable quoting a TCP segment. Never
/// panics, whatever the bytes.
pub fn parse_reply(frame: &[u8]) -> Option<Reply> {
    let _ = frame;
    todo!()
}
