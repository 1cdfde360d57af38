//! A keyed pseudo-random bijection over the pair index space `0..n`, so that probes go out in
//! an order where no subnet or port is hit in a burst, every pair exactly once per round.
//!
//! Construction (the idea of masscan's BlackRock): a balanced Feistel network permutes the
//! domain `0..2^(2h)`, the smallest power of four that holds `n`; "cycle walking" re-applies
//! it until the value falls below `n`. Re-applying a permutation of a finite set from a start
//! `< n` must come back to that start, so the walk always terminates; since the domain is
//! smaller than `4n`, the walk takes fewer than 4 applications on average over all positions.
//!
//! The round function is a 64-bit finalizer mixer, not SipHash: `at` runs once per probe, at
//! millions per second, and the order only has to look random, not resist an adversary.

/// Feistel rounds. Four is the Luby-Rackoff minimum for a pseudo-random permutation; two more
/// keep small domains (a few bits per half) well mixed for a few nanoseconds more.
const ROUNDS: usize = 6;

/// A bijection of `0..n` chosen by `seed`.
#[derive(Clone, Debug)]
pub struct Permutation {
    n: u64,
    /// Bits in each Feistel half.
    half_bits: u32,
    half_mask: u64,
    keys: [u64; ROUNDS],
}

impl Permutation {
    pub fn new(n: u64, seed: u64) -> Self {
        // Bits needed to write `n - 1`, rounded up to even so the halves balance, at least 2.
        let bits = if n <= 1 {
            0
        } else {
            64 - (n - 1).leading_zeros()
        };
        let bits = (bits.div_ceil(2) * 2).max(2);
        let half_bits = bits / 2;
        let half_mask = if half_bits >= 64 {
            u64::MAX
        } else {
            (1u64 << half_bits) - 1
        };
        let mut state = seed;
        let mut keys = [0u64; ROUNDS];
        for key in &mut keys {
            *key = splitmix64(&mut state);
        }
        Permutation {
            n,
            half_bits,
            half_mask,
            keys,
        }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The pair index at position `pos` (`pos < n`). A `pos` outside the range is taken
    /// modulo `n` rather than panicking; with `n == 0` the answer is 0.
    #[inline]
    pub fn at(&self, pos: u64) -> u64 {
        if self.n <= 1 {
            return 0;
        }
        let mut x = if pos < self.n { pos } else { pos % self.n };
        // Terminates: the orbit of `x` under a permutation returns to `x < n`.
        loop {
            x = self.feistel(x);
            if x < self.n {
                return x;
            }
        }
    }

    /// The position at which pair `idx` comes (`idx < n`): the inverse of `at`, by running
    /// the rounds backwards. `at` walks forward from the position until it lands below `n`,
    /// so walking backward from `idx` until below `n` meets that same position. `None` for
    /// an `idx` outside `0..n`. Costs what `at` costs (a few Feistel passes on average).
    #[inline]
    pub fn position_of(&self, idx: u64) -> Option<u64> {
        if idx >= self.n {
            return None;
        }
        if self.n == 1 {
            return Some(0);
        }
        let mut x = idx;
        loop {
            x = self.feistel_inverse(x);
            if x < self.n {
                return Some(x);
            }
        }
    }

    /// One pass of the Feistel network over `0..2^(2 * half_bits)`.
    #[inline]
    fn feistel(&self, x: u64) -> u64 {
        let mut left = (x >> self.half_bits) & self.half_mask;
        let mut right = x & self.half_mask;
        for &key in &self.keys {
            let next = left ^ (mix64(right ^ key) & self.half_mask);
            left = right;
            right = next;
        }
        (left << self.half_bits) | right
    }
}

impl Permutation {
    /// `feistel` undone: the rounds in reverse order, each undoing its own step.
    #[inline]
    fn feistel_inverse(&self, x: u64) -> u64 {
        let mut left = (x >> self.half_bits) & self.half_mask;
        let mut right = x & self.half_mask;
        for &key in self.keys.iter().rev() {
            // Forward: (l, r) -> (r, l ^ f(r)); so the previous r is today's l, and the
            // previous l is today's r ^ f(today's l).
            let prev_left = right ^ (mix64(left ^ key) & self.half_mask);
            right = left;
            left = prev_left;
        }
        (left << self.half_bits) | right
    }
}

/// splitmix64's step: a well-spread stream of round keys from any seed, including 0.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// murmur3's 64-bit finalizer: every input bit flips each output bit with probability ~1/2,
/// so the low bits the round keeps depend on all of the half and the key.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z ^= z >> 33;
    z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
    z ^= z >> 33;
    z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
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
    /// Slice `index` of `count` over `0..n` (`index < count`; a `count` of 0 counts as 1).
    pub fn of(n: u64, index: u64, count: u64) -> Self {
        Slice {
            start: index,
            step: count.max(1),
            end: n,
        }
    }

    /// The whole of `0..n`.
    pub fn all(n: u64) -> Self {
        Slice::of(n, 0, 1)
    }

    /// Split this slice into `parts` disjoint slices that together cover it: part `p` holds
    /// the slice's positions `k` with `k % parts == p` (`part < parts`; 0 parts counts as 1).
    pub fn split(&self, part: u64, parts: u64) -> Self {
        let step = self.step.max(1);
        Slice {
            start: self.start.saturating_add(part.saturating_mul(step)),
            step: step.saturating_mul(parts.max(1)),
            end: self.end,
        }
    }

    /// How many positions the slice holds.
    pub fn len(&self) -> u64 {
        if self.start >= self.end {
            0
        } else {
            (self.end - self.start).div_ceil(self.step.max(1))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`-th position of the slice (`k < len()`).
    pub fn position(&self, k: u64) -> u64 {
        self.start
            .saturating_add(k.saturating_mul(self.step.max(1)))
    }

    /// Which `k` of the slice position `pos` is (`position(k) == pos`), if the slice holds it.
    #[inline]
    pub fn index_of(&self, pos: u64) -> Option<u64> {
        if pos < self.start || pos >= self.end {
            return None;
        }
        let d = pos - self.start;
        // Senders ask once per probe: no division for an unsharded scan, one otherwise.
        if self.step <= 1 {
            return Some(d);
        }
        let k = d / self.step;
        (k * self.step == d).then_some(k)
    }

    /// The slice's positions in order.
    pub fn positions(&self) -> impl Iterator<Item = u64> + use<> {
        let slice = *self;
        (0..slice.len()).map(move |k| slice.position(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: &[u64] = &[
        0,
        1,
        2,
        3,
        4,
        5,
        7,
        16,
        17,
        100,
        1000,
        65536,
        65537,
        100_003,
        1 << 20,
    ];
    const SEEDS: &[u64] = &[0, 1, 42, 0xdead_beef, u64::MAX];

    fn order(n: u64, seed: u64) -> Vec<u64> {
        let p = Permutation::new(n, seed);
        (0..n).map(|pos| p.at(pos)).collect()
    }

    fn assert_bijection(n: u64, seed: u64) {
        let mut seen = vec![false; n as usize];
        for idx in order(n, seed) {
            assert!(idx < n, "n={n} seed={seed}: {idx} out of range");
            assert!(!seen[idx as usize], "n={n} seed={seed}: {idx} twice");
            seen[idx as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "n={n} seed={seed}: index missing");
    }

    #[test]
    fn bijection_for_many_sizes_and_seeds() {
        for &n in SIZES {
            for &seed in SEEDS {
                assert_bijection(n, seed);
            }
        }
    }

    #[test]
    fn domain_is_even_width_and_below_four_n() {
        for &n in &[2u64, 3, 5, 17, 1000, 65537, 1 << 20, (1 << 48) - 1, 1 << 48] {
            let p = Permutation::new(n, 7);
            let domain = 1u128 << (2 * p.half_bits);
            assert!(domain >= n as u128 && domain < 4 * n as u128, "n={n}");
        }
    }

    #[test]
    fn cycle_walk_is_short_on_average() {
        for &n in &[5u64, 17, 65537, 100_003] {
            let p = Permutation::new(n, 11);
            let mut applications = 0u64;
            for pos in 0..n {
                let mut x = p.feistel(pos);
                applications += 1;
                while x >= n {
                    x = p.feistel(x);
                    applications += 1;
                }
            }
            assert!(applications < 4 * n, "n={n}: {applications} applications");
        }
    }

    #[test]
    fn large_domain_stays_in_range() {
        let n = 1u64 << 48;
        let p = Permutation::new(n, 3);
        for pos in [0, 1, n / 2, n - 1] {
            assert!(p.at(pos) < n);
        }
        let n = (1u64 << 47) + 12345;
        let p = Permutation::new(n, 3);
        for pos in [0, 1, n / 2, n - 1] {
            assert!(p.at(pos) < n);
        }
    }

    #[test]
    fn same_seed_same_order_different_seed_different_order() {
        for &n in &[100u64, 1000, 65537] {
            assert_eq!(order(n, 9), order(n, 9));
            let orders: Vec<_> = (0..20).map(|seed| order(n, seed)).collect();
            for i in 0..orders.len() {
                for j in i + 1..orders.len() {
                    assert_ne!(orders[i], orders[j], "n={n} seeds {i} and {j}");
                }
            }
        }
    }

    #[test]
    fn position_of_inverts_at_for_many_sizes_and_seeds() {
        for &n in SIZES {
            for &seed in SEEDS {
                let p = Permutation::new(n, seed);
                for pos in 0..n {
                    assert_eq!(p.position_of(p.at(pos)), Some(pos), "n={n} seed={seed}");
                }
                assert_eq!(p.position_of(n), None);
                assert_eq!(p.position_of(u64::MAX), None);
            }
        }
    }

    #[test]
    fn position_of_round_trips_in_large_domains() {
        // A /16 x all ports, an IPv6 /96 x 1 port, and the largest space scanned.
        for &n in &[1u64 << 32, (1 << 32) - 65536, 1 << 48, (1 << 47) + 12345] {
            let p = Permutation::new(n, 0x5eed);
            let mut state = n;
            for _ in 0..2000 {
                let pos = splitmix64(&mut state) % n;
                let idx = p.at(pos);
                assert_eq!(p.position_of(idx), Some(pos), "n={n} pos={pos}");
                assert_eq!(p.at(p.position_of(pos).unwrap()), pos, "n={n} idx={pos}");
            }
        }
    }

    #[test]
    fn feistel_inverse_undoes_one_pass() {
        let p = Permutation::new(1000, 9);
        for x in 0..1024 {
            assert_eq!(p.feistel_inverse(p.feistel(x)), x);
        }
    }

    #[test]
    fn out_of_range_position_does_not_panic() {
        assert_eq!(Permutation::new(0, 1).at(5), 0);
        assert!(Permutation::new(10, 1).at(12345) < 10);
    }

    #[test]
    fn adjacent_positions_are_scattered() {
        let n = 65536 * 4;
        for &seed in SEEDS {
            let o = order(n, seed);
            let close = o
                .windows(2)
                .filter(|w| matches!(w[0].abs_diff(w[1]), 1 | 4))
                .count();
            assert!(close * 100 < n as usize, "seed={seed}: {close} close pairs");
            let not_identity = o
                .iter()
                .enumerate()
                .filter(|&(i, &v)| i as u64 != v)
                .count();
            assert!(not_identity > n as usize * 99 / 100);
        }
    }

    #[test]
    fn slices_partition_exactly() {
        for &(n, shards, threads) in &[
            (0u64, 1u64, 1u64),
            (1, 1, 4),
            (10, 3, 2),
            (17, 4, 3),
            (1000, 1, 1),
            (1000, 7, 5),
            (65537, 2, 8),
            (5, 8, 8),
        ] {
            let mut seen = vec![0u8; n as usize];
            let mut total = 0;
            for shard in 0..shards {
                let s = Slice::of(n, shard, shards);
                let mut shard_len = 0;
                for t in 0..threads {
                    let part = s.split(t, threads);
                    assert_eq!(part.positions().count() as u64, part.len());
                    shard_len += part.len();
                    for (k, pos) in part.positions().enumerate() {
                        assert!(pos < n);
                        assert_eq!(part.index_of(pos), Some(k as u64));
                        assert_eq!(s.position(s.index_of(pos).unwrap()), pos);
                        seen[pos as usize] += 1;
                    }
                }
                assert_eq!(shard_len, s.len(), "n={n} shards={shards}");
                total += shard_len;
            }
            assert_eq!(total, n);
            assert!(seen.iter().all(|&c| c == 1), "n={n} {shards}x{threads}");
        }
    }

    #[test]
    fn degenerate_slices_do_not_panic() {
        assert_eq!(Slice::of(10, 0, 0).len(), 10);
        assert_eq!(Slice::all(10).split(0, 0).len(), 10);
        assert!(Slice::of(3, 5, 8).is_empty());
        let s = Slice::of(10, 1, 3);
        assert_eq!(s.index_of(0), None);
        assert_eq!(s.index_of(2), None);
        assert_eq!(s.index_of(10), None);
        assert_eq!(s.index_of(7), Some(2));
        assert_eq!(Slice::of(10, 0, 0).index_of(9), Some(9));
    }
}
