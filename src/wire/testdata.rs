//! Frames captured with tcpdump on lo (Linux 6.x, link type EN10MB: zero MACs). With
//! checksum offload, lo leaves the folded pseudo-header sum in the TCP checksum field of
//! locally generated segments (fe30 for 127.0.0.1 -> 127.0.0.1, 0030 for ::1 -> ::1); the
//! IPv4 header checksums are final.

/// connect() to a closed port: 127.0.0.1:55366 -> 127.0.0.1:47999, seq 1863324546, IP id
/// 0x80d1, mss 65495, sackOK, TS val 4241581052 ecr 0, nop, wscale 10.
pub const SYN_V4: &str = "
    0000 0000 0000 0000 0000 0000 0800 4500
    003c 80d1 4000 4006 bbe8 7f00 0001 7f00
    0001 d846 bb7f 6f10 1382 0000 0000 a002
    ffd7 fe30 0000 0204 ffd7 0402 080a fcd1
    63fc 0000 0000 0103 030a";

/// The kernel's answer: RST|ACK, ack 1863324547.
pub const RST_ACK_V4: &str = "
    0000 0000 0000 0000 0000 0000 0800 4500
    0028 0000 4000 4006 3cce 7f00 0001 7f00
    0001 bb7f d846 0000 0000 6f10 1383 5014
    0000 9b74 0000";

/// ::1.40546 -> ::1.47999, flow label 0x3b4d7, seq 2640604991, mss 65476, TS val 646732023.
pub const SYN_V6: &str = "
    0000 0000 0000 0000 0000 0000 86dd 6003
    b4d7 0028 0640 0000 0000 0000 0000 0000
    0000 0000 0001 0000 0000 0000 0000 0000
    0000 0000 0001 9e62 bb7f 9d64 6f3f 0000
    0000 a002 ffc4 0030 0000 0204 ffc4 0402
    080a 268c 58f7 0000 0000 0103 030a";

/// RST|ACK from ::1.47999, ack 2640604992 (checksum is the partial one).
pub const RST_ACK_V6: &str = "
    0000 0000 0000 0000 0000 0000 86dd 6006
    29f6 0014 0640 0000 0000 0000 0000 0000
    0000 0000 0001 0000 0000 0000 0000 0000
    0000 0000 0001 bb7f 9e62 0000 0000 9d64
    6f40 5014 0000 001c 0000";

/// SYN-ACK from a listener: 127.0.0.1:48000 -> 127.0.0.1:59224, seq 3434255877,
/// ack 588051391, win 65483, TS val 2886602990 ecr 3653003536.
pub const SYN_ACK_V4: &str = "
    0000 0000 0000 0000 0000 0000 0800 4500
    003c 0000 4000 4006 3cba 7f00 0001 7f00
    0001 bb80 e758 ccb2 9605 230c f3bf a012
    ffcb fe30 0000 0204 ffd7 0402 080a ac0e
    10ee d9bc 6910 0103 030a";

pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Xorshift64: deterministic randomness for tests, no crate needed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
