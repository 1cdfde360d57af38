//! A keyed pseudo-random bijection over the pair index space `0..n`, so that probes go out in
//! an order where no subnet or port is hit in a burst, every pair exactly once per round.
//! STUB: interface fixed, body to be written.

/// A bijection of `0..n` chosen by `seed`.
#[derive(Clone, Debug)]
pub struct Permutation {
    n: u64,
}

impl Permutation {
    pub fn new(n: u64, seed: u64) -> Self {
        let _ = seed;
        Permutation { n }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The pair index at position `pos` (`pos < n`).
    pub fn at(&self, pos: u64) -> u64 {
        let _ = pos;
        todo!()
    }
}

/// Which positions of the permutation one worker visits: `start, start + step, ...` below
/// `end`. Shards of a multi-machine scan and send threads within one machine are both slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub start: u64,
    pub step: u64,
    pub end: u64,
}

impl Slice {
    /// Slice `index` of `count` over `0..n`.
    pub fn of(n: u64, index: u64, count: u64) -> Self {
        Slice {
            start: index,
            step: count,
            end: n,
        }
    }

    /// Split this slice into `parts` disjoint slices that together cover it.
    pub fn split(&self, part: u64, parts: u64) -> Self {
        Slice {
            start: self.start + part * self.step,
            step: self.step * parts,
            end: self.end,
        }
    }

    /// How many positions the slice holds.
    pub fn len(&self) -> u64 {
        if self.start >= self.end {
            0
        } else {
            (self.end - self.start).div_ceil(self.step)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`-th position of the slice.
    pub fn position(&self, k: u64) -> u64 {
        self.start + k * self.step
    }
}
