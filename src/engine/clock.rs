//! The one clock of a run: nanoseconds and microseconds since the run began. The pure core
//! takes these numbers as arguments; only the engine reads the clock.

use std::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
}

impl Clock {
    pub fn start() -> Self {
        Clock {
            base: Instant::now(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// The TCP timestamp we send: microseconds on the clock the kernel stamps received
    /// frames with (CLOCK_REALTIME), wrapping every 71 minutes. The target echoes it, so a
    /// reply carries its own send time and the RTT needs no table.
    pub fn tsval(&self) -> u32 {
        (crate::io::realtime_ns() / 1000) as u32
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
