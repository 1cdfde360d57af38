//! Pairs set aside while their on-link target's MAC is asked for, each looked at again after
//! a delay that doubles every time (1 ms, 2 ms, ... 64 ms): an answer on a LAN takes well
//! under a millisecond to arrive, but up to a ring block's timeout to reach us.
//!
//! One FIFO per delay: within one, entries come due in the order they went in, so the
//! earliest due pair is always at the front of one of the seven queues, and a pair waiting
//! long never holds up one that waits short. Time is an argument (ns of the run).

use std::collections::{BTreeMap, VecDeque};

/// Delays `FIRST_NS << level` for `level` in `0..LEVELS`.
const LEVELS: usize = 7;
const FIRST_NS: u64 = 1_000_000;

#[derive(Default)]
pub struct Aside {
    /// (pair, due, walk step it was reached at).
    queues: [VecDeque<(u64, u64, u64)>; LEVELS],
    len: usize,
    /// The walk steps of the pairs waiting, counted: the first of them is where a resumed
    /// run must start again, since those pairs were reached but not sent.
    walks: BTreeMap<u64, u32>,
}

impl Aside {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Set pair `idx` (reached at walk step `walk`) aside at `now_ns`, for the delay of
    /// `level` (clamped to the longest).
    pub fn push(&mut self, idx: u64, walk: u64, level: usize, now_ns: u64) {
        let level = level.min(LEVELS - 1);
        self.queues[level].push_back((idx, now_ns + (FIRST_NS << level), walk));
        self.len += 1;
        *self.walks.entry(walk).or_insert(0) += 1;
    }

    /// The earliest walk step among the pairs waiting.
    pub fn first_walk(&self) -> Option<u64> {
        self.walks.keys().next().copied()
    }

    /// When the next pair comes due, if any is waiting.
    pub fn next_due(&self) -> Option<u64> {
        self.queues
            .iter()
            .filter_map(|q| q.front().map(|e| e.1))
            .min()
    }

    /// A pair due by `now_ns`, its walk step, and the level its next delay should have.
    pub fn pop_due(&mut self, now_ns: u64) -> Option<(u64, u64, usize)> {
        let (level, _) = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(l, q)| q.front().map(|e| (l, e.1)))
            .filter(|&(_, due)| due <= now_ns)
            .min_by_key(|&(_, due)| due)?;
        let (idx, _, walk) = self.queues[level].pop_front()?;
        self.len -= 1;
        if let Some(n) = self.walks.get_mut(&walk) {
            *n -= 1;
            if *n == 0 {
                self.walks.remove(&walk);
            }
        }
        Some((idx, walk, level + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_long_wait_never_holds_up_a_short_one() {
        let mut a = Aside::default();
        a.push(1, 10, 6, 0); // due at 64 ms
        a.push(2, 20, 0, 0); // due at 1 ms
        a.push(3, 30, 0, 5 * MS); // due at 6 ms
        assert_eq!(a.len(), 3);
        assert_eq!(a.first_walk(), Some(10));
        assert_eq!(a.next_due(), Some(MS));
        assert_eq!(a.pop_due(MS - 1), None);
        assert_eq!(a.pop_due(MS), Some((2, 20, 1)));
        assert_eq!(a.pop_due(10 * MS), Some((3, 30, 1)));
        assert_eq!(a.pop_due(10 * MS), None);
        assert_eq!(a.next_due(), Some(64 * MS));
        assert_eq!(a.pop_due(64 * MS), Some((1, 10, 7)));
        assert!(a.is_empty());
        assert_eq!(a.first_walk(), None);
        assert_eq!(a.next_due(), None);
    }

    #[test]
    fn delays_double_up_to_the_longest() {
        let mut a = Aside::default();
        let (mut now, mut level) = (0, 0);
        let mut waits = Vec::new();
        for _ in 0..9 {
            a.push(7, 0, level, now);
            let due = a.next_due().unwrap();
            waits.push((due - now) / MS);
            now = due;
            level = a.pop_due(now).unwrap().2;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
    }
}
