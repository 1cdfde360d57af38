//! The canaries in flight: re-probes of pairs that have already answered. An answer to one
//! within the wait is proof that the path carried a probe and its reply at the rate of the
//! moment; silence past the wait is loss, whether the targets are alive or not (they were).
//!
//! Keyed by pair index: a reply names its pair, and one pair has at most one canary out.
//! The oldest are expired first, so the queue stays in send order.

use std::collections::{HashMap, VecDeque};

/// Canaries in flight: at most this many; a canary past it is not sent (a stalled receiver
/// must not grow the book without bound).
const MAX_OUT: usize = 1 << 16;

/// Probes per canary under `--rate auto` at the most: 1.6 % of the probes...
pub const EVERY_AUTO: u64 = 64;
/// ...but, when the tuning asks for a floor of canaries a second
/// (`Tuning::min_canaries_per_sec`), up to one in this many.
pub const EVERY_LOW_RATE: u64 = 16;

/// One canary per how many probes, for a run at `rate` probes/s steered by the controller,
/// with at least `min_per_sec` canaries a second (0: one in 64 whatever the rate).
pub fn canary_every(rate: f64, min_per_sec: f64) -> u64 {
    if min_per_sec <= 0.0 {
        return EVERY_AUTO;
    }
    ((rate / min_per_sec) as u64).clamp(EVERY_LOW_RATE, EVERY_AUTO)
}

/// What the canaries have said so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CanaryTotals {
    pub sent: u64,
    pub answered: u64,
    pub lost: u64,
}

impl CanaryTotals {
    /// Share of the decided canaries that went unanswered; `None` before any was decided.
    pub fn loss(&self) -> Option<f64> {
        let decided = self.answered + self.lost;
        (decided > 0).then(|| self.lost as f64 / decided as f64)
    }
}

#[derive(Debug, Default)]
pub struct CanaryBook {
    /// Pair index -> send time (ns).
    out: HashMap<u64, u64>,
    /// (send time, pair) in send order; entries already answered are skipped on expiry.
    order: VecDeque<(u64, u64)>,
    totals: CanaryTotals,
}

impl CanaryBook {
    /// A canary to pair `idx` leaves at `now_ns`; false (not to be sent) when one to the same
    /// pair is still out or the book is full.
    pub fn send(&mut self, idx: u64, now_ns: u64) -> bool {
        if self.out.len() >= MAX_OUT || self.out.contains_key(&idx) {
            return false;
        }
        self.out.insert(idx, now_ns);
        self.order.push_back((now_ns, idx));
        self.totals.sent += 1;
        true
    }

    /// Whether pair `idx` has a canary out (a reply to it is the canary's answer).
    pub fn is_out(&self, idx: u64) -> bool {
        self.out.contains_key(&idx)
    }

    /// A reply from pair `idx`: its canary's send time, if one was out (then it is answered).
    pub fn answer(&mut self, idx: u64) -> Option<u64> {
        let sent = self.out.remove(&idx)?;
        self.totals.answered += 1;
        Some(sent)
    }

    /// Canaries sent before `now_ns - wait_ns` and still unanswered are lost: each one's send
    /// time goes to `lost`.
    pub fn expire(&mut self, now_ns: u64, wait_ns: u64, mut lost: impl FnMut(u64)) {
        let horizon = now_ns.saturating_sub(wait_ns);
        while let Some(&(sent, idx)) = self.order.front() {
            if sent > horizon {
                break;
            }
            self.order.pop_front();
            // Answered ones left the map; a later canary to the same pair has a later time.
            if self.out.get(&idx) == Some(&sent) {
                self.out.remove(&idx);
                self.totals.lost += 1;
                lost(sent);
            }
        }
    }

    pub fn totals(&self) -> CanaryTotals {
        self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_lost_and_one_per_pair() {
        let mut b = CanaryBook::default();
        assert!(b.send(7, 100));
        assert!(!b.send(7, 150), "one canary per pair in flight");
        assert!(b.send(8, 200));
        assert!(b.is_out(7));
        assert_eq!(b.answer(7), Some(100));
        assert_eq!(b.answer(7), None, "a second reply is no second answer");
        assert_eq!(b.answer(9), None, "never a canary");
        let mut lost = Vec::new();
        b.expire(1_000, 850, |t| lost.push(t));
        assert!(lost.is_empty(), "8 was sent at 200, after the horizon 150");
        b.expire(1_000, 800, |t| lost.push(t));
        assert_eq!(lost, vec![200]);
        assert!(b.send(7, 2_000), "7 may fly again once answered");
        assert_eq!(
            b.totals(),
            CanaryTotals {
                sent: 3,
                answered: 1,
                lost: 1
            }
        );
        assert_eq!(b.totals().loss(), Some(0.5));
        assert_eq!(CanaryTotals::default().loss(), None);
    }

    #[test]
    fn at_low_rates_more_probes_are_canaries() {
        assert_eq!(canary_every(1e6, 100.0), EVERY_AUTO);
        assert_eq!(canary_every(3_200.0, 100.0), 32, "100 a second");
        assert_eq!(
            canary_every(500.0, 100.0),
            EVERY_LOW_RATE,
            "never over 1 in 16"
        );
        assert_eq!(canary_every(0.0, 100.0), EVERY_LOW_RATE);
        assert_eq!(canary_every(500.0, 0.0), EVERY_AUTO, "no floor");
    }

    #[test]
    fn a_full_book_refuses_more() {
        let mut b = CanaryBook::default();
        for i in 0..MAX_OUT as u64 {
            assert!(b.send(i, 0));
        }
        assert!(!b.send(u64::MAX, 0));
        b.expire(10, 5, |_| {});
        assert!(b.send(u64::MAX, 10));
    }
}
