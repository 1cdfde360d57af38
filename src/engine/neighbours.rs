//! The MACs of on-link targets, learnt during the run: each such target is its own next hop,
//! so before its first SYN the link is asked who has it (ARP / NDP), as the kernel would.
//! The asking rides on the probes: a send thread that reaches a pair of an unknown target
//! asks once and sets the pair aside, and sends it when the answer is in; the receiver
//! records answers. A target that does not answer `max_asks` requests, `interval_ms` apart,
//! is absent: its pairs are reported `no-neighbour`, never probed blindly.
//!
//! One 64-bit word a target (the MAC, the asks so far, the state) and the time of the last
//! ask: 12 bytes an on-link target. Time comes in as an argument (milliseconds of the run).

use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

const MAC_MASK: u64 = (1 << 48) - 1;
const ASKS_SHIFT: u32 = 48;
const ASKS_MASK: u64 = 0xf << ASKS_SHIFT;
const STATE_SHIFT: u32 = 52;
const UNKNOWN: u64 = 0;
const ASKED: u64 = 1;
const KNOWN: u64 = 2;
const ABSENT: u64 = 3;

/// What a send thread does with a pair of an on-link target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Send the SYN to this MAC.
    Use([u8; 6]),
    /// Send a request for the target now, and set the pair aside.
    Ask,
    /// A request is out: set the pair aside.
    Wait,
    /// Nobody answered: never probe it.
    Absent,
}

pub struct Neighbours {
    words: Vec<AtomicU64>,
    asked_ms: Vec<AtomicU32>,
    /// (targets, first word) of each on-link span, in target order.
    spans: Vec<(Range<u64>, usize)>,
    max_asks: u64,
    interval_ms: u32,
}

fn state(w: u64) -> u64 {
    w >> STATE_SHIFT
}

fn asks(w: u64) -> u64 {
    (w & ASKS_MASK) >> ASKS_SHIFT
}

fn mac_of(w: u64) -> [u8; 6] {
    let b = (w & MAC_MASK).to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl Neighbours {
    /// A table for the on-link target ranges `spans` (sorted, disjoint). `max_asks` is
    /// clamped to 1..=15.
    pub fn new(
        spans: impl IntoIterator<Item = Range<u64>>,
        max_asks: u8,
        interval_ms: u32,
    ) -> Self {
        let mut n = 0usize;
        let spans: Vec<(Range<u64>, usize)> = spans
            .into_iter()
            .map(|r| {
                let base = n;
                n += (r.end - r.start) as usize;
                (r, base)
            })
            .collect();
        Neighbours {
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
            asked_ms: (0..n).map(|_| AtomicU32::new(0)).collect(),
            spans,
            max_asks: u64::from(max_asks.clamp(1, 15)),
            interval_ms,
        }
    }

    /// Bytes a table for `targets` on-link targets takes.
    pub fn bytes_for(targets: u64) -> u64 {
        targets.saturating_mul(12)
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    fn slot(&self, t: u64) -> Option<usize> {
        let i = self.spans.partition_point(|(r, _)| r.end <= t);
        let (r, base) = self.spans.get(i)?;
        r.contains(&t).then(|| base + (t - r.start) as usize)
    }

    /// Decide for a pair of target `t` at `now_ms`, moving the target's state on (the first
    /// caller to see it unknown, or its last request overdue, is the one told to ask).
    pub fn next(&self, t: u64, now_ms: u32) -> Next {
        let Some(i) = self.slot(t) else {
            return Next::Absent;
        };
        let word = &self.words[i];
        loop {
            let w = word.load(Ordering::Acquire);
            let (new, then) = match state(w) {
                KNOWN => return Next::Use(mac_of(w)),
                ABSENT => return Next::Absent,
                UNKNOWN => ((ASKED << STATE_SHIFT) | (1 << ASKS_SHIFT), Next::Ask),
                _ => {
                    let since = now_ms.wrapping_sub(self.asked_ms[i].load(Ordering::Relaxed));
                    if since < self.interval_ms {
                        return Next::Wait;
                    }
                    if asks(w) >= self.max_asks {
                        (ABSENT << STATE_SHIFT, Next::Absent)
                    } else {
                        (w + (1 << ASKS_SHIFT), Next::Ask)
                    }
                }
            };
            if word
                .compare_exchange(w, new, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                if then == Next::Ask {
                    self.asked_ms[i].store(now_ms, Ordering::Relaxed);
                }
                return then;
            }
        }
    }

    /// Target `t` answered with `mac`. An answer after the target was given up is dropped:
    /// its pairs were never probed and are reported as absent.
    pub fn learn(&self, t: u64, mac: [u8; 6]) -> bool {
        let Some(i) = self.slot(t) else {
            return false;
        };
        let m = mac.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
        let known = (KNOWN << STATE_SHIFT) | m;
        self.words[i]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (state(w) != ABSENT).then_some(known)
            })
            .is_ok()
    }

    /// Give a target that never answered another chance: the next pair of it asks again.
    /// `watch` calls this before each new check, so a host that comes up on the link is
    /// found; a scan never does (its absent targets stay reported `no-neighbour`).
    pub fn forget_absent(&self, t: u64) {
        if let Some(i) = self.slot(t) {
            let _ = self.words[i].fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (state(w) == ABSENT).then_some(UNKNOWN)
            });
        }
    }

    /// Target `t`'s MAC, once known.
    pub fn mac(&self, t: u64) -> Option<[u8; 6]> {
        let w = self.words[self.slot(t)?].load(Ordering::Acquire);
        (state(w) == KNOWN).then(|| mac_of(w))
    }

    /// Whether `t` is an on-link target that never answered (given up, or still unknown when
    /// the run ended).
    pub fn absent(&self, t: u64) -> bool {
        self.slot(t)
            .is_some_and(|i| state(self.words[i].load(Ordering::Acquire)) != KNOWN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0x12, 0x34];

    #[test]
    fn ask_once_then_wait_then_use() {
        let n = Neighbours::new([10..20, 30..31], 2, 500);
        assert_eq!(n.next(10, 0), Next::Ask);
        assert_eq!(n.next(10, 1), Next::Wait, "one request in flight");
        assert_eq!(n.next(10, 499), Next::Wait);
        assert!(n.learn(10, MAC));
        assert_eq!(n.next(10, 2), Next::Use(MAC));
        assert_eq!(n.mac(10), Some(MAC));
        assert!(!n.absent(10));
        // Outside the on-link spans there is nothing to ask.
        assert_eq!(n.next(25, 0), Next::Absent);
        assert!(!n.learn(25, MAC));
        assert_eq!(n.mac(25), None);
        assert_eq!(n.next(30, 0), Next::Ask);
    }

    #[test]
    fn silent_targets_are_asked_again_then_given_up() {
        let n = Neighbours::new(std::iter::once(0..4), 2, 500);
        assert_eq!(n.next(3, 1000), Next::Ask);
        assert_eq!(n.next(3, 1499), Next::Wait);
        assert_eq!(
            n.next(3, 1500),
            Next::Ask,
            "second request after the interval"
        );
        assert_eq!(n.next(3, 1999), Next::Wait);
        assert_eq!(n.next(3, 2000), Next::Absent, "two requests unanswered");
        assert_eq!(n.next(3, 9000), Next::Absent);
        assert!(n.absent(3));
        assert!(!n.learn(3, MAC), "too late: its pairs were never probed");
        assert!(n.absent(3));
        // Never asked at all (the run ended first): absent too.
        assert!(n.absent(0));
    }

    #[test]
    fn a_forgotten_absent_target_is_asked_again_and_can_be_learnt() {
        let n = Neighbours::new(std::iter::once(0..2), 1, 500);
        assert_eq!(n.next(1, 0), Next::Ask);
        assert_eq!(n.next(1, 500), Next::Absent);
        n.forget_absent(1);
        assert_eq!(n.next(1, 600), Next::Ask, "a new chance");
        assert!(n.learn(1, MAC));
        n.forget_absent(1); // known: kept
        assert_eq!(n.next(1, 700), Next::Use(MAC));
        n.forget_absent(7); // not on the link: nothing happens
    }

    #[test]
    fn the_clock_may_wrap() {
        let n = Neighbours::new(std::iter::once(0..1), 3, 100);
        assert_eq!(n.next(0, u32::MAX - 10), Next::Ask);
        assert_eq!(n.next(0, 50), Next::Wait);
        assert_eq!(n.next(0, 89), Next::Ask);
    }

    #[test]
    fn one_asker_among_threads() {
        let n = Neighbours::new(std::iter::once(0..1000), 1, 1000);
        let asks = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for t in 0..1000 {
                        if n.next(t, 5) == Next::Ask {
                            asks.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(
            asks.load(Ordering::Relaxed),
            1000,
            "each target asked exactly once"
        );
        assert_eq!(Neighbours::bytes_for(65536), 786_432);
    }
}
