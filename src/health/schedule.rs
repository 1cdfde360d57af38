//! When each target is checked next: a min-heap of due times, so asking "who is due by
//! now" costs O(log n) per due target and nothing for the rest of a 100,000-target fleet.
//!
//! A target's due time can change after it was queued (a result puts it in transition and
//! the fast interval applies), and a heap cannot move an entry. So the schedule keeps each
//! id's current due time beside the heap, and an entry whose time no longer matches is
//! stale: skipped when it surfaces, and swept out when stale entries outnumber live ones.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::permute::splitmix64;

/// Marks an id that is not scheduled (removed, or popped and not yet set again).
const UNSCHEDULED: u64 = u64::MAX;

/// A check whose slot has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub id: u32,
    /// When the check was due; the next slot is counted from here, not from when it ran,
    /// so a late run does not shift the target's phase.
    pub due_ms: u64,
    /// It ran more than the lateness allowance after `due_ms`.
    pub late: bool,
}

/// Due times of ids `0..n` (the fleet's slab indices).
#[derive(Debug)]
pub struct Schedule {
    heap: BinaryHeap<Reverse<(u64, u32)>>,
    due: Vec<u64>,
    live: usize,
    late_after_ms: u64,
    late: u64,
}

impl Schedule {
    /// `late_after_ms`: a check run more than this after its slot counts as late.
    pub fn new(late_after_ms: u64) -> Self {
        Schedule {
            heap: BinaryHeap::new(),
            due: Vec::new(),
            live: 0,
            late_after_ms,
            late: 0,
        }
    }

    /// Schedules `id` at `due_ms`, replacing any time it had.
    pub fn set(&mut self, id: u32, due_ms: u64) {
        let i = id as usize;
        if i >= self.due.len() {
            self.due.resize(i + 1, UNSCHEDULED);
        }
        if self.due[i] == due_ms {
            return;
        }
        if self.due[i] == UNSCHEDULED {
            self.live += 1;
        }
        self.due[i] = due_ms;
        self.heap.push(Reverse((due_ms, id)));
        self.sweep_if_stale();
    }

    /// Takes `id` off the schedule (its heap entry goes stale).
    pub fn cancel(&mut self, id: u32) {
        if let Some(d) = self.due.get_mut(id as usize)
            && *d != UNSCHEDULED
        {
            *d = UNSCHEDULED;
            self.live -= 1;
        }
    }

    /// When `id` is due, if it is scheduled.
    pub fn due_ms(&self, id: u32) -> Option<u64> {
        self.due
            .get(id as usize)
            .copied()
            .filter(|&d| d != UNSCHEDULED)
    }

    /// The earliest slot due by `now_ms`, taken off the schedule (the caller sets the next
    /// one). Earlier slots come first; equal slots in id order.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<Slot> {
        while let Some(&Reverse((due_ms, id))) = self.heap.peek() {
            if due_ms > now_ms {
                return None;
            }
            self.heap.pop();
            if self.due[id as usize] != due_ms {
                continue; // stale
            }
            self.due[id as usize] = UNSCHEDULED;
            self.live -= 1;
            let late = now_ms - due_ms > self.late_after_ms;
            self.late += u64::from(late);
            return Some(Slot { id, due_ms, late });
        }
        None
    }

    /// The earliest due time, for the caller to sleep until.
    pub fn next_due_ms(&mut self) -> Option<u64> {
        while let Some(&Reverse((due_ms, id))) = self.heap.peek() {
            if self.due[id as usize] == due_ms {
                return Some(due_ms);
            }
            self.heap.pop();
        }
        None
    }

    /// Checks run late so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Ids scheduled.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Rebuilds the heap from the live due times once stale entries are the majority, so
    /// it stays within twice the fleet however often targets are rescheduled.
    fn sweep_if_stale(&mut self) {
        if self.heap.len() <= 2 * self.live + 64 {
            return;
        }
        self.heap = self
            .due
            .iter()
            .enumerate()
            .filter(|&(_, &d)| d != UNSCHEDULED)
            .map(|(id, &d)| Reverse((d, id as u32)))
            .collect();
    }
}

/// The offset, within one `period_ms`, of the first check of target `index` of `count`:
/// the period is cut into `count` equal shares (so the send rate is flat, as HAProxy's
/// spread-checks), and each target lands at a point of its own share chosen by `seed`, so
/// two watchers with different seeds do not probe a target in step. Offsets are distinct
/// whenever `count <= period_ms`, and ordered by index.
pub fn spread_offset(index: u64, count: u64, period_ms: u64, seed: u64) -> u64 {
    debug_assert!(index < count, "index {index} of {count}");
    let share = |i: u64| (u128::from(i) * u128::from(period_ms) / u128::from(count)) as u64;
    let (start, end) = (share(index), share(index + 1));
    if end <= start {
        return start;
    }
    let mut state = seed ^ index.wrapping_mul(0xd6e8_feb8_6659_fd93);
    start + splitmix64(&mut state) % (end - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_due_order_and_only_when_due() {
        let mut s = Schedule::new(100);
        s.set(2, 300);
        s.set(0, 100);
        s.set(1, 100);
        assert_eq!(s.next_due_ms(), Some(100));
        assert_eq!(s.pop_due(99), None);
        let ids: Vec<u32> = std::iter::from_fn(|| s.pop_due(250))
            .map(|x| x.id)
            .collect();
        assert_eq!(ids, vec![0, 1]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.pop_due(300).map(|x| (x.id, x.due_ms)), Some((2, 300)));
        assert!(s.is_empty());
        assert_eq!(s.next_due_ms(), None);
    }

    #[test]
    fn rescheduled_and_cancelled_ids_leave_no_ghost() {
        let mut s = Schedule::new(100);
        s.set(0, 1_000);
        s.set(0, 400); // moved earlier (fast interval)
        s.set(1, 500);
        s.cancel(1);
        s.set(2, 500);
        s.set(2, 900); // moved later
        assert_eq!(s.due_ms(0), Some(400));
        assert_eq!(s.due_ms(1), None);
        let popped: Vec<(u32, u64)> = std::iter::from_fn(|| s.pop_due(2_000))
            .map(|x| (x.id, x.due_ms))
            .collect();
        assert_eq!(popped, vec![(0, 400), (2, 900)]);
    }

    #[test]
    fn stale_entries_are_swept() {
        let mut s = Schedule::new(0);
        for round in 0..1_000u64 {
            for id in 0..10 {
                s.set(id, 10_000 - round);
            }
        }
        assert_eq!(s.len(), 10);
        assert!(s.heap.len() <= 2 * 10 + 64 + 1, "heap {}", s.heap.len());
        assert_eq!(std::iter::from_fn(|| s.pop_due(u64::MAX - 1)).count(), 10);
    }

    #[test]
    fn late_is_more_than_the_allowance_after_the_slot() {
        let mut s = Schedule::new(1_000); // 10 % of a 10 s interval
        s.set(0, 5_000);
        s.set(1, 5_000);
        s.set(2, 5_000);
        assert!(!s.pop_due(5_000).unwrap().late, "on time");
        assert!(!s.pop_due(6_000).unwrap().late, "exactly 10 %: not more");
        assert!(s.pop_due(6_001).unwrap().late);
        assert_eq!(s.late(), 1);
    }

    #[test]
    fn spread_is_distinct_within_one_period_and_even() {
        for (count, period, seed) in [
            (100u64, 30_000u64, 1u64),
            (7, 10_000, 99),
            (1_000, 1_000, 3),
        ] {
            let offsets: Vec<u64> = (0..count)
                .map(|i| spread_offset(i, count, period, seed))
                .collect();
            assert!(offsets.iter().all(|&o| o < period));
            assert!(
                offsets.windows(2).all(|w| w[0] < w[1]),
                "distinct, in order"
            );
            // Roughly even: no gap wider than two shares.
            let share = period / count;
            let mut gaps: Vec<u64> = offsets.windows(2).map(|w| w[1] - w[0]).collect();
            gaps.push(period - offsets[count as usize - 1] + offsets[0]); // wrap-around
            assert!(gaps.iter().all(|&g| g < 2 * share + 2), "{count}: {gaps:?}");
        }
    }

    #[test]
    fn spread_jitter_follows_the_seed() {
        let a: Vec<u64> = (0..50).map(|i| spread_offset(i, 50, 30_000, 1)).collect();
        let b: Vec<u64> = (0..50).map(|i| spread_offset(i, 50, 30_000, 1)).collect();
        let c: Vec<u64> = (0..50).map(|i| spread_offset(i, 50, 30_000, 2)).collect();
        assert_eq!(a, b, "deterministic");
        assert_ne!(a, c, "another seed, other points");
    }
}
