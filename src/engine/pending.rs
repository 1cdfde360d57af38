//! The checks `watch` has sent and not yet seen answered, each with its deadline and the
//! fleet id of its target: an answer ends its check, and a check still pending at its
//! deadline ends in silence. Keyed by pair index (what an answer names); time is the
//! caller's milliseconds, so this is tested without a clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

// Fx, not SipHash: the keys are pair indices of our own schedule (an answer is looked up
// only after it proved itself), so nobody outside can choose them to collide, and this
// map is on watch's per-check path.
use rustc_hash::FxHashMap;

#[derive(Debug, Default)]
pub struct Pending {
    /// Pair index -> (deadline, fleet id).
    deadline: FxHashMap<u64, (u64, u32)>,
    /// (deadline, pair) in deadline order. An entry whose pair was answered, or started again
    /// with another deadline, is stale: skipped when it surfaces.
    heap: BinaryHeap<Reverse<(u64, u64)>>,
}

impl Pending {
    /// A check of `idx` (the fleet's target `id`) starts, to end by `deadline_ms`. Returns
    /// false when one of `idx` was still pending: the caller ends that one first (see
    /// [`Pending::answer`]).
    pub fn start(&mut self, idx: u64, id: u32, deadline_ms: u64) -> bool {
        self.heap.push(Reverse((deadline_ms, idx)));
        self.deadline.insert(idx, (deadline_ms, id)).is_none()
    }

    /// An answer for `idx`: the fleet id of the check it ends, or `None` when none was
    /// pending (a duplicate, or an answer after the deadline): such an answer counts for
    /// nothing.
    pub fn answer(&mut self, idx: u64) -> Option<u32> {
        self.deadline.remove(&idx).map(|(_, id)| id)
    }

    #[cfg(test)]
    pub fn is_pending(&self, idx: u64) -> bool {
        self.deadline.contains_key(&idx)
    }

    /// The next check whose deadline is at or before `now_ms`, as (pair index, fleet id); it
    /// is no longer pending. Call until `None`.
    pub fn expire(&mut self, now_ms: u64) -> Option<(u64, u32)> {
        while let Some(&Reverse((due, idx))) = self.heap.peek() {
            if due > now_ms {
                return None;
            }
            self.heap.pop();
            if let Some(&(d, id)) = self.deadline.get(&idx)
                && d == due
            {
                self.deadline.remove(&idx);
                return Some((idx, id));
            }
        }
        None
    }

    /// The earliest deadline of a pending check, to sleep until.
    pub fn next_deadline_ms(&mut self) -> Option<u64> {
        while let Some(&Reverse((due, idx))) = self.heap.peek() {
            if self.deadline.get(&idx).is_some_and(|&(d, _)| d == due) {
                return Some(due);
            }
            self.heap.pop();
        }
        None
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.deadline.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.deadline.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_before_the_deadline_ends_the_check() {
        let mut p = Pending::default();
        assert!(p.start(7, 70, 500));
        assert!(p.start(8, 80, 600));
        assert_eq!(p.next_deadline_ms(), Some(500));
        assert_eq!(p.answer(7), Some(70));
        assert_eq!(p.answer(7), None, "a duplicate ends nothing");
        assert_eq!(p.next_deadline_ms(), Some(600), "the answered one is gone");
        assert_eq!(p.expire(599), None);
        assert_eq!(p.expire(600), Some((8, 80)));
        assert_eq!(
            p.answer(8),
            None,
            "too late: the check already ended in silence"
        );
        assert!(p.is_empty());
        assert_eq!(p.next_deadline_ms(), None);
    }

    #[test]
    fn silent_checks_expire_in_deadline_order() {
        let mut p = Pending::default();
        for (idx, d) in [(1, 300), (2, 100), (3, 200), (4, 900)] {
            p.start(idx, idx as u32 + 10, d);
        }
        let gone: Vec<(u64, u32)> = std::iter::from_fn(|| p.expire(300)).collect();
        assert_eq!(gone, vec![(2, 12), (3, 13), (1, 11)]);
        assert_eq!(p.len(), 1);
        assert!(p.is_pending(4));
    }

    #[test]
    fn a_pair_checked_again_keeps_only_its_new_deadline() {
        let mut p = Pending::default();
        assert!(p.start(5, 1, 100));
        assert_eq!(p.answer(5), Some(1));
        assert!(
            p.start(5, 1, 1_100),
            "the earlier check ended: a fresh start"
        );
        assert_eq!(p.expire(100), None, "the old deadline is stale");
        assert_eq!(p.next_deadline_ms(), Some(1_100));
        assert!(!p.start(5, 1, 2_100), "still pending: the caller is told");
        assert_eq!(p.expire(1_100), None);
        assert_eq!(p.expire(2_100), Some((5, 1)));
    }
}
