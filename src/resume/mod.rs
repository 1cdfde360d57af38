//! What an interrupted scan leaves behind to be continued: the scan it was (enough to build
//! it again and to recognise it), where its rounds stood, and which pairs have a verdict in
//! its output already. Pure: bytes in, bytes out, and the rules of what a resumed run does
//! next. The file is written by `cli::scan` (atomically), read back by `scan --resume`.
//!
//! Where the rounds stood is each send thread's position in its slice of the permutation
//! in the current round: every pair of the round before it has been sent, and listened
//! for at least `--wait`. Pairs after it are probed on resume; pairs before it that have
//! no verdict yet wait for the next retry round, exactly as in an uninterrupted run.

mod codec;
mod settle;

pub use codec::{DecodeError, Encoder, MAGIC, decode, encode};
pub use settle::Settle;

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// Bumped whenever the layout or the meaning of a field changes.
pub const FORMAT_VERSION: u32 = 2;

/// The scan a resume file belongs to, as the user gave it (rebuilt on resume).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanSpec {
    /// The synprobe version that wrote the file (the permutation may change between them).
    pub version: String,
    pub targets: Vec<String>,
    pub ports: String,
    /// `--exclude` specs plus the lines of `--exclude-file`, as read then.
    pub excludes: Vec<String>,
    /// 0 guard, 1 include, 2 exclude all (`target::reserved::Reserved`).
    pub reserved: u8,
    pub seed: u64,
    /// 0-based (index, count).
    pub shard: (u64, u64),
    pub retries: u32,
    pub send_threads: u32,
    pub states: String,
    pub format: String,
    pub output: Option<String>,
    pub header: bool,
    /// `--rate` and `--wait` as the last run had them: a resumed run keeps them unless
    /// given again (not part of the fingerprint: changing them changes no result set).
    pub rate: String,
    pub wait: String,
    /// `--rate-min` (for `--rate auto`), kept the same way; empty when not given.
    pub rate_min: String,
}

/// Where the rounds stood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// 0 = the first pass, 1.. = retry rounds.
    pub round: u32,
    /// Per send thread: how many steps of its slice are behind it in `round`.
    pub walked: Vec<u64>,
}

impl Position {
    pub fn start(threads: usize) -> Position {
        Position {
            round: 0,
            walked: vec![0; threads],
        }
    }

    /// Whether `self` is at or past `other` (a later round, or the same one and no thread
    /// behind). Positions of one run only move forward.
    pub fn at_or_past(&self, other: &Position) -> bool {
        self.round > other.round
            || (self.round == other.round
                && self.walked.len() == other.walked.len()
                && self.walked.iter().zip(&other.walked).all(|(a, b)| a >= b))
    }
}

/// One resume file's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeState {
    /// Of the scan as resolved when it was written ([`fingerprint`]).
    pub fingerprint: u64,
    pub scan: ScanSpec,
    pub at: Position,
    /// Bytes of the output file that hold exactly the verdicts of `answered` (and the
    /// header lines); anything after was written after this state and is cut on resume.
    pub output_len: u64,
    /// The pairs with a verdict in the output, as runs (first, length) of their positions
    /// in this shard's walk (the keys of `Tracker::for_walk`), ascending and apart.
    pub runs: Vec<(u64, u64)>,
}

/// What identifies a scan: the version, the resolved addresses, ports and seed (the scan id
/// `merge` uses), the excludes as given, the shard and the retries.
pub fn fingerprint(version: &str, scan_id: &str, spec: &ScanSpec) -> u64 {
    let mut h = SipHasher13::new_with_keys(0x7265_7375_6d65_2d31, 0x7379_6e70_726f_6265);
    let mut put = |b: &[u8]| {
        h.write_u64(b.len() as u64);
        h.write(b);
    };
    put(b"synprobe resume");
    put(&FORMAT_VERSION.to_le_bytes());
    put(version.as_bytes());
    put(scan_id.as_bytes());
    for e in &spec.excludes {
        put(e.as_bytes());
    }
    put(&[0xff]);
    put(&spec.shard.0.to_le_bytes());
    put(&spec.shard.1.to_le_bytes());
    put(&spec.retries.to_le_bytes());
    h.finish()
}

/// What the command line of a resumed run said besides `--resume` (None: not given).
#[derive(Clone, Debug, Default)]
pub struct Given {
    pub targets: Option<Vec<String>>,
    pub ports: Option<String>,
    pub excludes: Option<Vec<String>>,
    pub seed: Option<u64>,
    pub shard: Option<(u64, u64)>,
    pub retries: Option<u32>,
    pub send_threads: Option<u32>,
    pub states: Option<String>,
    pub format: Option<String>,
    pub header: bool,
}

impl ResumeState {
    /// Refuse a file this build cannot continue, or a command line that contradicts it:
    /// the message names what differs.
    pub fn check(&self, version: &str, given: &Given) -> Result<(), String> {
        if self.scan.version != version {
            return Err(format!(
                "written by synprobe {}, this is {version}: a resume file is only continued by the version that wrote it",
                self.scan.version
            ));
        }
        let s = &self.scan;
        let differs = |what: &str, file: String, cli: String| {
            Err(format!(
                "it is a scan of {what} {file}, not {cli}: run it without {what} or with the same"
            ))
        };
        if let Some(t) = &given.targets
            && t != &s.targets
        {
            return differs("targets", s.targets.join(" "), t.join(" "));
        }
        if let Some(p) = &given.ports
            && p != &s.ports
        {
            return differs("ports", s.ports.clone(), p.clone());
        }
        if let Some(e) = &given.excludes
            && e != &s.excludes
        {
            return differs("excludes", s.excludes.join(","), e.join(","));
        }
        if let Some(seed) = given.seed
            && seed != s.seed
        {
            return differs("--seed", s.seed.to_string(), seed.to_string());
        }
        if let Some(sh) = given.shard
            && sh != s.shard
        {
            let show = |(i, n): (u64, u64)| format!("{}/{n}", i + 1);
            return differs("--shard", show(s.shard), show(sh));
        }
        if let Some(r) = given.retries
            && r != s.retries
        {
            return differs("--retries", s.retries.to_string(), r.to_string());
        }
        if let Some(n) = given.send_threads
            && n != s.send_threads
        {
            return differs("--send-threads", s.send_threads.to_string(), n.to_string());
        }
        if let Some(st) = &given.states
            && st != &s.states
        {
            return differs("--states", s.states.clone(), st.clone());
        }
        if let Some(f) = &given.format
            && f != &s.format
        {
            return differs("--format", s.format.clone(), f.clone());
        }
        if given.header && !s.header {
            return Err("the scan was run without --header; a resumed run writes no header".into());
        }
        if self.at.walked.len() != s.send_threads as usize || s.send_threads == 0 {
            return Err("damaged: its positions do not match its send threads".into());
        }
        if self.at.round > s.retries {
            return Err("damaged: its round is past the scan's last".into());
        }
        Ok(())
    }

    /// Refuse a file whose scan, built again now, is not the one it was written for (an
    /// exclude file or a host name that changed since): `now` is [`fingerprint`] of it.
    pub fn check_fingerprint(&self, now: u64) -> Result<(), String> {
        if now != self.fingerprint {
            return Err(
                "its scan is not the one these targets, ports, excludes, seed, shard and retries make now (an exclude file or a host name changed?)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether every run lies inside a walk of `keys` positions (the shard's slice).
    pub fn runs_within(&self, keys: u64) -> bool {
        self.runs
            .last()
            .is_none_or(|&(first, len)| first.saturating_add(len) <= keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> ResumeState {
        ResumeState {
            fingerprint: 0xfeed,
            scan: ScanSpec {
                version: "0.1.0".into(),
                targets: vec!["198.18.0.0/16".into()],
                ports: "80-82".into(),
                excludes: vec!["198.18.7.0/24".into()],
                reserved: 0,
                seed: 7,
                shard: (1, 4),
                retries: 2,
                send_threads: 2,
                states: "all".into(),
                format: "jsonl".into(),
                output: Some("/tmp/out.jsonl".into()),
                header: true,
                rate: "20k".into(),
                wait: "2s".into(),
                rate_min: "1000".into(),
            },
            at: Position {
                round: 1,
                walked: vec![1000, 998],
            },
            output_len: 123_456,
            runs: vec![(0, 3), (1000, 1), (65_535, 2), (1 << 40, 1)],
        }
    }

    #[test]
    fn a_matching_command_line_is_accepted_and_each_contradiction_is_named() {
        let s = sample();
        assert!(s.check("0.1.0", &Given::default()).is_ok());
        let same = Given {
            targets: Some(vec!["198.18.0.0/16".into()]),
            ports: Some("80-82".into()),
            seed: Some(7),
            shard: Some((1, 4)),
            retries: Some(2),
            ..Given::default()
        };
        assert!(s.check("0.1.0", &same).is_ok());
        let e = s.check("0.2.0", &Given::default()).unwrap_err();
        assert!(e.contains("0.1.0") && e.contains("0.2.0"), "{e}");
        let cases: [(Given, &str); 5] = [
            (
                Given {
                    ports: Some("80".into()),
                    ..Given::default()
                },
                "ports 80-82, not 80",
            ),
            (
                Given {
                    targets: Some(vec!["198.18.0.0/20".into()]),
                    ..Given::default()
                },
                "targets",
            ),
            (
                Given {
                    shard: Some((0, 4)),
                    ..Given::default()
                },
                "--shard 2/4, not 1/4",
            ),
            (
                Given {
                    seed: Some(8),
                    ..Given::default()
                },
                "--seed",
            ),
            (
                Given {
                    retries: Some(1),
                    ..Given::default()
                },
                "--retries",
            ),
        ];
        for (g, want) in cases {
            let e = s.check("0.1.0", &g).unwrap_err();
            assert!(e.contains(want), "{e} lacks {want}");
        }
    }

    #[test]
    fn inconsistent_positions_are_damage() {
        let mut s = sample();
        s.at.walked.push(0);
        assert!(s.check("0.1.0", &Given::default()).is_err());
        let mut s = sample();
        s.at.round = 3;
        assert!(s.check("0.1.0", &Given::default()).is_err());
    }

    #[test]
    fn the_fingerprint_covers_shard_retries_excludes_and_the_scan_id() {
        let s = sample().scan;
        let base = fingerprint("0.1.0", "abc", &s);
        assert_eq!(base, fingerprint("0.1.0", "abc", &s), "stable");
        assert_ne!(base, fingerprint("0.1.1", "abc", &s));
        assert_ne!(base, fingerprint("0.1.0", "abd", &s));
        let mut t = s.clone();
        t.shard = (2, 4);
        assert_ne!(base, fingerprint("0.1.0", "abc", &t));
        let mut t = s.clone();
        t.retries = 1;
        assert_ne!(base, fingerprint("0.1.0", "abc", &t));
        let mut t = s.clone();
        t.excludes.clear();
        assert_ne!(base, fingerprint("0.1.0", "abc", &t));
        // What does not change the results does not change the fingerprint.
        let mut t = s.clone();
        t.output = None;
        t.send_threads = 1;
        assert_eq!(base, fingerprint("0.1.0", "abc", &t));
        let st = sample();
        assert!(st.check_fingerprint(0xfeed).is_ok());
        assert!(st.check_fingerprint(0xbeef).is_err());
    }

    #[test]
    fn positions_order_by_round_then_every_thread() {
        let a = Position {
            round: 0,
            walked: vec![5, 5],
        };
        let b = Position {
            round: 0,
            walked: vec![6, 5],
        };
        let c = Position {
            round: 1,
            walked: vec![0, 0],
        };
        assert!(b.at_or_past(&a) && !a.at_or_past(&b));
        assert!(c.at_or_past(&b) && !b.at_or_past(&c));
        assert!(a.at_or_past(&a));
    }
}
