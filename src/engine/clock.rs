//! The one clock of a run: nanoseconds and microseconds since the run began. The pure core
//! takes these numbers as arguments; only the engine reads the clock.

use std::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
    /// Added to every TCP timestamp, as Linux adds a random offset per connection, so the
    /// value tells an observer nothing about this host's clock.
    ts_offset: u32,
}

impl Clock {
    pub fn start(ts_offset: u32) -> Self {
        Clock {
            base: Instant::now(),
            ts_offset,
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// The TCP timestamp of a SYN sent at `realtime_ns` (the clock the kernel stamps received
    /// frames with): milliseconds plus the run's offset, as a Linux client's. The target
    /// echoes it, so a reply carries its send time to the millisecond without a table.
    pub fn tsval_at(&self, realtime_ns: u64) -> u32 {
        self.ts_offset
            .wrapping_add((realtime_ns / 1_000_000) as u32)
    }

    /// Sleep until `deadline_ns`; sleeps coarsely, then spins the last stretch, because
    /// the kernel's timer slack (~50 us) would otherwise skew high rates.
    pub fn sleep_until(&self, deadline_ns: u64) {
        loop {
            let now = self.now_ns();
            if now >= deadline_ns {
                return;
            }
            let left = deadline_ns - now;
            if left > 200_000 {
                std::thread::sleep(std::time::Duration::from_nanos(left - 100_000));
            } else if left > 20_000 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_count_milliseconds_from_the_offset() {
        let c = Clock::start(u32::MAX - 1);
        assert_eq!(c.tsval_at(0), u32::MAX - 1);
        assert_eq!(c.tsval_at(999_999), u32::MAX - 1);
        assert_eq!(c.tsval_at(3_000_000), 1); // wraps like a Linux TSval
    }
}
