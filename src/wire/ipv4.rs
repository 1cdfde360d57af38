//! IPv4 headers (RFC 791). Options are skipped, never interpreted.

use std::net::Ipv4Addr;

use super::{Error, be16, checksum};

pub const MIN_HEADER_LEN: usize = 20;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
/// Don't-fragment bit in the flags/fragment-offset word.
pub const FLAG_DF: u16 = 0x4000;
pub const FLAG_MF: u16 = 0x2000;

pub(crate) mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// A zero-copy view of an IPv4 packet.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wrap without checks: only for buffers we built ourselves.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wrap a packet from the network: version 4, IHL >= 5, header within the buffer, and
    /// header length <= total length <= buffer length (the buffer may carry ethernet padding).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_quoted(buffer)?;
        let total = usize::from(p.total_len());
        let have = p.buffer.as_ref().len();
        if total < p.header_len() {
            return Err(Error::Malformed {
                field: "ipv4 total length",
                value: total as u32,
            });
        }
        if total > have {
            return Err(Error::Truncated { need: total, have });
        }
        Ok(p)
    }

    /// Wrap the header an ICMP error quotes: the packet behind it is cut short, so only the
    /// header itself must fit and the total length is not trusted.
    pub fn new_quoted(buffer: T) -> Result<Self, Error> {
        let p = Ipv4Packet { buffer };
        let have = p.buffer.as_ref().len();
        if have < MIN_HEADER_LEN {
            return Err(Error::Truncated {
                need: MIN_HEADER_LEN,
                have,
            });
        }
        if p.version() != 4 {
            return Err(Error::Malformed {
                field: "ip version",
                value: u32::from(p.version()),
            });
        }
        let hl = p.header_len();
        if hl < MIN_HEADER_LEN {
            return Err(Error::Malformed {
                field: "ipv4 header length",
                value: hl as u32,
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

    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn tos(&self) -> u8 {
        self.b()[field::TOS]
    }

    pub fn total_len(&self) -> u16 {
        be16(self.b(), field::TOTAL_LEN)
    }

    pub fn ident(&self) -> u16 {
        be16(self.b(), field::IDENT)
    }

    pub fn dont_frag(&self) -> bool {
        be16(self.b(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        be16(self.b(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.b(), field::FLAGS_FRAG) & 0x1fff
    }

    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::internet(&self.b()[..self.header_len()]) == 0
    }

    /// The payload, up to the total length (ethernet padding excluded) and never past the
    /// buffer (a quoted packet is cut short).
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let hl = self.header_len();
        let end = usize::from(self.total_len()).min(b.len()).max(hl);
        &b[hl..end]
    }

    /// Everything after the header, ignoring the total length: for quoted packets, whose
    /// total length some routers rewrite.
    pub fn rest(&self) -> &[u8] {
        &self.b()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn put16(&mut self, at: usize, v: u16) {
        self.m()[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// Version 4 and the header length in bytes (a multiple of 4, 20..=60).
    pub fn set_version_header_len(&mut self, header_len: usize) {
        self.m()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    pub fn set_tos(&mut self, v: u8) {
        self.m()[field::TOS] = v;
    }

    pub fn set_total_len(&mut self, v: u16) {
        self.put16(field::TOTAL_LEN, v);
    }

    pub fn set_ident(&mut self, v: u16) {
        self.put16(field::IDENT, v);
    }

    /// Flags and fragment offset word (synprobe sends FLAG_DF, offset 0).
    pub fn set_flags_frag(&mut self, v: u16) {
        self.put16(field::FLAGS_FRAG, v);
    }

    pub fn set_ttl(&mut self, v: u8) {
        self.m()[field::TTL] = v;
    }

    pub fn set_protocol(&mut self, v: u8) {
        self.m()[field::PROTOCOL] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        self.put16(field::CHECKSUM, v);
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.m()[field::SRC..field::SRC + 4].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.m()[field::DST..field::DST + 4].copy_from_slice(&a.octets());
    }

    /// Compute and store the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::ipv4_header(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let end = usize::from(self.total_len())
            .min(self.buffer.as_ref().len())
            .max(hl);
        &mut self.m()[hl..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 header + 40-byte TCP SYN captured on lo (Linux 6.x).
    const CAPTURED: [u8; 20] = [
        0x45, 0x00, 0x00, 0x3c, 0x80, 0xd1, 0x40, 0x00, 0x40, 0x06, 0xbb, 0xe8, 0x7f, 0x00, 0x00,
        0x01, 0x7f, 0x00, 0x00, 0x01,
    ];

    fn packet() -> Vec<u8> {
        let mut v = CAPTURED.to_vec();
        v.extend_from_slice(&[0u8; 40]);
        v
    }

    #[test]
    fn parse_captured() {
        let v = packet();
        let p = Ipv4Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0x80d1);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTO_TCP);
        assert_eq!(p.src_addr(), Ipv4Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv4Addr::LOCALHOST);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 40);
    }

    #[test]
    fn emit_matches_captured() {
        let mut b = [0u8; 20];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version_header_len(20);
        p.set_total_len(60);
        p.set_ident(0x80d1);
        p.set_flags_frag(FLAG_DF);
        p.set_ttl(64);
        p.set_protocol(PROTO_TCP);
        p.set_src_addr(Ipv4Addr::LOCALHOST);
        p.set_dst_addr(Ipv4Addr::LOCALHOST);
        p.fill_checksum();
        assert_eq!(b, CAPTURED);
    }

    #[test]
    fn padding_is_excluded_and_options_skipped() {
        let mut v = packet();
        v.extend_from_slice(&[0xee; 6]);
        assert_eq!(Ipv4Packet::new_checked(&v[..]).unwrap().payload().len(), 40);

        // IHL 6: a 4-byte option (NOPs) before the payload.
        let mut o = CAPTURED.to_vec();
        o[0] = 0x46;
        o.extend_from_slice(&[1, 1, 1, 0]);
        o.extend_from_slice(&[0xaa; 40]);
        let p = Ipv4Packet::new_checked(&o[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.payload(), &[0xaa; 36][..]);
    }

    #[test]
    fn rejects_bad_headers() {
        let v = packet();
        for n in 0..v.len() {
            assert!(Ipv4Packet::new_checked(&v[..n]).is_err(), "len {n}");
        }
        let mut bad = v.clone();
        bad[0] = 0x44;
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        bad[0] = 0x65;
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        bad[0] = 0x4f; // 60-byte header, but a total length of 20
        bad[3] = 20;
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        // Quoted: total length is not trusted.
        let q = Ipv4Packet::new_quoted(&v[..28]).unwrap();
        assert_eq!(q.payload().len(), 8);
        assert_eq!(q.rest().len(), 8);
    }
}
