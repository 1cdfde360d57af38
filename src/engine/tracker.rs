//! Which pairs have answered: shared by the receiver (which marks them), the senders (which
//! skip answered pairs on retry rounds) and the driver (which reports the silent ones).
//!
//! A scan's pairs are keyed by their position in this shard's slice of the permutation, not
//! by pair index: the senders walk positions in order, so the answered set is a sequence of
//! empty or dense runs, which `Chunk` stores in a few bytes per 2^16 positions. Memory then
//! follows the answers and the spans replies are landing in, not the size of the pair space
//! (a /16 x all ports, 2^32 pairs, took a 512 MiB bitmap before), and a shard's ledger
//! spans only its slice. A reply's position comes from the permutation's inverse.
//!
//! `watch` and tests key by pair index (`Tracker::new`): the same structure, small spaces.
//!
//! Concurrency: one mutex over the spans. The receiver takes it once per matched reply
//! (uncontended: the senders do not take it per pair); a sender on a retry round copies the
//! bitmap of the span it is walking once (`Reader`) and reads its copy, so 2^16 / threads
//! steps cost one lock. An answer landing in a span after a sender copied it costs at most
//! one extra probe, whose reply then counts as a duplicate.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::chunk::{Bits, Chunk, SPAN, SPAN_BITS, empty_bits};
use crate::permute::{Permutation, Slice};

/// How pairs map to keys `0..len`.
#[derive(Clone, Debug)]
enum Keys {
    /// Key = pair index.
    Pairs,
    /// Key = `k` of the pair's position in `slice` of `perm`.
    Walk { perm: Permutation, slice: Slice },
}

pub struct Tracker {
    keys: Keys,
    len: u64,
    /// Spans with at least one answer, by span number (key >> SPAN_BITS).
    spans: Mutex<BTreeMap<u64, Chunk>>,
}

impl Tracker {
    /// Keyed by pair index, for `pairs` pairs (watch, tests).
    pub fn new(pairs: u64) -> Self {
        Tracker {
            keys: Keys::Pairs,
            len: pairs,
            spans: Mutex::default(),
        }
    }

    /// Keyed by position within `slice` of `perm`: the pairs a scan's shard walks.
    pub fn for_walk(perm: &Permutation, slice: Slice) -> Self {
        Tracker {
            len: slice.len(),
            keys: Keys::Walk {
                perm: perm.clone(),
                slice,
            },
            spans: Mutex::default(),
        }
    }

    /// How many keys (pairs this tracker covers).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key of pair `idx`, if this tracker covers it (a scan's shard covers its slice
    /// only). For a walk, one inverse permutation.
    #[inline]
    pub fn key_of(&self, idx: u64) -> Option<u64> {
        match &self.keys {
            Keys::Pairs => (idx < self.len).then_some(idx),
            Keys::Walk { perm, slice } => slice.index_of(perm.position_of(idx)?),
        }
    }

    /// The key of permutation position `pos` (a sender knows where it walks, so it needs no
    /// inverse); for a tracker keyed by pair index, `idx` is the key.
    #[inline]
    pub fn key_at(&self, pos: u64, idx: u64) -> Option<u64> {
        match &self.keys {
            Keys::Pairs => (idx < self.len).then_some(idx),
            Keys::Walk { slice, .. } => slice.index_of(pos),
        }
    }

    /// The pair index of `key` (`key < len`).
    pub fn pair_of(&self, key: u64) -> u64 {
        match &self.keys {
            Keys::Pairs => key,
            Keys::Walk { perm, slice } => perm.at(slice.position(key)),
        }
    }

    fn split(key: u64) -> (u64, u16) {
        (key >> SPAN_BITS, (key & (SPAN - 1)) as u16)
    }

    fn spans(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Chunk>> {
        // A panicking holder left no half-made change that matters more than the run.
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Mark `key` answered; returns true if it already was, or is not ours.
    pub fn test_and_set_key(&self, key: u64) -> bool {
        if key >= self.len {
            return true;
        }
        let (span, i) = Self::split(key);
        self.spans().entry(span).or_default().insert(i)
    }

    pub fn is_set_key(&self, key: u64) -> bool {
        let (span, i) = Self::split(key);
        key < self.len && self.spans().get(&span).is_some_and(|c| c.contains(i))
    }

    pub fn clear_key(&self, key: u64) {
        let (span, i) = Self::split(key);
        let mut spans = self.spans();
        if let Some(c) = spans.get_mut(&span) {
            c.remove(i);
            if c.is_empty() {
                spans.remove(&span);
            }
        }
    }

    /// Mark pair `idx` answered; returns true if it already was. A pair outside this
    /// tracker counts as answered, so a forged index never reaches a sink.
    pub fn test_and_set(&self, idx: u64) -> bool {
        self.key_of(idx).is_none_or(|k| self.test_and_set_key(k))
    }

    /// Forget that `idx` answered, so the answer to its next probe counts as a match, not a
    /// duplicate (`watch` checks the same pair again every interval).
    pub fn clear(&self, idx: u64) {
        if let Some(k) = self.key_of(idx) {
            self.clear_key(k);
        }
    }

    pub fn is_set(&self, idx: u64) -> bool {
        self.key_of(idx).is_some_and(|k| self.is_set_key(k))
    }

    /// How many keys are answered.
    pub fn count(&self) -> u64 {
        self.spans().values().map(Chunk::count).sum()
    }

    /// Heap bytes the answered set takes (spans and their map entries, roughly).
    pub fn heap_bytes(&self) -> usize {
        let spans = self.spans();
        spans.values().map(Chunk::heap_bytes).sum::<usize>()
            + spans.len() * (std::mem::size_of::<(u64, Chunk)>() + 8)
    }

    /// A reader that copies one span at a time (for a sender's retry round).
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            tracker: self,
            span: None,
            bits: None,
        }
    }

    /// Copy span `span`'s bitmap into `out`.
    fn copy_span(&self, span: u64, out: &mut Bits) {
        match self.spans().get(&span) {
            Some(c) => c.copy_bits(out),
            None => out.fill(0),
        }
    }

    /// The keys whose answered bit is `set`, in order, one span copied at a time (the lock
    /// is not held while the caller works).
    pub fn keys(&self, set: bool) -> KeyIter<'_> {
        KeyIter {
            tracker: self,
            set,
            next_span: 0,
            buf: Vec::new(),
            at: 0,
        }
    }

    /// Keys never answered, in order (the silent pairs at the end of a scan).
    pub fn unanswered_keys(&self) -> KeyIter<'_> {
        self.keys(false)
    }

    /// The pair indices answered, in key order (for a scan: permutation order).
    pub fn answered(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys(true).map(|k| self.pair_of(k))
    }

    /// Calls `f(first, len)` for each maximal run of consecutive answered keys, ascending:
    /// what a resume file stores, so its size (and the time to write it) follows the runs,
    /// a handful when everyone answered, not the answers. One span is copied at a time; the
    /// lock is not held while `f` works. Stops at `f`'s first error.
    pub fn for_each_run<E>(&self, mut f: impl FnMut(u64, u64) -> Result<(), E>) -> Result<(), E> {
        let mut run: Option<(u64, u64)> = None;
        // The closure borrows `run` and `f` for the walk only.
        {
            let mut extend = |key: u64, n: u64| -> Result<(), E> {
                match &mut run {
                    Some((first, len)) if *first + *len == key => *len += n,
                    _ => {
                        if let Some((first, len)) = run.replace((key, n)) {
                            f(first, len)?;
                        }
                    }
                }
                Ok(())
            };
            let mut bits = empty_bits();
            let mut next = 0u64;
            loop {
                let Some(span) = self.spans().range(next..).next().map(|(&s, _)| s) else {
                    break;
                };
                next = span + 1;
                self.copy_span(span, &mut bits);
                let base = span << SPAN_BITS;
                let mut i = 0u64;
                while i < SPAN {
                    let word = bits[(i / 64) as usize] >> (i % 64);
                    let left = 64 - i % 64;
                    if word == 0 {
                        i += left;
                        continue;
                    }
                    let zeros = u64::from(word.trailing_zeros());
                    if zeros > 0 {
                        i += zeros;
                        continue;
                    }
                    let ones = u64::from(word.trailing_ones()).min(left);
                    extend(base + i, ones)?;
                    i += ones;
                }
            }
        }
        match run {
            Some((first, len)) => f(first, len),
            None => Ok(()),
        }
    }

    /// Mark keys `first..first + len` answered (a resumed scan's runs): whole spans at once.
    pub fn set_run(&self, first: u64, len: u64) {
        let end = first.saturating_add(len).min(self.len);
        let mut k = first;
        while k < end {
            let (span, i) = Self::split(k);
            if i == 0 && end - k >= SPAN {
                self.spans().insert(span, Chunk::Silent(Vec::new())); // all answered
                k += SPAN;
            } else {
                self.test_and_set_key(k);
                k += 1;
            }
        }
    }
}

/// Reads answered bits from a copy of the span last asked about.
pub struct Reader<'a> {
    tracker: &'a Tracker,
    span: Option<u64>,
    /// Allocated at the first read: a watch's send jobs never read.
    bits: Option<Box<Bits>>,
}

impl Reader<'_> {
    /// Whether `key` had answered when its span was copied (copied now if it is not the
    /// span read last).
    #[inline]
    pub fn is_set_key(&mut self, key: u64) -> bool {
        if key >= self.tracker.len {
            return false;
        }
        let (span, i) = Tracker::split(key);
        let bits = self.bits.get_or_insert_with(empty_bits);
        if self.span != Some(span) {
            self.tracker.copy_span(span, bits);
            self.span = Some(span);
        }
        bits[usize::from(i) / 64] & (1 << (i % 64)) != 0
    }
}

/// Iterator over keys answered (or not), span by span.
pub struct KeyIter<'a> {
    tracker: &'a Tracker,
    set: bool,
    next_span: u64,
    buf: Vec<u64>,
    at: usize,
}

impl Iterator for KeyIter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        loop {
            if let Some(&k) = self.buf.get(self.at) {
                self.at += 1;
                return Some(k);
            }
            let len = self.tracker.len;
            let first = self.next_span.checked_mul(SPAN)?;
            if first >= len {
                return None;
            }
            // Answered keys: jump to the next span that has any. Silent keys: every span.
            let span = if self.set {
                let spans = self.tracker.spans();
                *spans.range(self.next_span..).next()?.0
            } else {
                self.next_span
            };
            let mut bits = empty_bits();
            self.tracker.copy_span(span, &mut bits);
            let base = span << SPAN_BITS;
            let end = (len - base).min(SPAN);
            self.buf.clear();
            self.at = 0;
            for (w, &word) in bits.iter().enumerate() {
                let mut x = if self.set { word } else { !word };
                while x != 0 {
                    let off = (w * 64) as u64 + u64::from(x.trailing_zeros());
                    if off >= end {
                        break;
                    }
                    self.buf.push(base + off);
                    x &= x - 1;
                }
            }
            self.next_span = span + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(t: &Tracker) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        t.for_each_run(|a, n| {
            v.push((a, n));
            Ok::<(), ()>(())
        })
        .unwrap();
        v
    }

    #[test]
    fn runs_are_maximal_across_words_and_spans_and_set_back_exactly() {
        let len = 5 * SPAN + 7;
        let t = Tracker::new(len);
        assert!(runs(&t).is_empty());
        // Single keys, a run over a word boundary, one over a span boundary, a whole span,
        // the very last key.
        let mut want = vec![
            (0, 1),
            (2, 1),
            (60, 10),
            (SPAN - 3, 6),
            (3 * SPAN, SPAN + 1),
        ];
        want.push((len - 1, 1));
        for &(a, n) in &want {
            for k in a..a + n {
                t.test_and_set_key(k);
            }
        }
        assert_eq!(runs(&t), want);
        let u = Tracker::new(len);
        for &(a, n) in &want {
            u.set_run(a, n);
        }
        assert_eq!(runs(&u), want);
        assert_eq!(u.count(), t.count());
        u.set_run(len - 2, 100); // past the end: cut at it
        assert_eq!(runs(&u).last(), Some(&(len - 2, 2)));
        // A whole answered space is one run, and a few bytes.
        let full = Tracker::new(4 * SPAN);
        full.set_run(0, 4 * SPAN);
        assert_eq!(runs(&full), vec![(0, 4 * SPAN)]);
        assert!(full.heap_bytes() < 1024);
        // The first error stops the walk and comes back.
        let mut seen = 0;
        assert_eq!(
            t.for_each_run(|_, _| {
                seen += 1;
                if seen == 2 { Err(seen) } else { Ok(()) }
            }),
            Err(2)
        );
    }

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
        assert_eq!(t.answered().collect::<Vec<_>>(), vec![129]);
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
        t.clear(64);
        t.clear(65);
        assert_eq!(t.count(), 0);
        assert_eq!(t.heap_bytes(), 0, "an emptied span is dropped");
    }

    #[test]
    fn a_walk_keys_pairs_by_position_in_its_slice() {
        let n = 100_003;
        let perm = Permutation::new(n, 5);
        let slice = Slice::of(n, 1, 3);
        let t = Tracker::for_walk(&perm, slice);
        assert_eq!(t.len(), slice.len());
        let mut mine = 0;
        for pos in 0..n {
            let idx = perm.at(pos);
            match slice.index_of(pos) {
                Some(k) => {
                    mine += 1;
                    assert_eq!(t.key_of(idx), Some(k));
                    assert_eq!(t.key_at(pos, idx), Some(k));
                    assert_eq!(t.pair_of(k), idx);
                }
                None => {
                    // Another shard's pair: not ours, never reported.
                    assert_eq!(t.key_of(idx), None);
                    assert!(t.test_and_set(idx));
                }
            }
        }
        assert_eq!(mine, slice.len());
        assert_eq!(t.count(), 0);
    }

    #[test]
    fn answered_and_unanswered_partition_the_keys() {
        let n = 3 * SPAN + 777;
        let perm = Permutation::new(n, 1);
        let t = Tracker::for_walk(&perm, Slice::all(n));
        let answered: Vec<u64> = (0..n).filter(|k| k % 5 == 0 || *k > 2 * SPAN).collect();
        for &k in &answered {
            assert!(!t.test_and_set(t.pair_of(k)));
        }
        assert_eq!(t.keys(true).collect::<Vec<_>>(), answered);
        let silent: Vec<u64> = t.unanswered_keys().collect();
        assert_eq!(silent.len() as u64 + answered.len() as u64, n);
        assert!(silent.iter().all(|&k| !t.is_set_key(k) && k < n));
        let pairs: Vec<u64> = t.answered().collect();
        assert_eq!(
            pairs,
            answered.iter().map(|&k| perm.at(k)).collect::<Vec<_>>()
        );
        // A reader agrees with the tracker, span copy or not.
        let mut r = t.reader();
        for k in (0..n).step_by(97) {
            assert_eq!(r.is_set_key(k), t.is_set_key(k), "key {k}");
        }
        assert!(!r.is_set_key(n));
    }

    #[test]
    fn a_big_sweep_answered_in_order_stays_small() {
        // 2^22 positions, every one answered, in order: all spans end up empty lists of
        // silent positions, a few bytes each (a bitmap would be 512 KiB).
        let n = 1u64 << 22;
        let t = Tracker::new(n);
        for k in 0..n {
            t.test_and_set_key(k);
        }
        assert_eq!(t.count(), n);
        assert!(t.heap_bytes() < 8 << 10, "{} bytes", t.heap_bytes());
        assert_eq!(t.unanswered_keys().next(), None);
        // Nobody answers: nothing is kept, and every key is reported silent.
        let quiet = Tracker::new(3 * SPAN + 5);
        assert_eq!(quiet.heap_bytes(), 0);
        assert_eq!(quiet.unanswered_keys().count() as u64, 3 * SPAN + 5);
        assert_eq!(quiet.answered().count(), 0);
    }

    #[test]
    fn a_shard_holds_a_quarter_of_the_whole() {
        // The same answers (a third of the pairs, scattered in position space: bitmaps),
        // kept by the whole scan and by shard 1 of 4.
        let n = 1u64 << 20;
        let perm = Permutation::new(n, 3);
        let whole = Tracker::for_walk(&perm, Slice::all(n));
        let shard = Tracker::for_walk(&perm, Slice::of(n, 1, 4));
        for idx in (0..n).filter(|i| i % 3 == 0) {
            whole.test_and_set(idx);
            shard.test_and_set(idx);
        }
        assert_eq!(whole.count(), n.div_ceil(3));
        let (w, s) = (whole.heap_bytes(), shard.heap_bytes());
        assert!(
            s * 4 <= w + w / 16 && s * 4 >= w - w / 16,
            "whole {w}, shard {s}"
        );
    }

    #[test]
    fn huge_spaces_cost_nothing_up_front() {
        // An IPv6 /96 x 1 port, and the largest space a scan takes.
        for n in [1u64 << 32, 1 << 48] {
            let t = Tracker::new(n);
            assert!(!t.test_and_set(n - 1));
            assert!(t.is_set(n - 1));
            assert_eq!(t.answered().collect::<Vec<_>>(), vec![n - 1]);
            assert!(t.heap_bytes() < 1024);
        }
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
