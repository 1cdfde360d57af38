//! Typed, checked views of the packets synprobe reads and writes (ethernet, IPv4, IPv6, TCP,
//! ICMP, ICMPv6) and the SYN / RST builders. Bytes from the network go through `new_checked`
//! constructors; no accessor can panic after that.
//! STUB: interface fixed, body to be written.

use std::net::IpAddr;

/// Room for the largest frame synprobe builds (ethernet + IPv6 + TCP with options = 94).
pub const FRAME_CAP: usize = 128;

/// What the SYN looks like apart from its per-probe fields: built once per run.
#[derive(Clone, Debug)]
pub struct SynParams {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: IpAddr,
    pub ttl: u8,
    pub window: u16,
    pub mss: u16,
    pub wscale: u8,
}

/// A prebuilt SYN frame; `fill` copies it and patches the per-probe fields with incremental
/// checksums.
#[derive(Clone, Debug)]
pub struct SynTemplate {
    len: usize,
}

/// Per-probe fields of a SYN.
#[derive(Clone, Copy, Debug)]
pub struct SynFields {
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ip_id: u16,
    /// TCP timestamp option value; the target echoes it, which gives a stateless RTT.
    pub tsval: u32,
}

impl SynTemplate {
    pub fn new(p: &SynParams) -> Self {
        let _ = p;
        todo!()
    }

    /// Frame length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Write the SYN for `f` into `out` (at least `len()` bytes); returns the frame length.
    /// `f.dst` must be of the same family as the template's source.
    pub fn fill(&self, out: &mut [u8], f: &SynFields) -> usize {
        let _ = (out, f);
        todo!()
    }
}

/// Per-packet fields of a teardown RST (sent for every SYN-ACK).
#[derive(Clone, Copy, Debug)]
pub struct RstFields {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// The SYN-ACK's acknowledgement number.
    pub seq: u32,
    pub ttl: u8,
}

/// Write a bare RST for `f` into `out` (at least FRAME_CAP bytes); returns the frame length.
pub fn build_rst(out: &mut [u8], f: &RstFields) -> usize {
    let _ = (out, f);
    todo!()
}
