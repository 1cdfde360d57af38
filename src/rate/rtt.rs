//! The round-trip time as TCP smooths it (RFC 6298): how long a canary may take before it
//! counts as lost.

/// The least wait for a canary. The receiver hands over replies every 10 ms at worst, and
/// a target's stack may take a few ms more: a shorter wait would count late answers as loss.
const MIN_TIMEOUT_US: u64 = 30_000;
/// The longest: a path slower than this is not one a scan's canaries can follow anyway.
const MAX_TIMEOUT_US: u64 = 3_000_000;
/// Before any sample: a second, as TCP's initial RTO.
const INITIAL_TIMEOUT_US: u64 = 1_000_000;

#[derive(Clone, Debug, Default)]
pub struct RttEstimator {
    /// Smoothed RTT and its mean deviation, microseconds; `None` before the first sample.
    srtt_var: Option<(f64, f64)>,
}

impl RttEstimator {
    /// One sample, microseconds.
    pub fn sample(&mut self, us: u64) {
        let r = us as f64;
        self.srtt_var = Some(match self.srtt_var {
            None => (r, r / 2.0),
            Some((s, v)) => (s + (r - s) / 8.0, v + ((r - s).abs() - v) / 4.0),
        });
    }

    /// The smoothed RTT, microseconds.
    pub fn srtt_us(&self) -> Option<u64> {
        self.srtt_var.map(|(s, _)| s as u64)
    }

    /// How long to wait for an answer before calling it lost: srtt + 4 rttvar, clamped.
    pub fn timeout_us(&self) -> u64 {
        match self.srtt_var {
            None => INITIAL_TIMEOUT_US,
            Some((s, v)) => ((s + 4.0 * v) as u64).clamp(MIN_TIMEOUT_US, MAX_TIMEOUT_US),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_follows_the_samples_within_bounds() {
        let mut r = RttEstimator::default();
        assert_eq!(r.timeout_us(), INITIAL_TIMEOUT_US);
        for _ in 0..50 {
            r.sample(200);
        }
        assert_eq!(
            r.timeout_us(),
            MIN_TIMEOUT_US,
            "a fast path waits the floor"
        );
        for _ in 0..50 {
            r.sample(100_000);
        }
        let t = r.timeout_us();
        assert!((100_000..200_000).contains(&t), "{t}");
        r.sample(u64::MAX / 2);
        assert_eq!(r.timeout_us(), MAX_TIMEOUT_US);
        assert!(r.srtt_us().is_some());
    }
}
