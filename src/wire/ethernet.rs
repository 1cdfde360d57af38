//! Ethernet II frames, with at most one 802.1Q VLAN tag when parsing.

use super::{Error, be16};

pub const HEADER_LEN: usize = 14;
pub const VLAN_TAG_LEN: usize = 4;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;

mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: usize = 12;
    /// Inner ethertype when the outer one is 802.1Q.
    pub const VLAN_ETHERTYPE: usize = 16;
}

/// A zero-copy view of an ethernet frame.
#[derive(Clone, Copy, Debug)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wrap without checks: only for buffers we built ourselves (at least HEADER_LEN bytes).
    pub fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wrap bytes from the network: the header (and the VLAN tag, if any) must fit.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let f = EthernetFrame { buffer };
        let have = f.buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have,
            });
        }
        let need = f.header_len();
        if have < need {
            return Err(Error::Truncated { need, have });
        }
        Ok(f)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn outer_ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    fn tagged(&self) -> bool {
        self.outer_ethertype() == ETHERTYPE_VLAN
    }

    /// 14, or 18 with a VLAN tag.
    pub fn header_len(&self) -> usize {
        if self.tagged() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    pub fn dst_addr(&self) -> [u8; 6] {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        a
    }

    pub fn src_addr(&self) -> [u8; 6] {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        a
    }

    /// The payload's ethertype, looking through one VLAN tag.
    pub fn ethertype(&self) -> u16 {
        if self.tagged() {
            be16(self.buffer.as_ref(), field::VLAN_ETHERTYPE)
        } else {
            self.outer_ethertype()
        }
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst_addr(&mut self, a: [u8; 6]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }

    pub fn set_src_addr(&mut self, a: [u8; 6]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }

    /// Sets the outer ethertype (synprobe never sends tagged frames).
    pub fn set_ethertype(&mut self, t: u16) {
        self.buffer.as_mut()[field::ETHERTYPE..field::ETHERTYPE + 2]
            .copy_from_slice(&t.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged() {
        let mut b = [0u8; 20];
        let mut f = EthernetFrame::new_unchecked(&mut b[..]);
        f.set_dst_addr([1, 2, 3, 4, 5, 6]);
        f.set_src_addr([7, 8, 9, 10, 11, 12]);
        f.set_ethertype(ETHERTYPE_IPV4);
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.dst_addr(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(f.src_addr(), [7, 8, 9, 10, 11, 12]);
        assert_eq!(f.ethertype(), ETHERTYPE_IPV4);
        assert_eq!(f.payload().len(), 6);
    }

    #[test]
    fn vlan_tag_is_looked_through() {
        let mut b = [0u8; 18];
        b[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        b[14..16].copy_from_slice(&0x0064u16.to_be_bytes());
        b[16..18].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        let f = EthernetFrame::new_checked(&b[..]).unwrap();
        assert_eq!(f.ethertype(), ETHERTYPE_IPV6);
        assert_eq!(f.header_len(), 18);
        assert!(f.payload().is_empty());
        assert_eq!(
            EthernetFrame::new_checked(&b[..17]).unwrap_err(),
            Error::Truncated { need: 18, have: 17 }
        );
    }

    #[test]
    fn truncated() {
        for n in 0..HEADER_LEN {
            assert!(EthernetFrame::new_checked(&[0u8; 14][..n]).is_err());
        }
    }
}
