//! When each recently probed pair was sent, to the microsecond. An RST or an ICMP error
//! echoes no timestamp, and a SYN-ACK's TSecr counts milliseconds only (our TSval looks like
//! a Linux client's), so the send time kept here comes first.
//!
//! A window, not a table of every pair: slot `key % WINDOW` holds the last send time of any
//! key that maps there, tagged with which one it was. Keys are positions in the walk, sent
//! in order, so a reply finds its slot still holding its own send time unless `WINDOW`
//! more probes went out before it came back (2^19 probes: 150 ms at 3.4 M/s, minutes at
//! the usual rates); then its RTT comes from the echoed timestamp instead.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots kept: 4 MiB at most.
pub const WINDOW: u64 = 1 << 19;

pub struct SendTimes {
    /// (tag << 32) | microseconds; tag 0 = never written. A power of two long.
    slots: Vec<AtomicU64>,
    /// log2 of the slots.
    shift: u32,
}

impl SendTimes {
    /// For keys `0..keys`; a table of `keys` slots when it fits in the window.
    pub fn new(keys: u64) -> Self {
        // A power of two, so that a probe's slot is a mask and a shift, no division.
        let n = if keys == 0 {
            0
        } else {
            keys.min(WINDOW).next_power_of_two() as usize
        };
        SendTimes {
            shift: n.trailing_zeros(),
            slots: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The slot of `key` and the tag that says it is `key`'s.
    #[inline]
    fn slot(&self, key: u64) -> Option<(&AtomicU64, u64)> {
        let n = self.slots.len() as u64;
        if n == 0 {
            return None;
        }
        let tag = ((key >> self.shift) as u32).wrapping_add(1).max(1);
        Some((&self.slots[(key & (n - 1)) as usize], u64::from(tag) << 32))
    }

    /// Record that `key` was probed at `us` (CLOCK_REALTIME microseconds, wrapping).
    #[inline]
    pub fn record(&self, key: u64, us: u32) {
        if let Some((s, tag)) = self.slot(key) {
            s.store(tag | u64::from(us), Ordering::Relaxed);
        }
    }

    /// Microseconds since `key` was last probed, if its slot still holds it.
    pub fn since(&self, key: u64, now_us: u32) -> Option<u32> {
        let (s, tag) = self.slot(key)?;
        let v = s.load(Ordering::Relaxed);
        (v >> 32 << 32 == tag).then(|| now_us.wrapping_sub(v as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_times_for_small_scans() {
        let s = SendTimes::new(10);
        assert_eq!(s.since(3, 100), None);
        s.record(3, 40);
        assert_eq!(s.since(3, 100), Some(60));
        // Wrapping clock: sent just before the 32-bit wrap, answered after it.
        s.record(4, u32::MAX - 9);
        assert_eq!(s.since(4, 10), Some(20));
        // A time of 0 is a time like any other.
        s.record(5, 0);
        assert_eq!(s.since(5, 7), Some(7));
        assert_eq!(s.since(16, 7), None, "a later key in the same slot");
        assert_eq!(SendTimes::new(0).since(0, 1), None);
    }

    #[test]
    fn big_scans_keep_a_window_of_the_latest_keys() {
        let s = SendTimes::new(1 << 40);
        s.record(5, 1);
        assert_eq!(s.since(5, 3), Some(2));
        // A key a window later takes the slot: the older one's time is gone, not wrong.
        s.record(5 + WINDOW, 10);
        assert_eq!(s.since(5, 13), None);
        assert_eq!(s.since(5 + WINDOW, 13), Some(3));
        assert_eq!(s.since(5 + 2 * WINDOW, 13), None);
        assert_eq!(s.since(6, 13), None, "never recorded");
        // Far keys still tell apart (the tag wraps only after 2^51 keys).
        s.record((1 << 40) - 1, 50);
        assert_eq!(s.since((1 << 40) - 1, 60), Some(10));
    }
}
