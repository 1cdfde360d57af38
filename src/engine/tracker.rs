//! Which pairs have been answered: one bit per pair, shared by the receiver (which sets it)
//! and the senders (which skip answered pairs on retry rounds). One bit per pair is the
//! whole per-pair memory of a scan.

use std::sync::atomic::{AtomicU64, Ordering};

pub struct Tracker {
    words: Vec<AtomicU64>,
}

impl Tracker {
    pub fn new(pairs: u64) -> Self {
        let n = pairs.div_ceil(64) as usize;
        Tracker {
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Mark `idx` answered; returns true if it already was.
    pub fn test_and_set(&self, idx: u64) -> bool {
        let bit = 1u64 << (idx % 64);
        match self.words.get((idx / 64) as usize) {
            Some(w) => w.fetch_or(bit, Ordering::Relaxed) & bit != 0,
            None => true,
        }
    }

    /// Forget that `idx` answered, so the answer to its next probe counts as a match, not a
    /// duplicate (`watch` checks the same pair again every interval).
    pub fn clear(&self, idx: u64) {
        if let Some(w) = self.words.get((idx / 64) as usize) {
            w.fetch_and(!(1u64 << (idx % 64)), Ordering::Relaxed);
        }
    }

    /// The set pair indices, ascending (what a resume file records).
    pub fn answered(&self) -> impl Iterator<Item = u64> + '_ {
        self.words.iter().enumerate().flat_map(|(i, w)| {
            let mut bits = w.load(Ordering::Relaxed);
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                Some(i as u64 * 64 + u64::from(b))
            })
        })
    }

    pub fn is_set(&self, idx: u64) -> bool {
        let bit = 1u64 << (idx % 64);
        self.words
            .get((idx / 64) as usize)
            .is_some_and(|w| w.load(Ordering::Relaxed) & bit != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_set_once() {
        let t = Tracker::new(130);
        assert!(!t.is_set(129));
        assert!(!t.test_and_set(129));
        assert!(t.test_and_set(129));
        assert!(t.is_set(129));
        assert!(!t.is_set(128));
        // Out of range counts as already answered so a forged index never reaches a sink.
        assert!(t.test_and_set(1000));
    }

    #[test]
    fn a_cleared_bit_matches_again_and_leaves_its_neighbours() {
        let t = Tracker::new(130);
        t.test_and_set(64);
        t.test_and_set(65);
        t.clear(64);
        assert!(!t.is_set(64));
        assert!(t.is_set(65));
        assert!(!t.test_and_set(64), "the next answer is a match");
        t.clear(1000); // out of range: nothing to clear, no panic
    }

    #[test]
    fn answered_lists_the_set_pairs_in_order() {
        let t = Tracker::new(300);
        for i in [299, 0, 63, 64, 130] {
            t.test_and_set(i);
        }
        assert_eq!(t.answered().collect::<Vec<_>>(), [0, 63, 64, 130, 299]);
    }
}
