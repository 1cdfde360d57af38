//! Stateless reply matching: a keyed hash of (source ip, destination ip, destination port)
//! becomes the SYN's sequence number and, when a range is in use, its source port.
//!
//! SipHash-1-3 keyed with a per-run secret: an off-path host cannot forge a reply that
//! matches without guessing 32 bits of sequence number, and the hash runs once per probe and
//! once per reply, so it hashes a stack buffer in one call and never allocates.

use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::net::IpAddr;

use siphasher::sip::SipHasher13;

use crate::permute::splitmix64;

/// The per-run secret. Replies that do not carry a cookie made with it are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieKey {
    pub k0: u64,
    pub k1: u64,
}

/// The source ports probes leave from: `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourcePorts {
    pub first: u16,
    pub last: u16,
}

impl SourcePorts {
    /// 61001-65535: outside Linux's default ephemeral range (32768-60999), so a probe never
    /// collides with a real local socket.
    pub const DEFAULT: SourcePorts = SourcePorts {
        first: 61001,
        last: 65535,
    };

    /// Parse `FIRST-LAST` (e.g. `61001-65535`) or a single port `P`; ports are 1-65535 and
    /// `FIRST <= LAST`.
    pub fn parse(spec: &str) -> Result<SourcePorts, String> {
        let spec = spec.trim();
        let port = |s: &str| -> Result<u16, String> {
            match s.trim().parse::<u16>() {
                Ok(0) | Err(_) => Err(format!(
                    "invalid source port {s:?} in {spec:?}: expected a number from 1 to 65535"
                )),
                Ok(p) => Ok(p),
            }
        };
        let (first, last) = match spec.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(spec)?;
                (p, p)
            }
        };
        if first > last {
            return Err(format!(
                "invalid source port range {spec:?}: {first} is greater than {last}"
            ));
        }
        Ok(SourcePorts { first, last })
    }

    /// Whether `port` is one probes may leave from.
    pub fn contains(&self, port: u16) -> bool {
        if self.first > self.last {
            port == self.first
        } else {
            (self.first..=self.last).contains(&port)
        }
    }

    /// How many ports the range holds; a range with `first > last` counts as just `first`.
    pub fn len(&self) -> u32 {
        if self.first > self.last {
            1
        } else {
            u32::from(self.last - self.first) + 1
        }
    }

    /// Never true: even a malformed range holds its first port.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Default for SourcePorts {
    fn default() -> Self {
        SourcePorts::DEFAULT
    }
}

/// What a probe to one (src, dst, dport) carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// The SYN's sequence number; a SYN-ACK or RST must acknowledge `seq + 1`.
    pub seq: u32,
    /// The source port the SYN leaves from.
    pub sport: u16,
}

impl CookieKey {
    /// A fresh key from the OS's random source. Falls back to hashing the time, the pid and
    /// std's randomly seeded hasher if /dev/urandom cannot be read; never panics.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
        if read.is_ok() {
            let (a, b) = bytes.split_at(8);
            let k0 = u64::from_le_bytes(a.try_into().unwrap_or([0; 8]));
            let k1 = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            return CookieKey { k0, k1 };
        }
        Self::fallback()
    }

    fn fallback() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let pid = std::process::id();
        // RandomState draws its own keys from the OS when it can, and differs per instance.
        let mut h0 = std::collections::hash_map::RandomState::new().build_hasher();
        h0.write_u128(nanos);
        h0.write_u32(pid);
        let mut h1 = std::collections::hash_map::RandomState::new().build_hasher();
        h1.write_u32(pid);
        h1.write_u128(nanos);
        h1.write_usize(&h0 as *const _ as usize);
        CookieKey {
            k0: h0.finish(),
            k1: h1.finish(),
        }
    }

    /// A deterministic key for tests. Not for real scans: a key anyone can derive lets
    /// anyone forge replies, so `--seed` (which fixes the probe order) must not set it.
    pub fn from_seed(seed: u64) -> Self {
        let mut state = seed;
        CookieKey {
            k0: splitmix64(&mut state),
            k1: splitmix64(&mut state),
        }
    }

    /// The hash behind the cookie. A leading tag byte tells which addresses are IPv6, so an
    /// IPv4 address and its IPv4-mapped IPv6 form give different cookies.
    #[inline]
    fn hash(&self, src: IpAddr, dst: IpAddr, dport: u16) -> u64 {
        let mut buf = [0u8; 1 + 16 + 16 + 2];
        let mut len = 1;
        let mut tag = 0u8;
        for (i, ip) in [src, dst].into_iter().enumerate() {
            match ip {
                IpAddr::V4(a) => {
                    buf[len..len + 4].copy_from_slice(&a.octets());
                    len += 4;
                }
                IpAddr::V6(a) => {
                    buf[len..len + 16].copy_from_slice(&a.octets());
                    len += 16;
                    tag |= 1 << i;
                }
            }
        }
        buf[0] = tag;
        buf[len..len + 2].copy_from_slice(&dport.to_be_bytes());
        len += 2;
        SipHasher13::new_with_keys(self.k0, self.k1).hash(&buf[..len])
    }

    pub fn cookie(&self, src: IpAddr, dst: IpAddr, dport: u16, ports: SourcePorts) -> Cookie {
        let h = self.hash(src, dst, dport);
        let span = ports.len() as u64;
        // The modulo bias is at most 65536 / 2^32: immaterial.
        let offset = ((h >> 32) % span) as u16;
        Cookie {
            seq: h as u32,
            sport: ports.first.wrapping_add(offset),
        }
    }

    /// Whether a reply belongs to a probe we sent from `src` to `dst:dport`: it arrived on
    /// `local_port` and echoes `echoed_seq`, the sequence number our SYN carried (a SYN-ACK's
    /// or RST's acknowledgement number minus one, or the sequence number quoted in an ICMP
    /// error). A reply that echoes nothing (a bare SYN, in a simultaneous open) fails here:
    /// it can be checked only by its port, with [`CookieKey::verify_port`], which a blind
    /// forger passes with probability `1 / ports.len()`.
    pub fn verify(
        &self,
        src: IpAddr,
        dst: IpAddr,
        dport: u16,
        ports: SourcePorts,
        local_port: u16,
        echoed_seq: Option<u32>,
    ) -> bool {
        let c = self.cookie(src, dst, dport, ports);
        local_port == c.sport && echoed_seq == Some(c.seq)
    }

    /// The weaker check for replies that echo no sequence number: the port alone.
    pub fn verify_port(
        &self,
        src: IpAddr,
        dst: IpAddr,
        dport: u16,
        ports: SourcePorts,
        local_port: u16,
    ) -> bool {
        self.cookie(src, dst, dport, ports).sport == local_port
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
    const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 19, 1, 2));

    #[test]
    fn round_trip_verifies() {
        let key = CookieKey::from_seed(1);
        let ports = SourcePorts::DEFAULT;
        for dport in [1u16, 22, 80, 443, 65535] {
            let c = key.cookie(SRC, DST, dport, ports);
            assert!(ports.contains(c.sport));
            assert!(key.verify(SRC, DST, dport, ports, c.sport, Some(c.seq)));
            assert!(key.verify_port(SRC, DST, dport, ports, c.sport));
        }
        let s6: IpAddr = "2001:db8::1".parse().unwrap();
        let d6: IpAddr = "2001:db8::2".parse().unwrap();
        let c = key.cookie(s6, d6, 443, ports);
        assert!(key.verify(s6, d6, 443, ports, c.sport, Some(c.seq)));
    }

    #[test]
    fn any_change_fails_verification() {
        let key = CookieKey::from_seed(2);
        let ports = SourcePorts::DEFAULT;
        let c = key.cookie(SRC, DST, 80, ports);
        let ok = |src, dst, dport, port, seq| key.verify(src, dst, dport, ports, port, seq);
        assert!(ok(SRC, DST, 80, c.sport, Some(c.seq)));
        assert!(!ok(v4(198, 18, 0, 2), DST, 80, c.sport, Some(c.seq)));
        assert!(!ok(SRC, v4(198, 19, 1, 3), 80, c.sport, Some(c.seq)));
        assert!(!ok(SRC, DST, 81, c.sport, Some(c.seq)));
        assert!(!ok(SRC, DST, 80, c.sport, Some(c.seq.wrapping_add(1))));
        assert!(!ok(SRC, DST, 80, c.sport, None));
        let other_port = if c.sport == 65535 { 61001 } else { c.sport + 1 };
        assert!(!ok(SRC, DST, 80, other_port, Some(c.seq)));
        let other_key = CookieKey::from_seed(3);
        assert!(!other_key.verify(SRC, DST, 80, ports, c.sport, Some(c.seq)));
    }

    #[test]
    fn ports_stay_in_range() {
        let key = CookieKey::from_seed(4);
        for ports in [
            SourcePorts::DEFAULT,
            SourcePorts {
                first: 1,
                last: 65535,
            },
            SourcePorts {
                first: 0,
                last: 65535,
            },
            SourcePorts {
                first: 40000,
                last: 40000,
            },
            SourcePorts {
                first: 65535,
                last: 65535,
            },
            SourcePorts {
                first: 1000,
                last: 1003,
            },
            SourcePorts {
                first: 500,
                last: 100,
            },
        ] {
            for i in 0..5000u32 {
                let dst = IpAddr::V4(Ipv4Addr::from(0xc612_0000 + i));
                let c = key.cookie(SRC, dst, (i % 1000) as u16, ports);
                assert!(ports.contains(c.sport), "{ports:?}: {}", c.sport);
            }
        }
        let single = SourcePorts {
            first: 500,
            last: 100,
        };
        assert_eq!(key.cookie(SRC, DST, 1, single).sport, 500);
    }

    #[test]
    fn ports_are_roughly_uniform() {
        let key = CookieKey::from_seed(9);
        let ports = SourcePorts {
            first: 50000,
            last: 50015,
        };
        let mut counts = [0u32; 16];
        let samples = 160_000u32;
        for i in 0..samples {
            let dst = IpAddr::V4(Ipv4Addr::from(0xc612_0000 + i));
            let c = key.cookie(SRC, dst, 443, ports);
            counts[(c.sport - ports.first) as usize] += 1;
        }
        // Expected 10 000 per bucket, standard deviation ~97: 5 % is over 5 sigma.
        for (i, &n) in counts.iter().enumerate() {
            assert!((9_500..=10_500).contains(&n), "bucket {i}: {n}");
        }
    }

    #[test]
    fn sequence_numbers_are_spread() {
        let key = CookieKey::from_seed(5);
        let mut high = 0u32;
        let samples = 10_000u32;
        for i in 0..samples {
            let c = key.cookie(SRC, DST, i as u16, SourcePorts::DEFAULT);
            high += c.seq >> 31;
        }
        assert!((4_700..=5_300).contains(&high), "{high}");
    }

    #[test]
    fn ipv4_and_mapped_ipv6_differ() {
        let key = CookieKey::from_seed(6);
        let ports = SourcePorts::DEFAULT;
        let m = |ip: IpAddr| match ip {
            IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
            v6 => v6,
        };
        let plain = key.cookie(SRC, DST, 80, ports);
        assert_ne!(plain, key.cookie(m(SRC), m(DST), 80, ports));
        assert_ne!(plain, key.cookie(m(SRC), DST, 80, ports));
        assert_ne!(plain, key.cookie(SRC, m(DST), 80, ports));
        assert_ne!(
            key.cookie(m(SRC), DST, 80, ports),
            key.cookie(SRC, m(DST), 80, ports)
        );
    }

    #[test]
    fn keys_are_deterministic_or_fresh() {
        assert_eq!(CookieKey::from_seed(7), CookieKey::from_seed(7));
        assert_ne!(CookieKey::from_seed(7), CookieKey::from_seed(8));
        assert_ne!(CookieKey::random(), CookieKey::random());
        assert_ne!(CookieKey::fallback(), CookieKey::fallback());
    }

    #[test]
    fn parse_source_ports() {
        assert_eq!(SourcePorts::parse("61001-65535"), Ok(SourcePorts::DEFAULT));
        assert_eq!(
            SourcePorts::parse("40000"),
            Ok(SourcePorts {
                first: 40000,
                last: 40000
            })
        );
        assert_eq!(
            SourcePorts::parse(" 1 - 2 "),
            Ok(SourcePorts { first: 1, last: 2 })
        );
        for bad in [
            "", "0", "65536", "x", "1-", "-5", "10-5", "1-2-3", "0-10", "1-70000",
        ] {
            let err = SourcePorts::parse(bad).unwrap_err();
            assert!(!err.contains('\n'), "{err}");
            assert!(err.contains(&format!("{:?}", bad.trim())), "{bad}: {err}");
        }
        let p = SourcePorts::parse("100-199").unwrap();
        assert_eq!(p.len(), 100);
        assert!(p.contains(100) && p.contains(199) && !p.contains(99) && !p.contains(200));
        assert_eq!(SourcePorts::DEFAULT.len(), 4535);
        assert_eq!(
            SourcePorts {
                first: 0,
                last: 65535
            }
            .len(),
            65536
        );
    }
}
