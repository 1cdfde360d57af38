//! The internet checksum (RFC 1071), its pseudo-headers, and general RFC 1624 incremental
//! updates. `SynTemplate::fill` does not call the latter: it inlines the same arithmetic for
//! all its fields at once, with every old value known to be zero.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Add `data` to a running one's-complement sum, as big-endian 16-bit words (an odd last byte
/// is padded with zero). The sum is kept unfolded in a u64, so it cannot overflow for any
/// packet size.
#[inline]
pub fn add_bytes(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Fold a running sum into 16 bits with end-around carry.
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The internet checksum of `data` (the field to store: complement of the folded sum).
pub fn internet(data: &[u8]) -> u16 {
    !fold(add_bytes(0, data))
}

/// Running sum of the IPv4 pseudo-header (RFC 793).
pub fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: u16) -> u64 {
    let mut acc = add_bytes(0, &src.octets());
    acc = add_bytes(acc, &dst.octets());
    acc + u64::from(proto) + u64::from(len)
}

/// Running sum of the IPv6 pseudo-header (RFC 8200 section 8.1).
pub fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: u32) -> u64 {
    let mut acc = add_bytes(0, &src.octets());
    acc = add_bytes(acc, &dst.octets());
    acc + u64::from(len >> 16) + u64::from(len & 0xffff) + u64::from(next_header)
}

/// Checksum of an IPv4 header whose checksum field is zero.
pub fn ipv4_header(header: &[u8]) -> u16 {
    internet(header)
}

/// TCP checksum over IPv4 of `segment` (header + payload, checksum field zero).
pub fn tcp_v4(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    // Segment length fits u16: an IPv4 packet's total length does.
    let acc = pseudo_v4(src, dst, 6, segment.len() as u16);
    !fold(add_bytes(acc, segment))
}

/// TCP checksum over IPv6 of `segment` (header + payload, checksum field zero).
pub fn tcp_v6(src: Ipv6Addr, dst: Ipv6Addr, segment: &[u8]) -> u16 {
    let acc = pseudo_v6(src, dst, 6, segment.len() as u32);
    !fold(add_bytes(acc, segment))
}

/// RFC 1624 eqn. 3: the checksum after one 16-bit word changes from `old` to `new`,
/// HC' = ~(~HC + ~m + m').
#[inline]
pub fn update16(hc: u16, old: u16, new: u16) -> u16 {
    let acc = u64::from(!hc) + u64::from(!old) + u64::from(new);
    !fold(acc)
}

/// RFC 1624 update for a 32-bit field (two words).
#[inline]
pub fn update32(hc: u16, old: u32, new: u32) -> u16 {
    let acc = u64::from(!hc)
        + u64::from(!(old >> 16) as u16)
        + u64::from(!(old as u16))
        + u64::from(new >> 16)
        + u64::from(new & 0xffff);
    !fold(acc)
}

/// RFC 1624 update for a byte range: `old` and `new` are the field before and after (same
/// even length, starting at an even offset in the summed data).
pub fn update_bytes(hc: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut acc = u64::from(!hc);
    for w in old.chunks(2) {
        let v = u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)]);
        acc += u64::from(!v);
    }
    !fold(add_bytes(acc, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add_bytes(0, &data)), 0xddf2);
        assert_eq!(internet(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(
            internet(&[0x12, 0x34, 0x56]),
            internet(&[0x12, 0x34, 0x56, 0x00])
        );
    }

    #[test]
    fn captured_ipv4_header_checksum() {
        // Real Linux SYN header (lo): checksum field bbe8.
        let mut h = [
            0x45, 0x00, 0x00, 0x3c, 0x80, 0xd1, 0x40, 0x00, 0x40, 0x06, 0xbb, 0xe8, 0x7f, 0x00,
            0x00, 0x01, 0x7f, 0x00, 0x00, 0x01,
        ];
        assert_eq!(internet(&h), 0, "a header with its checksum sums to zero");
        h[10] = 0;
        h[11] = 0;
        assert_eq!(ipv4_header(&h), 0xbbe8);
    }

    #[test]
    fn pseudo_header_matches_linux_partial_checksum() {
        // With checksum offload, Linux leaves the folded pseudo-header sum in the TCP checksum
        // field: lo captures hold fe30 (v4, len 40) and 0030 (v6 ::1, len 40).
        let v4 = Ipv4Addr::LOCALHOST;
        assert_eq!(fold(pseudo_v4(v4, v4, 6, 40)), 0xfe30);
        let v6 = Ipv6Addr::LOCALHOST;
        assert_eq!(fold(pseudo_v6(v6, v6, 6, 40)), 0x0030);
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..10_000 {
            let mut data = [0u8; 20];
            for b in data.iter_mut() {
                *b = next() as u8;
            }
            let hc = internet(&data);
            let off = (next() % 9) as usize * 2;
            let old16 = u16::from_be_bytes([data[off], data[off + 1]]);
            let new16 = next() as u16;
            let mut d2 = data;
            d2[off..off + 2].copy_from_slice(&new16.to_be_bytes());
            assert_eq!(update16(hc, old16, new16), internet(&d2));
            let old32 =
                u32::from_be_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]);
            let new32 = next() as u32;
            let mut d3 = data;
            d3[off..off + 4].copy_from_slice(&new32.to_be_bytes());
            assert_eq!(update32(hc, old32, new32), internet(&d3));
            assert_eq!(
                update_bytes(hc, &data[off..off + 4], &new32.to_be_bytes()),
                internet(&d3)
            );
        }
    }
}
