//! IPv6 headers (RFC 8200): the fixed 40-byte header, and a bounded walk over the few
//! extension headers that may sit before TCP or ICMPv6.

use std::net::Ipv6Addr;

use super::{Error, be16};

pub const HEADER_LEN: usize = 40;
pub const NEXT_TCP: u8 = 6;
pub const NEXT_ICMPV6: u8 = 58;
const NEXT_HOP_BY_HOP: u8 = 0;
const NEXT_ROUTING: u8 = 43;
const NEXT_FRAGMENT: u8 = 44;
const NEXT_DEST_OPTS: u8 = 60;
/// More extension headers than this before the upper layer is not a reply we care about.
const MAX_EXT_HEADERS: usize = 4;

pub(crate) mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// A zero-copy view of an IPv6 packet.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wrap without checks: only for buffers we built ourselves.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wrap a packet from the network: version 6 and 40 + payload length <= buffer length.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let p = Self::new_quoted(buffer)?;
        let need = HEADER_LEN + usize::from(p.payload_len());
        let have = p.buffer.as_ref().len();
        if need > have {
            return Err(Error::Truncated { need, have });
        }
        Ok(p)
    }

    /// Wrap the header an ICMPv6 error quotes: only the fixed header must fit.
    pub fn new_quoted(buffer: T) -> Result<Self, Error> {
        let p = Ipv6Packet { buffer };
        let have = p.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have,
            });
        }
        if p.version() != 6 {
            return Err(Error::Malformed {
                field: "ip version",
                value: u32::from(p.version()),
            });
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
        self.b()[field::VER_TC_FLOW] >> 4
    }

    pub fn payload_len(&self) -> u16 {
        be16(self.b(), field::PAYLOAD_LEN)
    }

    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[field::SRC..field::SRC + 16]);
        Ipv6Addr::from(a)
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[field::DST..field::DST + 16]);
        Ipv6Addr::from(a)
    }

    /// The payload up to the payload length, never past the buffer.
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(b.len());
        &b[HEADER_LEN..end]
    }

    /// Everything after the fixed header (for quoted packets, cut short).
    pub fn rest(&self) -> &[u8] {
        &self.b()[HEADER_LEN..]
    }

    /// The upper-layer protocol and its bytes within `payload()`, after skipping hop-by-hop,
    /// routing, destination-options and first-fragment headers. `None` for a non-first
    /// fragment, too many or truncated extension headers.
    pub fn upper_layer(&self) -> Option<(u8, &[u8])> {
        skip_extension_headers(self.next_header(), self.payload())
    }
}

/// Walk extension headers starting at `next` over `data`; bounded and panic-free.
pub fn skip_extension_headers(mut next: u8, mut data: &[u8]) -> Option<(u8, &[u8])> {
    for _ in 0..=MAX_EXT_HEADERS {
        let len = match next {
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_DEST_OPTS => (usize::from(*data.get(1)?) + 1) * 8,
            NEXT_FRAGMENT => {
                let off_flags = u16::from_be_bytes([*data.get(2)?, *data.get(3)?]);
                if off_flags & 0xfff8 != 0 {
                    // Not the first fragment: no upper-layer header here.
                    return None;
                }
                8
            }
            _ => return Some((next, data)),
        };
        let nh = *data.first()?;
        data = data.get(len..)?;
        next = nh;
    }
    None
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn m(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Version 6, traffic class 0, flow label 0.
    pub fn set_version(&mut self) {
        self.m()[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    }

    pub fn set_payload_len(&mut self, v: u16) {
        self.m()[field::PAYLOAD_LEN..field::PAYLOAD_LEN + 2].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_next_header(&mut self, v: u8) {
        self.m()[field::NEXT_HEADER] = v;
    }

    pub fn set_hop_limit(&mut self, v: u8) {
        self.m()[field::HOP_LIMIT] = v;
    }

    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.m()[field::SRC..field::SRC + 16].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.m()[field::DST..field::DST + 16].copy_from_slice(&a.octets());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(self.buffer.as_ref().len());
        &mut self.m()[HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv6 header of a Linux SYN captured on lo (flow label 0x3b4d7, payload 40, hlim 64).
    const CAPTURED: [u8; 40] = [
        0x60, 0x03, 0xb4, 0xd7, 0x00, 0x28, 0x06, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ];

    #[test]
    fn parse_captured() {
        let mut v = CAPTURED.to_vec();
        v.extend_from_slice(&[0u8; 40]);
        let p = Ipv6Packet::new_checked(&v[..]).unwrap();
        assert_eq!(p.payload_len(), 40);
        assert_eq!(p.next_header(), NEXT_TCP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.upper_layer().unwrap().1.len(), 40);
        for n in 0..v.len() {
            assert!(Ipv6Packet::new_checked(&v[..n]).is_err(), "len {n}");
        }
        assert_eq!(Ipv6Packet::new_quoted(&v[..48]).unwrap().rest().len(), 8);
    }

    #[test]
    fn emit() {
        let mut b = [0u8; 40];
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        p.set_version();
        p.set_payload_len(40);
        p.set_next_header(NEXT_TCP);
        p.set_hop_limit(64);
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::LOCALHOST);
        let mut want = CAPTURED;
        want[1..4].copy_from_slice(&[0, 0, 0]);
        assert_eq!(b, want);
    }

    #[test]
    fn extension_headers() {
        // Hop-by-hop (8 bytes) then a first fragment (8 bytes) then TCP.
        let mut d = vec![44, 0, 1, 4, 0, 0, 0, 0];
        d.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0, 1]);
        d.extend_from_slice(&[0xaa; 20]);
        let (nh, up) = skip_extension_headers(0, &d).unwrap();
        assert_eq!(nh, 6);
        assert_eq!(up, &[0xaa; 20][..]);
        // Non-first fragment.
        d[10] = 0x01;
        assert!(skip_extension_headers(0, &d).is_none());
        // Truncated and looping chains.
        assert!(skip_extension_headers(0, &[0, 200]).is_none());
        assert!(skip_extension_headers(0, &[0u8; 64]).is_none());
        assert_eq!(skip_extension_headers(17, &[]), Some((17, &[][..])));
    }
}
