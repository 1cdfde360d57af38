//! Pacing: how many probes may go out by a given moment. Time comes in as an argument, so the
//! pacer is tested in virtual time.
//!
//! The schedule is absolute: the count allowed by `now` is computed from the schedule's base,
//! never accumulated step by step, so rounding cannot drift over hours. The rate is held as
//! an integer count of micro-probes per second and the arithmetic is done in `u128`
//! nanoseconds, which is exact from fractions of a probe per second to billions per second.

/// Nanoseconds per second times micro-probes per probe: `allowed = elapsed_ns * micro / D`.
const D: u128 = 1_000_000_000 * 1_000_000;

/// Rates above this (a trillion probes per second) are indistinguishable from no limit.
const MAX_MICRO: f64 = 1e18;

/// An absolute schedule: `rate` probes per second from `start_ns`. Sending the permitted
/// count keeps the long-run average exact; bursts are capped at `burst`.
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Micro-probes per second; `None` for no limit.
    micro: Option<u128>,
    burst: u64,
    /// The schedule allows `base_sent + floor((now - base_ns) * micro / D)` by `now`. The base
    /// is the start until the sender falls more than `burst` behind; then it moves to forgive
    /// the debt.
    base_ns: u64,
    base_sent: u64,
    /// The latest `now` seen, which is what "now" means to `next_permit_ns` without a rate.
    last_now: u64,
}

impl Pacer {
    /// `rate` probes/s (or `None`: as fast as possible), scheduled from `start_ns`.
    ///
    /// The first probe is permitted one period after `start_ns`. A `burst` of 0 counts as 1.
    /// Rates are meant to be validated by the caller; here a rate that is not a positive
    /// number is clamped to one probe per 10^6 s, and an infinite one means no limit.
    pub fn new(rate: Option<f64>, burst: u64, start_ns: u64) -> Self {
        let micro = rate.and_then(|r| {
            let m = r * 1e6;
            if m >= MAX_MICRO {
                None
            } else if m >= 1.0 {
                Some(m.round() as u128)
            } else {
                Some(1)
            }
        });
        Pacer {
            micro,
            burst: burst.max(1),
            base_ns: start_ns,
            base_sent: 0,
            last_now: start_ns,
        }
    }

    /// The rate in probes per second as the pacer applies it (rounded to a micro-probe per
    /// second), or `None` for no limit.
    pub fn rate(&self) -> Option<f64> {
        self.micro.map(|m| m as f64 / 1e6)
    }

    /// The most probes one call to `permits` returns.
    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// From `now_ns` on, `rate` probes/s (`--rate auto` changes it as it goes), `sent` so
    /// far. The schedule is rebased at `now_ns` with the count it allowed by then (never more
    /// than a burst ahead of `sent`), so a change neither bursts nor loses the phase.
    pub fn set_rate(&mut self, rate: Option<f64>, now_ns: u64, sent: u64) {
        let allowed = match self.micro {
            Some(m) => self.allowed(m, now_ns).min(sent.saturating_add(self.burst)),
            None => sent,
        };
        let burst = self.burst;
        *self = Pacer::new(rate, burst, now_ns);
        self.base_sent = allowed;
        self.last_now = now_ns;
    }

    /// How many probes the schedule allows in total by `now_ns`.
    fn allowed(&self, micro: u128, now_ns: u64) -> u64 {
        let elapsed = u128::from(now_ns.saturating_sub(self.base_ns));
        let accrued = u64::try_from(elapsed * micro / D).unwrap_or(u64::MAX);
        self.base_sent.saturating_add(accrued)
    }

    /// How many probes may be sent now, given `sent` so far since the schedule began, at `now_ns` (nanoseconds on any monotonic clock).
    ///
    /// Never more than `burst`. A sender more than `burst` behind (descheduled, or slower
    /// than the rate) has the rest of its debt forgiven: the schedule is rebased so that it
    /// neither bursts to catch up now nor overshoots later.
    pub fn permits(&mut self, now_ns: u64, sent: u64) -> u64 {
        self.last_now = self.last_now.max(now_ns);
        let Some(micro) = self.micro else {
            return self.burst;
        };
        let debt = self.allowed(micro, now_ns).saturating_sub(sent);
        if debt > self.burst {
            // Rebasing drops less than one period of phase, and only when behind.
            self.base_ns = now_ns;
            self.base_sent = sent.saturating_add(self.burst);
            return self.burst;
        }
        debt
    }

    /// The earliest moment (ns) at which one more probe is permitted: the first `t` with
    /// `allowed(t) > sent`. A moment not after the latest `now` given to `permits` means
    /// "already"; without a rate that is always the answer.
    pub fn next_permit_ns(&self, sent: u64) -> u64 {
        let Some(micro) = self.micro else {
            return self.last_now;
        };
        let need = sent.saturating_add(1);
        if need <= self.base_sent {
            return self.base_ns;
        }
        let k = u128::from(need - self.base_sent);
        let elapsed = (k * D).div_ceil(micro);
        let elapsed = u64::try_from(elapsed).unwrap_or(u64::MAX);
        self.base_ns.saturating_add(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    /// xorshift64*: deterministic jitter without a crate.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
        }
    }

    /// Ideal count by `now` for a schedule started at `start`.
    fn ideal(rate: f64, start: u64, now: u64) -> u64 {
        ((now - start) as u128 * (rate * 1e6).round() as u128 / D) as u64
    }

    struct Run {
        sent: u64,
        max_permits: u64,
        /// (time, sent after that call) for each call.
        trace: Vec<(u64, u64)>,
    }

    /// A sender that wakes at random intervals (mean `mean_gap` ns) and sends all it may,
    /// pausing for `stall` ns at `stall_at`.
    fn simulate(
        rate: f64,
        burst: u64,
        start: u64,
        duration: u64,
        mean_gap: u64,
        stall: Option<(u64, u64)>,
    ) -> Run {
        let mut p = Pacer::new(Some(rate), burst, start);
        let mut rng = Rng(0x1234_5678_9abc_def1 ^ rate as u64);
        let mut now = start;
        let mut run = Run {
            sent: 0,
            max_permits: 0,
            trace: Vec::new(),
        };
        let mut stalled = false;
        while now < start + duration {
            let n = p.permits(now, run.sent);
            run.max_permits = run.max_permits.max(n);
            run.sent += n;
            run.trace.push((now, run.sent));
            now += 1 + rng.below(2 * mean_gap);
            if let Some((at, len)) = stall
                && !stalled
                && now >= start + at
            {
                stalled = true;
                now += len;
            }
        }
        let n = p.permits(start + duration, run.sent);
        run.max_permits = run.max_permits.max(n);
        run.sent += n;
        run.trace.push((start + duration, run.sent));
        run
    }

    #[test]
    fn average_rate_is_exact_and_bursts_capped() {
        for rate in [1_000.0, 10_000.0, 100_000.0, 200_000.0, 1_000_000.0] {
            let mean_gap = 100_000; // 100 us between wake-ups on average
            let burst = ((rate * 2.0 * mean_gap as f64 / 1e9) * 1.5) as u64 + 16;
            let start = 5 * SEC;
            let run = simulate(rate, burst, start, 10 * SEC, mean_gap, None);
            let target = rate * 10.0;
            let err = (run.sent as f64 - target).abs() / target;
            assert!(err < 0.005, "rate {rate}: sent {} of {target}", run.sent);
            assert!(run.max_permits <= burst, "rate {rate}");
            // Keeping up, the sender tracks the ideal schedule from the start, never ahead.
            for &(t, sent) in &run.trace {
                let ideal = ideal(rate, start, t);
                assert!(sent <= ideal && ideal - sent <= burst, "rate {rate} at {t}");
            }
            assert_eq!(
                run.sent,
                ideal(rate, start, start + 10 * SEC),
                "rate {rate}"
            );
        }
    }

    #[test]
    fn stall_does_not_burst_or_overshoot() {
        for rate in [1_000.0, 100_000.0, 1_000_000.0] {
            let mean_gap = 50_000;
            let burst = ((rate * 2.0 * mean_gap as f64 / 1e9) * 1.5) as u64 + 16;
            let run = simulate(rate, burst, 0, 10 * SEC, mean_gap, Some((5 * SEC, SEC)));
            assert!(run.max_permits <= burst, "rate {rate}");
            // Over any window, no more than the rate allows plus one burst.
            let resume = run.trace.iter().position(|&(t, _)| t > 6 * SEC).unwrap();
            let t0 = run.trace[resume].0;
            let s0 = run.trace[resume - 1].1;
            assert_eq!(
                run.trace[resume].1 - s0,
                burst,
                "rate {rate}: one burst on resume"
            );
            for &(t, s) in &run.trace[resume..] {
                let allowance = ideal(rate, t0, t) + burst;
                assert!(s - s0 <= allowance, "rate {rate}: {} by {t}", s - s0);
            }
            // The second lost is forgiven, not made up: about 9 s worth in 10 s.
            let target = rate * 9.0;
            let err = (run.sent as f64 - target).abs() / target;
            assert!(err < 0.005, "rate {rate}: sent {} of {target}", run.sent);
        }
    }

    #[test]
    fn next_permit_is_consistent_with_permits() {
        for rate in [1.0, 0.5, 3.0, 1_000.0, 333_333.3, 1_000_000.0, 10_000_000.0] {
            let mut p = Pacer::new(Some(rate), 8, 42);
            let mut rng = Rng(7);
            let mut sent = 0u64;
            let mut now = 42u64;
            for _ in 0..200 {
                let t = p.next_permit_ns(sent);
                if t > now {
                    assert_eq!(p.clone().permits(t - 1, sent), 0, "rate {rate}");
                }
                let at = t.max(now);
                let n = p.clone().permits(at, sent);
                assert!(n >= 1, "rate {rate}: none at {at}");
                now = at + rng.below(3 * (1e9 / rate) as u64);
                sent += p.permits(now, sent).min(1 + rng.below(3));
            }
        }
    }

    #[test]
    fn sender_sleeping_until_next_permit_is_exact() {
        for rate in [1.0, 7.0, 1_000.0, 200_000.0, 10_000_000.0] {
            let mut p = Pacer::new(Some(rate), 4, 0);
            let mut sent = 0;
            let end = 2 * SEC;
            loop {
                let t = p.next_permit_ns(sent);
                if t > end {
                    break;
                }
                sent += p.permits(t, sent);
            }
            assert_eq!(sent, ideal(rate, 0, end), "rate {rate}");
        }
    }

    #[test]
    fn no_drift_over_hours() {
        let rate = 3_333_333.3;
        let start = 1_000_000 * SEC;
        let mut p = Pacer::new(Some(rate), 1 << 20, start);
        let mut sent = 0;
        // A sender that keeps up with 100 ms wake-ups for 5 virtual hours.
        let mut now = start;
        while now < start + 5 * 3600 * SEC {
            now += SEC / 10;
            sent += p.permits(now, sent);
        }
        assert_eq!(sent, ideal(rate, start, now));
        assert_eq!(p.rate(), Some(3_333_333.3));
    }

    #[test]
    fn first_probe_after_one_period() {
        let p = Pacer::new(Some(0.5), 1, 100);
        assert_eq!(p.next_permit_ns(0), 100 + 2 * SEC);
        let mut p = Pacer::new(Some(1_000.0), 10, 0);
        assert_eq!(p.permits(999_999, 0), 0);
        assert_eq!(p.permits(1_000_000, 0), 1);
        assert_eq!(p.next_permit_ns(1), 2_000_000);
    }

    #[test]
    fn unlimited_always_permits_a_burst() {
        let mut p = Pacer::new(None, 64, 0);
        assert_eq!(p.rate(), None);
        for (now, sent) in [(0, 0), (5, 1_000_000), (5, u64::MAX)] {
            assert_eq!(p.permits(now, sent), 64);
            assert!(p.next_permit_ns(sent) <= now);
        }
        assert_eq!(Pacer::new(Some(f64::INFINITY), 8, 0).rate(), None);
    }

    #[test]
    fn a_rate_change_keeps_the_phase_and_never_bursts() {
        let mut p = Pacer::new(Some(1_000.0), 8, 0);
        let mut sent = 0;
        let mut now = 0;
        // 1,000/s for a second, 4,000/s for a second, 500/s for a second, 1 ms wake-ups.
        for (rate, until) in [(1_000.0, SEC), (4_000.0, 2 * SEC), (500.0, 3 * SEC)] {
            if now > 0 {
                p.set_rate(Some(rate), now, sent);
            }
            while now < until {
                now += SEC / 1000;
                let n = p.permits(now, sent);
                assert!(n <= 4, "at {now}: {n}");
                sent += n;
            }
        }
        assert_eq!(sent, 1_000 + 4_000 + 500);
        // From no limit to a limit: no debt, no burst.
        let mut p = Pacer::new(None, 64, 0);
        p.set_rate(Some(1_000.0), SEC, 5_000);
        assert_eq!(p.permits(SEC, 5_000), 0);
        assert_eq!(p.permits(SEC + SEC / 100, 5_000), 10);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for rate in [0.0, -5.0, f64::NAN, 1e-9, 1e30] {
            let mut p = Pacer::new(Some(rate), 0, u64::MAX - 10);
            let _ = p.permits(u64::MAX, u64::MAX);
            let _ = p.permits(0, 0);
            let _ = p.next_permit_ns(u64::MAX);
            let _ = p.next_permit_ns(0);
        }
        assert_eq!(Pacer::new(Some(1.0), 0, 0).burst(), 1);
    }
}
