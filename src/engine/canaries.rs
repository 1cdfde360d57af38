//! Canaries in the running engine: a keyed-random 1 in 64 of the probes is followed by a
//! re-probe of a pair that has already answered. Its answer is a duplicate for the tracker
//! (never a second result); the book (`rate::CanaryBook`) tells it apart and counts it
//! answered, or lost after the wait. The share that goes unanswered measures loss on the
//! path at the rate of the moment, however few of the targets are alive.
//!
//! Shared by the send threads (which draw and send canaries), the receiver (which offers
//! answered pairs and reports canary answers) and the pilot (which expires the silent ones
//! and steers the rate). The book is behind a mutex: it is touched once per canary and once
//! per duplicate reply, not per probe.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::rate::{CanaryBook, CanaryTotals};

/// One canary per this many probes: 1.6 % of the probes (under `--rate auto` more at low
/// rates if the tuning asks, `rate::canary_every`).
pub const EVERY: u64 = 64;
/// Answered pairs kept to draw canaries from (the latest, overwritten in turn).
const POOL: usize = 4096;

/// splitmix64: a keyed draw that the targets cannot predict.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the receiver and the book hand to the pilot.
#[derive(Default)]
pub struct Reported {
    /// Decided canaries since the pilot last looked: (send time ns, answered).
    pub outcomes: Vec<(u64, bool)>,
    /// Round-trip times of answered canaries, microseconds.
    pub rtts: Vec<u64>,
}

struct Inner {
    book: CanaryBook,
    reported: Reported,
}

pub struct Canaries {
    key: u64,
    /// Pair index + 1 of recently answered pairs; 0 = empty.
    pool: Vec<AtomicU64>,
    offered: AtomicU64,
    inner: Mutex<Inner>,
    /// RTTs of ordinary answers, summed, for the pilot's wait (microseconds, count).
    rtt_sum: AtomicU64,
    rtt_n: AtomicU64,
}

/// One canary per how many probes, for a run sending `rate` probes/s over all its threads
/// (`None`: unpaced), with at least `min_per_sec` canaries a second when `--rate auto`
/// steers it.
pub fn every(rate: Option<f64>, min_per_sec: Option<f64>) -> u64 {
    match (rate, min_per_sec) {
        (Some(r), Some(m)) => crate::rate::canary_every(r, m),
        _ => EVERY,
    }
}

impl Canaries {
    pub fn new(key: u64) -> Self {
        Canaries {
            key,
            pool: (0..POOL).map(|_| AtomicU64::new(0)).collect(),
            offered: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                book: CanaryBook::default(),
                reported: Reported::default(),
            }),
            rtt_sum: AtomicU64::new(0),
            rtt_n: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking thread ends the run anyway; the counts stay usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the `n`-th probe of send thread `thread` is followed by a canary, one in
    /// `every` on average.
    pub fn draw(&self, thread: u64, n: u64, every: u64) -> bool {
        mix(self.key ^ mix(thread << 48 ^ n)).is_multiple_of(every.max(1))
    }

    /// The receiver: pair `idx` answered for the first time; it may serve as a canary.
    pub fn offer(&self, idx: u64) {
        // In turn: the pool holds the latest answers (the oldest overwritten first).
        let i = self.offered.fetch_add(1, Ordering::Relaxed);
        self.pool[(i % POOL as u64) as usize].store(idx + 1, Ordering::Relaxed);
    }

    /// A send thread: a pair to re-probe now (its canary is booked as sent at `now_ns`), or
    /// `None` when none has answered yet or the one drawn already has a canary out.
    pub fn pick(&self, thread: u64, n: u64, now_ns: u64) -> Option<u64> {
        let filled = self.offered.load(Ordering::Relaxed).min(POOL as u64);
        if filled == 0 {
            return None;
        }
        let r = mix(self.key.rotate_left(17) ^ mix(thread << 48 ^ n));
        let idx = self.pool[(r % filled) as usize]
            .load(Ordering::Relaxed)
            .checked_sub(1)?;
        self.lock().book.send(idx, now_ns).then_some(idx)
    }

    /// The receiver: a duplicate reply from pair `idx` at `now_ns`. True if it answered a
    /// canary.
    pub fn answer(&self, idx: u64, now_ns: u64) -> bool {
        let mut g = self.lock();
        let Some(sent) = g.book.answer(idx) else {
            return false;
        };
        g.reported.outcomes.push((sent, true));
        g.reported.rtts.push(now_ns.saturating_sub(sent) / 1000);
        true
    }

    /// The receiver: an ordinary answer's RTT.
    pub fn rtt(&self, us: u64) {
        self.rtt_sum.fetch_add(us, Ordering::Relaxed);
        self.rtt_n.fetch_add(1, Ordering::Relaxed);
    }

    /// The pilot: canaries silent for `wait_ns` are lost; everything decided since the last
    /// call, and the mean ordinary RTT since then (microseconds).
    pub fn collect(&self, now_ns: u64, wait_ns: u64) -> (Reported, Option<u64>) {
        let mut g = self.lock();
        let Inner { book, reported } = &mut *g;
        book.expire(now_ns, wait_ns, |sent| {
            reported.outcomes.push((sent, false))
        });
        let out = std::mem::take(reported);
        drop(g);
        let n = self.rtt_n.swap(0, Ordering::Relaxed);
        let sum = self.rtt_sum.swap(0, Ordering::Relaxed);
        (out, (n > 0).then(|| sum / n))
    }

    pub fn totals(&self) -> CanaryTotals {
        self.lock().book.totals()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_one_in_64_is_drawn() {
        let c = Canaries::new(42);
        let n = (0..640_000).filter(|&i| c.draw(i % 3, i, EVERY)).count();
        assert!((9_000..11_000).contains(&n), "{n}");
    }

    #[test]
    fn auto_at_low_rates_draws_more_often() {
        assert_eq!(every(Some(1e6), Some(100.0)), EVERY);
        assert_eq!(every(Some(1e6), None), EVERY);
        assert_eq!(every(None, Some(100.0)), EVERY);
        assert_eq!(every(Some(3_200.0), Some(100.0)), 32, "100 a second");
        assert_eq!(every(Some(500.0), Some(100.0)), 16, "never over 1 in 16");
        assert_eq!(
            every(Some(500.0), None),
            EVERY,
            "a fixed rate only estimates"
        );
        assert_eq!(
            every(Some(500.0), Some(0.0)),
            EVERY,
            "scan's tuning: no floor"
        );
    }

    #[test]
    fn only_answered_pairs_fly_and_their_answers_are_told_apart() {
        let c = Canaries::new(7);
        assert_eq!(c.pick(0, 0, 0), None, "nothing answered yet");
        c.offer(5);
        let idx = (0..100).find_map(|n| c.pick(0, n, 1_000)).unwrap();
        assert_eq!(idx, 5);
        assert_eq!(
            c.pick(0, 1_000, 1_000),
            None,
            "one canary per pair in flight"
        );
        assert!(!c.answer(6, 2_000), "not a canary");
        assert!(c.answer(5, 3_000_000));
        assert!(
            !c.answer(5, 3_000_001),
            "a second reply is a plain duplicate"
        );
        c.rtt(100);
        c.rtt(300);
        let (r, rtt) = c.collect(10_000_000, 1_000_000);
        assert_eq!(r.outcomes, vec![(1_000, true)]);
        assert_eq!(r.rtts, vec![2_999]);
        assert_eq!(rtt, Some(200));
        // Sent again, never answered: lost after the wait.
        assert!((0..100).any(|n| c.pick(0, n, 20_000_000).is_some()));
        let (r, _) = c.collect(20_500_000, 1_000_000);
        assert!(r.outcomes.is_empty());
        let (r, rtt) = c.collect(21_000_000, 1_000_000);
        assert_eq!(r.outcomes, vec![(20_000_000, false)]);
        assert_eq!(rtt, None);
        let t = c.totals();
        assert_eq!((t.sent, t.answered, t.lost), (2, 1, 1));
    }
}
