//! Which position a checkpoint may record while the scan runs: one the senders passed at
//! least `settle` ago (the `--wait` plus a margin), so that every pair before it has had
//! its full wait to answer, and every answer that came has been written. Recording the
//! senders' live position instead would mark pairs sent a moment ago as done, and a run
//! killed then (a second Ctrl-C, SIGKILL) would lose their answers. Time is an argument.

use std::collections::VecDeque;

use super::Position;

pub struct Settle {
    settle_ns: u64,
    /// Positions seen, oldest first, each with when it was seen.
    seen: VecDeque<(u64, Position)>,
    /// The newest position old enough.
    settled: Position,
}

impl Settle {
    /// `from` is where the run started: settled already (a fresh scan's start, or the
    /// position a resume file recorded).
    pub fn new(from: Position, settle_ns: u64) -> Settle {
        Settle {
            settle_ns,
            seen: VecDeque::new(),
            settled: from,
        }
    }

    /// Note the senders' position at `now_ns` (positions never go back).
    pub fn see(&mut self, now_ns: u64, p: Position) {
        self.seen.push_back((now_ns, p));
    }

    /// The newest position seen at least `settle` before `now_ns`.
    pub fn settled(&mut self, now_ns: u64) -> &Position {
        while let Some((t, _)) = self.seen.front() {
            if now_ns.saturating_sub(*t) < self.settle_ns {
                break;
            }
            let (_, p) = self.seen.pop_front().expect("front exists");
            if p.at_or_past(&self.settled) {
                self.settled = p;
            }
        }
        &self.settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(round: u32, walked: &[u64]) -> Position {
        Position {
            round,
            walked: walked.to_vec(),
        }
    }

    #[test]
    fn a_position_counts_only_once_it_is_settle_old() {
        let mut s = Settle::new(at(0, &[0, 0]), 1000);
        s.see(100, at(0, &[10, 12]));
        s.see(600, at(0, &[20, 22]));
        s.see(1200, at(1, &[3, 0]));
        assert_eq!(s.settled(500), &at(0, &[0, 0]));
        assert_eq!(s.settled(1100), &at(0, &[10, 12]));
        assert_eq!(s.settled(1650), &at(0, &[20, 22]));
        assert_eq!(s.settled(2200), &at(1, &[3, 0]));
        assert_eq!(s.settled(9999), &at(1, &[3, 0]), "nothing newer");
    }

    #[test]
    fn a_resumed_start_is_kept_until_a_later_position_settles() {
        let mut s = Settle::new(at(1, &[500, 400]), 1000);
        // A position read while the driver was resetting a round is never behind the
        // start it came from; if it were, the start stays.
        s.see(0, at(1, &[500, 300]));
        assert_eq!(s.settled(5000), &at(1, &[500, 400]));
    }
}
