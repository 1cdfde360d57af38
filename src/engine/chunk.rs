//! Which of the 2^16 positions of one span have answered, in whichever of three forms is
//! smallest (roaring bitmaps' idea, plus a form for nearly full spans): a sorted list of the
//! answered positions when few answered, one bit per position when the span is mixed, a
//! sorted list of the silent positions when nearly all answered. A scan walks its positions
//! in order, so spans behind the sweep are mostly empty (nobody answers) or nearly full (a
//! testbed, a firewall answering RST for everything), and cost a few bytes each; only the
//! spans the replies are landing in, and the truly mixed ones, cost a bitmap (8 KiB).

/// Positions per span.
pub const SPAN_BITS: u32 = 16;
pub const SPAN: u64 = 1 << SPAN_BITS;
const WORDS: usize = (SPAN / 64) as usize;
/// A list longer than this costs more than the bitmap (2 bytes an entry against 8 KiB).
const LIST_MAX: usize = WORDS * 64 / 16;

/// A span's bitmap, as senders copy it to read without the lock.
pub type Bits = [u64; WORDS];

pub fn empty_bits() -> Box<Bits> {
    Box::new([0; WORDS])
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// The answered positions, sorted (at most `LIST_MAX`).
    Answered(Vec<u16>),
    /// One bit per position, and how many are set.
    Bitmap(Box<Bits>, u32),
    /// The positions NOT answered, sorted (at most `LIST_MAX`); empty = all answered.
    Silent(Vec<u16>),
}

impl Default for Chunk {
    fn default() -> Self {
        Chunk::Answered(Vec::new())
    }
}

fn bit(i: u16) -> (usize, u64) {
    (usize::from(i) / 64, 1u64 << (i % 64))
}

impl Chunk {
    pub fn contains(&self, i: u16) -> bool {
        match self {
            Chunk::Answered(v) => v.binary_search(&i).is_ok(),
            Chunk::Bitmap(b, _) => {
                let (w, m) = bit(i);
                b[w] & m != 0
            }
            Chunk::Silent(v) => v.binary_search(&i).is_err(),
        }
    }

    /// How many positions are answered.
    pub fn count(&self) -> u64 {
        match self {
            Chunk::Answered(v) => v.len() as u64,
            Chunk::Bitmap(_, n) => u64::from(*n),
            Chunk::Silent(v) => SPAN - v.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Mark `i` answered; returns true if it already was.
    pub fn insert(&mut self, i: u16) -> bool {
        let was = match self {
            Chunk::Answered(v) => match v.binary_search(&i) {
                Ok(_) => true,
                Err(at) => {
                    v.insert(at, i);
                    false
                }
            },
            Chunk::Bitmap(b, n) => {
                let (w, m) = bit(i);
                let was = b[w] & m != 0;
                b[w] |= m;
                *n += u32::from(!was);
                was
            }
            Chunk::Silent(v) => match v.binary_search(&i) {
                Ok(at) => {
                    v.remove(at);
                    shrink(v);
                    false
                }
                Err(_) => true,
            },
        };
        if !was {
            self.reshape();
        }
        was
    }

    /// Mark `i` not answered (watch checks a pair again).
    pub fn remove(&mut self, i: u16) {
        match self {
            Chunk::Answered(v) => {
                if let Ok(at) = v.binary_search(&i) {
                    v.remove(at);
                    shrink(v);
                }
            }
            Chunk::Bitmap(b, n) => {
                let (w, m) = bit(i);
                *n -= u32::from(b[w] & m != 0);
                b[w] &= !m;
            }
            Chunk::Silent(v) => {
                if let Err(at) = v.binary_search(&i) {
                    v.insert(at, i);
                }
            }
        }
        self.reshape();
    }

    /// Move to the smallest form once a list outgrows the bitmap, or a bitmap could be a
    /// list. Bitmaps turn back into lists only at half the limit, so a count hovering at
    /// the limit does not convert on every change.
    fn reshape(&mut self) {
        let next = match self {
            Chunk::Answered(v) if v.len() > LIST_MAX => Some(self.to_bitmap()),
            Chunk::Silent(v) if v.len() > LIST_MAX => Some(self.to_bitmap()),
            Chunk::Bitmap(b, n) => {
                let n = *n as usize;
                if n <= LIST_MAX / 2 {
                    Some(Chunk::Answered(positions(b, true)))
                } else if SPAN as usize - n <= LIST_MAX / 2 {
                    Some(Chunk::Silent(positions(b, false)))
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(next) = next {
            *self = next;
        }
    }

    fn to_bitmap(&self) -> Chunk {
        let mut b = empty_bits();
        self.copy_bits(&mut b);
        Chunk::Bitmap(b, self.count() as u32)
    }

    /// Write the span as a bitmap into `out` (what a reader copies).
    pub fn copy_bits(&self, out: &mut Bits) {
        match self {
            Chunk::Bitmap(b, _) => out.copy_from_slice(&b[..]),
            Chunk::Answered(v) => {
                out.fill(0);
                for &i in v {
                    let (w, m) = bit(i);
                    out[w] |= m;
                }
            }
            Chunk::Silent(v) => {
                out.fill(u64::MAX);
                for &i in v {
                    let (w, m) = bit(i);
                    out[w] &= !m;
                }
            }
        }
    }

    /// Heap bytes this span holds.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Chunk::Answered(v) | Chunk::Silent(v) => v.capacity() * 2,
            Chunk::Bitmap(..) => WORDS * 8,
        }
    }
}

/// A list that shrank to a quarter of its capacity gives half back: a span whose last
/// silent positions answer ends up costing nothing (amortized: each shrink follows at least
/// as many removals as it moves entries).
fn shrink(v: &mut Vec<u16>) {
    if v.len() * 4 <= v.capacity() {
        v.shrink_to(v.len() * 2);
    }
}

/// The positions whose bit is `set` (sorted).
fn positions(b: &Bits, set: bool) -> Vec<u16> {
    let mut out = Vec::new();
    for (w, &word) in b.iter().enumerate() {
        let mut x = if set { word } else { !word };
        while x != 0 {
            out.push((w * 64) as u16 + x.trailing_zeros() as u16);
            x &= x - 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Apply the same inserts and removes to a chunk and to a plain set; they must agree
    /// at every step, in every form.
    fn check_against_set(ops: impl IntoIterator<Item = (bool, u16)>) -> Chunk {
        let mut c = Chunk::default();
        let mut s = BTreeSet::new();
        for (add, i) in ops {
            if add {
                assert_eq!(c.insert(i), !s.insert(i), "insert {i}");
            } else {
                c.remove(i);
                s.remove(&i);
            }
            assert_eq!(c.count(), s.len() as u64);
            assert!(c.contains(i) == s.contains(&i));
        }
        for i in 0..=u16::MAX {
            assert_eq!(c.contains(i), s.contains(&i), "position {i}");
        }
        let mut bits = empty_bits();
        c.copy_bits(&mut bits);
        assert_eq!(
            positions(&bits, true),
            s.iter().copied().collect::<Vec<_>>()
        );
        c
    }

    #[test]
    fn a_few_answers_stay_a_list() {
        let c = check_against_set([(true, 7), (true, 3), (true, 7), (true, 65535), (false, 3)]);
        assert_eq!(c, Chunk::Answered(vec![7, 65535]));
        assert!(c.heap_bytes() < 100);
    }

    #[test]
    fn a_span_filled_in_order_goes_list_bitmap_silent_list_and_ends_free() {
        let mut c = Chunk::default();
        for i in 0..=u16::MAX {
            assert!(!c.insert(i));
            let n = u64::from(i) + 1;
            match &c {
                Chunk::Answered(_) => assert!(n <= LIST_MAX as u64),
                Chunk::Bitmap(..) => assert!(n > LIST_MAX as u64 && SPAN - n > LIST_MAX as u64 / 2),
                Chunk::Silent(_) => assert!(SPAN - n <= LIST_MAX as u64 / 2),
            }
        }
        assert_eq!(c, Chunk::Silent(Vec::new()));
        assert_eq!(c.count(), SPAN);
        assert!(c.insert(12345), "already answered");
        // An answer missing here and there: a short list of the silent ones.
        c.remove(10);
        c.remove(40000);
        assert_eq!(c, Chunk::Silent(vec![10, 40000]));
        assert!(!c.contains(10) && c.contains(11));
    }

    #[test]
    fn mixed_spans_agree_with_a_set_in_every_form() {
        // Every third position, then most of the rest, then removals back down.
        let mut ops: Vec<(bool, u16)> = (0..=u16::MAX).step_by(3).map(|i| (true, i)).collect();
        ops.extend((0..=u16::MAX).filter(|i| i % 7 != 0).map(|i| (true, i)));
        ops.extend((0..=u16::MAX).step_by(2).map(|i| (false, i)));
        ops.extend((0..=u16::MAX).map(|i| (false, i)));
        let c = check_against_set(ops);
        assert!(c.is_empty());
        // A pseudo-random sequence of both.
        let mut x = 1u64;
        let ops = (0..300_000).map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 63) == 1 || (x >> 62) & 1 == 1, (x >> 20) as u16)
        });
        check_against_set(ops);
    }

    #[test]
    fn removing_from_a_full_span_grows_a_silent_list_then_a_bitmap() {
        let mut c = Chunk::Silent(Vec::new());
        for i in 0..(LIST_MAX as u16 + 1) {
            c.remove(i);
        }
        assert!(matches!(c, Chunk::Bitmap(..)));
        assert_eq!(c.count(), SPAN - LIST_MAX as u64 - 1);
        assert!(!c.contains(0) && c.contains(LIST_MAX as u16 + 1));
    }
}
