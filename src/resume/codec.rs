//! The resume file's bytes: a magic line, the format version, then the fields as LEB128
//! varints and length-prefixed strings, the answered pairs as ascending deltas (a few bytes
//! per answer, whatever the pair space), and a SipHash of everything before it, so a
//! damaged or cut file is refused rather than half-believed. Decoding is checked: a hostile
//! file gives an error, never a panic or a huge allocation.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use thiserror::Error;

use super::{FORMAT_VERSION, Position, ResumeState, ScanSpec};

/// The file's first bytes: says what it is to `head` and to us.
pub const MAGIC: &[u8; 16] = b"synprobe resume\n";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("not a synprobe resume file")]
    Magic,
    #[error("resume file format {0}, this synprobe reads format {FORMAT_VERSION}")]
    Version(u32),
    #[error("damaged resume file (cut short or altered)")]
    Damaged,
}

fn checksum(b: &[u8]) -> u64 {
    let mut h = SipHasher13::new_with_keys(0x6368_6563_6b73_756d, 0x7265_7375_6d65_2d31);
    h.write(b);
    h.finish()
}

struct W(Vec<u8>);

impl W {
    fn var(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn str(&mut self, s: &str) {
        self.var(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn strs(&mut self, v: &[String]) {
        self.var(v.len() as u64);
        for s in v {
            self.str(s);
        }
    }
}

struct R<'a>(&'a [u8]);

impl R<'_> {
    fn var(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or(DecodeError::Damaged)?;
            self.0 = rest;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::Damaged);
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Damaged)
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.var()?).map_err(|_| DecodeError::Damaged)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        u8::try_from(self.var()?).map_err(|_| DecodeError::Damaged)
    }
    /// A count of items that take at least one byte each: never more than the bytes left.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.var()?;
        if n > self.0.len() as u64 {
            return Err(DecodeError::Damaged);
        }
        Ok(n as usize)
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.count()?;
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8(s.to_vec()).map_err(|_| DecodeError::Damaged)
    }
    fn strs(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.count()?;
        (0..n).map(|_| self.str()).collect()
    }
}

pub fn encode(s: &ResumeState) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(64 + 3 * s.answered.len()));
    w.0.extend_from_slice(MAGIC);
    w.0.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let sc = &s.scan;
    w.str(&sc.version);
    w.0.extend_from_slice(&s.fingerprint.to_le_bytes());
    w.strs(&sc.targets);
    w.str(&sc.ports);
    w.strs(&sc.excludes);
    w.var(sc.reserved.into());
    w.0.extend_from_slice(&sc.seed.to_le_bytes());
    w.var(sc.shard.0);
    w.var(sc.shard.1);
    w.var(sc.retries.into());
    w.var(sc.send_threads.into());
    w.str(&sc.states);
    w.str(&sc.format);
    match &sc.output {
        Some(o) => {
            w.var(1);
            w.str(o);
        }
        None => w.var(0),
    }
    w.var(u64::from(sc.header));
    w.var(s.at.round.into());
    w.var(s.at.walked.len() as u64);
    for &k in &s.at.walked {
        w.var(k);
    }
    w.var(s.output_len);
    w.var(s.answered.len() as u64);
    let mut prev = 0u64;
    for (i, &a) in s.answered.iter().enumerate() {
        // Ascending: the first as it is, then the gaps.
        w.var(if i == 0 { a } else { a - prev });
        prev = a;
    }
    let sum = checksum(&w.0);
    w.0.extend_from_slice(&sum.to_le_bytes());
    w.0
}

fn u64_le(r: &mut R) -> Result<u64, DecodeError> {
    if r.0.len() < 8 {
        return Err(DecodeError::Damaged);
    }
    let (b, rest) = r.0.split_at(8);
    r.0 = rest;
    Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

pub fn decode(b: &[u8]) -> Result<ResumeState, DecodeError> {
    if !b.starts_with(MAGIC) {
        return Err(DecodeError::Magic);
    }
    let rest = &b[MAGIC.len()..];
    if rest.len() < 4 {
        return Err(DecodeError::Damaged);
    }
    let version = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(DecodeError::Version(version));
    }
    if b.len() < MAGIC.len() + 4 + 8 {
        return Err(DecodeError::Damaged);
    }
    let (body, sum) = b.split_at(b.len() - 8);
    if checksum(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
        return Err(DecodeError::Damaged);
    }
    let mut r = R(&body[MAGIC.len() + 4..]);
    let version = r.str()?;
    let fingerprint = u64_le(&mut r)?;
    let targets = r.strs()?;
    let ports = r.str()?;
    let excludes = r.strs()?;
    let reserved = r.u8()?;
    let seed = u64_le(&mut r)?;
    let shard = (r.var()?, r.var()?);
    let retries = r.u32()?;
    let send_threads = r.u32()?;
    let states = r.str()?;
    let format = r.str()?;
    let output = match r.u8()? {
        0 => None,
        1 => Some(r.str()?),
        _ => return Err(DecodeError::Damaged),
    };
    let header = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(DecodeError::Damaged),
    };
    let round = r.u32()?;
    let n = r.count()?;
    let walked = (0..n).map(|_| r.var()).collect::<Result<Vec<_>, _>>()?;
    let output_len = r.var()?;
    let n = r.count()?;
    let mut answered = Vec::with_capacity(n);
    let mut prev = 0u64;
    for i in 0..n {
        let d = r.var()?;
        let a = if i == 0 {
            d
        } else if d == 0 {
            return Err(DecodeError::Damaged); // not ascending
        } else {
            prev.checked_add(d).ok_or(DecodeError::Damaged)?
        };
        answered.push(a);
        prev = a;
    }
    if !r.0.is_empty() || shard.1 == 0 || shard.0 >= shard.1 {
        return Err(DecodeError::Damaged);
    }
    Ok(ResumeState {
        fingerprint,
        scan: ScanSpec {
            version,
            targets,
            ports,
            excludes,
            reserved,
            seed,
            shard,
            retries,
            send_threads,
            states,
            format,
            output,
            header,
        },
        at: Position { round, walked },
        output_len,
        answered,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn round_trips_and_starts_with_the_magic() {
        let s = sample();
        let b = encode(&s);
        assert!(b.starts_with(b"synprobe resume\n"));
        assert_eq!(decode(&b).unwrap(), s);
        let mut empty = sample();
        empty.answered.clear();
        empty.scan.output = None;
        empty.scan.header = false;
        assert_eq!(decode(&encode(&empty)).unwrap(), empty);
    }

    #[test]
    fn its_size_follows_the_answers_not_the_pair_space() {
        let mut s = sample();
        s.answered = (0..10_000u64).map(|i| i * 3).collect();
        let small = encode(&s).len();
        // The same number of answers spread over a pair space 2^30 times larger.
        s.answered = (0..10_000u64).map(|i| i << 32).collect();
        let sparse = encode(&s).len();
        assert!(small < 10_000 + 200, "{small}");
        assert!(sparse < 5 * 10_000 + 200, "{sparse}");
    }

    #[test]
    fn other_versions_garbage_and_every_cut_are_refused_without_panic() {
        let b = encode(&sample());
        let mut v2 = b.clone();
        v2[MAGIC.len()] = 2;
        assert_eq!(decode(&v2), Err(DecodeError::Version(2)));
        assert_eq!(decode(b"hello"), Err(DecodeError::Magic));
        for cut in 0..b.len() {
            assert!(decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        for i in MAGIC.len() + 4..b.len() {
            let mut x = b.clone();
            x[i] ^= 0x40;
            assert!(decode(&x).is_err(), "flip at {i}");
        }
        // A body that passes the checksum but lies about its counts.
        let mut body = MAGIC.to_vec();
        body.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        let sum = checksum(&body);
        body.extend_from_slice(&sum.to_le_bytes());
        assert_eq!(decode(&body), Err(DecodeError::Damaged));
    }
}
