//! ICMP (RFC 792) and ICMPv6 (RFC 4443) error messages. Destination unreachable has the same
//! layout in both: type, code, checksum, 4 unused bytes, then the quoted packet.

use std::net::Ipv6Addr;

use super::{Error, be16, checksum};

pub const HEADER_LEN: usize = 8;
pub const ICMPV4_DEST_UNREACHABLE: u8 = 3;
pub const ICMPV6_DEST_UNREACHABLE: u8 = 1;

pub(crate) mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
}

/// A zero-copy view of an ICMP or ICMPv6 error message.
#[derive(Clone, Copy, Debug)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wrap a message from the network: the 8-byte header must fit.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have,
            });
        }
        Ok(IcmpPacket { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The quoted packet (IP header + at least 8 bytes of the transport header, when the
    /// sender played by the rules).
    pub fn quoted(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM..field::CHECKSUM + 2]
            .copy_from_slice(&v.to_be_bytes());
    }

    pub fn quoted_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// ICMPv4 checksum: over the message alone.
    pub fn fill_checksum_v4(&mut self) {
        self.set_checksum(0);
        let c = checksum::internet(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// ICMPv6 checksum: over a pseudo-header and the message.
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let acc = checksum::pseudo_v6(src, dst, 58, b.len() as u32);
        let c = !checksum::fold(checksum::add_bytes(acc, b));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_quote() {
        let mut b = [0u8; 36];
        let mut p = IcmpPacket::new_unchecked(&mut b[..]);
        p.set_msg_type(ICMPV4_DEST_UNREACHABLE);
        p.set_code(13);
        p.quoted_mut()[0] = 0x45;
        p.fill_checksum_v4();
        assert_eq!(checksum::internet(&b), 0);
        let p = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((p.msg_type(), p.code()), (3, 13));
        assert_eq!(p.quoted().len(), 28);
        assert_eq!(p.quoted()[0], 0x45);
        for n in 0..HEADER_LEN {
            assert!(IcmpPacket::new_checked(&b[..n]).is_err());
        }
    }
}
