//! TCP headers (RFC 9293) and the options synprobe writes (SYN) or reads (timestamps).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Error, be16, be32, checksum};

pub const MIN_HEADER_LEN: usize = 20;
/// Bytes of TCP an ICMP error is guaranteed to quote: ports and sequence number.
pub const QUOTED_LEN: usize = 8;

pub const FLAG_FIN: u8 = 0x01;
pub const FLAG_SYN: u8 = 0x02;
pub const FLAG_RST: u8 = 0x04;
pub const FLAG_PSH: u8 = 0x08;
pub const FLAG_ACK: u8 = 0x10;
pub const FLAG_URG: u8 = 0x20;

pub const OPT_EOL: u8 = 0;
pub const OPT_NOP: u8 = 1;
pub const OPT_MSS: u8 = 2;
pub const OPT_WSCALE: u8 = 3;
pub const OPT_SACK_PERM: u8 = 4;
pub const OPT_TIMESTAMP: u8 = 8;

pub(crate) mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
    pub const OPTIONS: usize = 20;
}

/// A zero-copy view of a TCP segment.
#[derive(Clone, Copy, Debug)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wrap without checks: only for buffers we built ourselves.
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wrap a segment from the network: data offset >= 5 and the header within the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = TcpPacket { buffer };
        let have = p.buffer.as_ref().len();
        if have < MIN_HEADER_LEN {
            return Err(Error::Truncated {
                need: MIN_HEADER_LEN,
                have,
            });
        }
        let hl = p.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(Error::Malformed {
                field: "tcp data offset",
                value: (hl / 4) as u32,
            });
        }
        if hl > have {
            return Err(Error::Truncated { need: hl, have });
        }
        Ok(p)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn src_port(&self) -> u16 {
        be16(self.b(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.b(), field::DST_PORT)
    }

    pub fn seq_number(&self) -> u32 {
        be32(self.b(), field::SEQ)
    }

    pub fn ack_number(&self) -> u32 {
        be32(self.b(), field::ACK)
    }

    /// Header length in bytes (data offset * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::DATA_OFF] >> 4) * 4
    }

    /// The flag byte (CWR ECE URG ACK PSH RST SYN FIN); see the FLAG_* constants.
    pub fn flags(&self) -> u8 {
        self.b()[field::FLAGS]
    }

    pub fn syn(&self) -> bool {
        self.flags() & FLAG_SYN != 0
    }

    pub fn ack(&self) -> bool {
        self.flags() & FLAG_ACK != 0
    }

    pub fn rst(&self) -> bool {
        self.flags() & FLAG_RST != 0
    }

    pub fn fin(&self) -> bool {
        self.flags() & FLAG_FIN != 0
    }

    pub fn window_len(&self) -> u16 {
        be16(self.b(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }

    pub fn urgent_at(&self) -> u16 {
        be16(self.b(), field::URGENT)
    }

    pub fn options(&self) -> &[u8] {
        &self.b()[field::OPTIONS..self.header_len()]
    }

    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..]
    }

    /// (TSval, TSecr) of the timestamp option, if present and well formed.
    pub fn timestamp(&self) -> Option<(u32, u32)> {
        find_timestamp(self.options())
    }

    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let acc = checksum::pseudo_v4(src, dst, 6, self.b().len() as u16);
        checksum::fold(checksum::add_bytes(acc, self.b())) == 0xffff
    }

    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let acc = checksum::pseudo_v6(src, dst, 6, self.b().len() as u32);
        checksum::fold(checksum::add_bytes(acc, self.b())) == 0xffff
    }
}

/// Find the timestamp option in an options area. Bounded by the area's length and never
/// panics: a malformed option (length < 2 or past the end) stops the walk.
pub fn find_timestamp(opts: &[u8]) -> Option<(u32, u32)> {
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            OPT_EOL => return None,
            OPT_NOP => i += 1,
            _ => {
                let len = usize::from(*opts.get(i + 1)?);
                if len < 2 {
                    return None;
                }
                let body = opts.get(i + 2..i + len)?;
                if kind == OPT_TIMESTAMP {
                    if let [a, b, c, d, e, f, g, h] = *body {
                        return Some((
                            u32::from_be_bytes([a, b, c, d]),
                            u32::from_be_bytes([e, f, g, h]),
                        ));
                    }
                    return None;
                }
                i += len;
            }
        }
    }
    None
}

/// Ports and sequence number from the first 8 bytes of a quoted TCP header:
/// (source port, destination port, sequence number).
pub fn quoted_head(b: &[u8]) -> Option<(u16, u16, u32)> {
    match *b {
        [s0, s1, d0, d1, q0, q1, q2, q3, ..] => Some((
            u16::from_be_bytes([s0, s1]),
            u16::from_be_bytes([d0, d1]),
            u32::from_be_bytes([q0, q1, q2, q3]),
        )),
        _ => None,
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn put16(&mut self, at: usize, v: u16) {
        self.m()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    fn put32(&mut self, at: usize, v: u32) {
        self.m()[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_src_port(&mut self, v: u16) {
        self.put16(field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        self.put16(field::DST_PORT, v);
    }

    pub fn set_seq_number(&mut self, v: u32) {
        self.put32(field::SEQ, v);
    }

    pub fn set_ack_number(&mut self, v: u32) {
        self.put32(field::ACK, v);
    }

    /// Header length in bytes (a multiple of 4, 20..=60).
    pub fn set_header_len(&mut self, header_len: usize) {
        self.m()[field::DATA_OFF] = ((header_len / 4) as u8) << 4;
    }

    pub fn set_flags(&mut self, v: u8) {
        self.m()[field::FLAGS] = v;
    }

    pub fn set_window_len(&mut self, v: u16) {
        self.put16(field::WINDOW, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        self.put16(field::CHECKSUM, v);
    }

    pub fn set_urgent_at(&mut self, v: u16) {
        self.put16(field::URGENT, v);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.m()[field::OPTIONS..hl]
    }

    /// Compute and store the checksum over the whole buffer (header + payload).
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::tcp_v4(src, dst, self.buffer.as_ref());
        self.set_checksum(c);
    }

    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::tcp_v6(src, dst, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Linux SYN captured on lo: 127.0.0.1:55366 -> 127.0.0.1:47999, seq 0x6f101382,
    /// options mss 65495, sackOK, TS val 0xfcd163fc ecr 0, nop, wscale 10. The checksum
    /// field (fe30) is the offload's partial pseudo-header sum.
    const SYN: [u8; 40] = [
        0xd8, 0x46, 0xbb, 0x7f, 0x6f, 0x10, 0x13, 0x82, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xff,
        0xd7, 0xfe, 0x30, 0x00, 0x00, 0x02, 0x04, 0xff, 0xd7, 0x04, 0x02, 0x08, 0x0a, 0xfc, 0xd1,
        0x63, 0xfc, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];

    #[test]
    fn parse_captured_syn() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 55366);
        assert_eq!(p.dst_port(), 47999);
        assert_eq!(p.seq_number(), 1863324546);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), FLAG_SYN);
        assert!(p.syn() && !p.ack() && !p.rst() && !p.fin());
        assert_eq!(p.window_len(), 65495);
        assert_eq!(p.options().len(), 20);
        assert!(p.payload().is_empty());
        assert_eq!(p.timestamp(), Some((0xfcd163fc, 0)));
    }

    #[test]
    fn checksum_roundtrip() {
        let mut b = SYN;
        let (s, d) = (
            Ipv4Addr::new(198, 18, 0, 1),
            Ipv4Addr::new(198, 19, 255, 254),
        );
        let mut p = TcpPacket::new_unchecked(&mut b[..]);
        p.fill_checksum_v4(s, d);
        assert!(p.verify_checksum_v4(s, d));
        assert!(!p.verify_checksum_v4(d, d));
        let (s6, d6) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        p.fill_checksum_v6(s6, d6);
        assert!(p.verify_checksum_v6(s6, d6));
        // (Swapping the addresses would not change a one's-complement sum.)
        assert!(!p.verify_checksum_v6(s6, "2001:db8::3".parse().unwrap()));
    }

    #[test]
    fn rejects_bad_offsets() {
        for n in 0..SYN.len() {
            assert!(TcpPacket::new_checked(&SYN[..n]).is_err(), "len {n}");
        }
        let mut b = SYN;
        b[12] = 0x40;
        assert!(TcpPacket::new_checked(&b[..]).is_err());
        b[12] = 0xf0;
        assert!(TcpPacket::new_checked(&b[..]).is_err());
    }

    #[test]
    fn timestamp_option_walk_is_bounded() {
        assert_eq!(find_timestamp(&[]), None);
        assert_eq!(find_timestamp(&[1, 1, 1]), None);
        assert_eq!(find_timestamp(&[0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]), None);
        assert_eq!(
            find_timestamp(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            Some((1, 2))
        );
        // Wrong timestamp length, zero length, length past the end.
        assert_eq!(find_timestamp(&[8, 9, 0, 0, 0, 1, 0, 0, 0]), None);
        assert_eq!(find_timestamp(&[2, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]), None);
        assert_eq!(find_timestamp(&[2, 40, 0, 0]), None);
        assert_eq!(find_timestamp(&[8]), None);
        // Every byte pattern of a short area is fine.
        for x in 0u32..(1 << 16) {
            let o = [x as u8, (x >> 8) as u8, 10, 8, 10, 1, 2];
            let _ = find_timestamp(&o);
        }
    }

    #[test]
    fn quoted_head_needs_eight_bytes() {
        assert_eq!(quoted_head(&SYN[..8]), Some((55366, 47999, 1863324546)));
        assert_eq!(quoted_head(&SYN[..7]), None);
    }
}
