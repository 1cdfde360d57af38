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
}
