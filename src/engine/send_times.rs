//! When each pair was last probed, to the microsecond, for scans small enough to afford it.
//! An RST or an ICMP error echoes no timestamp, and a SYN-ACK's TSecr counts milliseconds
//! only (our TSval looks like a Linux client's), so the send time kept here comes first.
//! Capped so that big scans keep one bit per pair and no more.

use std::sync::atomic::{AtomicU32, Ordering};

/// Pairs up to which send times are kept: 4 MiB of memory at most.
pub const MAX_PAIRS: u64 = 1 << 20;

pub struct SendTimes {
    us: Vec<AtomicU32>,
}

impl SendTimes {
    /// Empty (and free) above `MAX_PAIRS`.
    pub fn new(pairs: u64) -> Self {
        let n = if pairs <= MAX_PAIRS {
            pairs as usize
        } else {
            0
        };
        SendTimes {
            us: (0..n).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Record that `idx` was probed at `us` (CLOCK_REALTIME microseconds, wrapping).
    pub fn record(&self, idx: u64, us: u32) {
        if let Some(t) = self.us.get(idx as usize) {
            t.store(us, Ordering::Relaxed);
        }
    }

    /// Microseconds since `idx` was last probed, if known.
    pub fn since(&self, idx: u64, now_us: u32) -> Option<u32> {
        let t = self.us.get(idx as usize)?.load(Ordering::Relaxed);
        (t != 0).then(|| now_us.wrapping_sub(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_times_only_for_small_scans() {
        let s = SendTimes::new(10);
        assert_eq!(s.since(3, 100), None);
        s.record(3, 40);
        assert_eq!(s.since(3, 100), Some(60));
        // Wrapping clock: sent just before the 32-bit wrap, answered after it.
        s.record(4, u32::MAX - 9);
        assert_eq!(s.since(4, 10), Some(20));
        let big = SendTimes::new(MAX_PAIRS + 1);
        big.record(5, 1);
        assert_eq!(big.since(5, 2), None);
    }
}
