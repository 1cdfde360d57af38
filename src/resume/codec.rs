//! The resume file's bytes: a magic line, the format version, then the fields as LEB128
//! varints and length-prefixed strings, the written pairs as runs of walk positions (each
//! its length and its gap from the last, ended by a zero length: a few bytes a run,
//! whatever the pair space, and a handful of runs when everyone answered), and a SipHash of
//! everything before it, so a damaged or cut file is refused rather than half-believed.
//! The runs are streamed to the file as the tracker yields them (`Encoder`), so writing a
//! checkpoint holds no copy of the set. Decoding is checked: a hostile file gives an error,
//! never a panic or an allocation larger than the file.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::io::{self, Write};
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

fn hasher() -> SipHasher13 {
    SipHasher13::new_with_keys(0x6368_6563_6b73_756d, 0x7265_7375_6d65_2d31)
}

fn checksum(b: &[u8]) -> u64 {
    let mut h = hasher();
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

/// Writes a resume file to `out`: the head from a state (whose own runs are not written),
/// then each run as it comes, then the end and the checksum.
pub struct Encoder<O: Write> {
    out: O,
    hash: SipHasher13,
    /// End of the last run: the next must start at or after it.
    end: u64,
    buf: W,
}

impl<O: Write> Encoder<O> {
    pub fn new(out: O, s: &ResumeState) -> io::Result<Self> {
        let mut e = Encoder {
            out,
            hash: hasher(),
            end: 0,
            buf: W(Vec::with_capacity(256)),
        };
        head(&mut e.buf, s);
        e.flush_buf()?;
        Ok(e)
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.hash.write(&self.buf.0);
        self.out.write_all(&self.buf.0)?;
        self.buf.0.clear();
        Ok(())
    }

    /// Keys `first..first + len` have their verdicts written. Runs come ascending and apart.
    pub fn run(&mut self, first: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        if first < self.end {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "resume runs out of order",
            ));
        }
        self.buf.var(len);
        self.buf.var(first - self.end);
        self.end = first.saturating_add(len);
        if self.buf.0.len() >= 4096 {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// The end mark and the checksum; returns the writer.
    pub fn finish(mut self) -> io::Result<O> {
        self.buf.var(0);
        self.flush_buf()?;
        self.out.write_all(&self.hash.finish().to_le_bytes())?;
        Ok(self.out)
    }
}

/// Everything before the runs.
fn head(w: &mut W, s: &ResumeState) {
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
    w.str(&sc.rate);
    w.str(&sc.wait);
    w.str(&sc.rate_min);
    w.var(s.at.round.into());
    w.var(s.at.walked.len() as u64);
    for &k in &s.at.walked {
        w.var(k);
    }
    w.var(s.output_len);
}

/// A whole state's bytes (its runs from `s.runs`).
pub fn encode(s: &ResumeState) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new(), s).expect("writing to memory");
    for &(first, len) in &s.runs {
        // Runs out of order are the caller's bug; they are skipped rather than written.
        let _ = e.run(first, len);
    }
    e.finish().expect("writing to memory")
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
    let rate = r.str()?;
    let wait = r.str()?;
    let rate_min = r.str()?;
    let round = r.u32()?;
    let n = r.count()?;
    let walked = (0..n).map(|_| r.var()).collect::<Result<Vec<_>, _>>()?;
    let output_len = r.var()?;
    // Each run takes at least two bytes, so the list grows no larger than the file.
    let mut runs = Vec::new();
    let mut end = 0u64;
    loop {
        let len = r.var()?;
        if len == 0 {
            break;
        }
        let first = end.checked_add(r.var()?).ok_or(DecodeError::Damaged)?;
        end = first.checked_add(len).ok_or(DecodeError::Damaged)?;
        runs.push((first, len));
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
            rate,
            wait,
            rate_min,
        },
        at: Position { round, walked },
        output_len,
        runs,
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
        empty.runs.clear();
        empty.scan.output = None;
        empty.scan.header = false;
        assert_eq!(decode(&encode(&empty)).unwrap(), empty);
    }

    #[test]
    fn its_size_follows_the_runs_not_the_answers_nor_the_pair_space() {
        let mut s = sample();
        s.runs = (0..10_000u64).map(|i| (i * 3, 1)).collect();
        let small = encode(&s).len();
        // The same number of runs spread over a pair space 2^30 times larger.
        s.runs = (0..10_000u64).map(|i| (i << 32, 1)).collect();
        let sparse = encode(&s).len();
        assert!(small < 2 * 10_000 + 200, "{small}");
        assert!(sparse < 6 * 10_000 + 200, "{sparse}");
        // Everyone answered 2^32 pairs: one run.
        s.runs = vec![(0, 1 << 32)];
        assert!(encode(&s).len() < 200);
    }

    #[test]
    fn streamed_in_pieces_it_is_the_same_file() {
        // The checksum is fed piece by piece (the head, then 4 KiB of runs at a time).
        let mut s = sample();
        s.runs = (0..50_000u64).map(|i| (i * 7, 1 + i % 5)).collect();
        let b = encode(&s);
        assert!(b.len() > 3 * 4096);
        assert_eq!(decode(&b).unwrap(), s);
        let mut e = Encoder::new(Vec::new(), &s).unwrap();
        e.run(10, 5).unwrap();
        assert!(e.run(12, 1).is_err(), "overlapping runs are refused");
    }

    #[test]
    fn other_versions_garbage_and_every_cut_are_refused_without_panic() {
        let b = encode(&sample());
        let mut v1 = b.clone();
        v1[MAGIC.len()] = 1; // the format before runs
        assert_eq!(decode(&v1), Err(DecodeError::Version(1)));
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
