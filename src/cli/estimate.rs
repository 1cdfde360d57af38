//! How long a scan takes at the asked rate: for the warning before a long scan and for
//! `--dry-run`. Pure arithmetic over the pair count, rate, retries and wait.

use std::time::Duration;

/// A scan whose first round takes longer than this is warned about before it starts.
pub const LONG_SCAN: Duration = Duration::from_secs(3600);

/// The duration of a scan of `pairs` pairs: its first round (every pair sent, then the
/// wait), and at most (every retry round re-sending every pair, as when nothing answers).
/// Retry rounds re-send only the silent pairs, so the truth lies between the two.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub first_round: Duration,
    pub at_most: Duration,
}

/// `None` at `--rate max`: the rate is what the machine sustains, unknown beforehand.
pub fn estimate(pairs: u64, rate: Option<f64>, retries: u32, wait: Duration) -> Option<Estimate> {
    let rate = rate?;
    let send = pairs as f64 / rate;
    let round = send + wait.as_secs_f64();
    // Durations beyond what Duration holds are shown as such anyway ("centuries").
    let clamp = |s: f64| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX);
    Some(Estimate {
        first_round: clamp(round),
        at_most: clamp(round * f64::from(retries + 1)),
    })
}

/// A duration to the nearest unit a person plans with: `45 s`, `12 min`, `3 h 20 min`,
/// `4 days 23 h`.
pub fn show_long(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        return format!("{:.0} ms", s * 1000.0);
    }
    let secs = d.as_secs();
    let (days, hours, mins) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if s < 60.0 {
        format!("{s:.1} s")
    } else if secs < 3600 {
        format!("{mins} min {} s", secs % 60)
    } else if secs < 86_400 {
        format!("{hours} h {mins} min")
    } else if days < 3650 {
        format!("{days} day{} {hours} h", if days == 1 { "" } else { "s" })
    } else {
        format!("{} years", days / 365)
    }
}

/// The warning before a scan whose first round takes over `LONG_SCAN`; `None` otherwise.
pub fn long_scan_warning(
    pairs: u64,
    rate: Option<f64>,
    retries: u32,
    wait: Duration,
) -> Option<String> {
    let e = estimate(pairs, rate, retries, wait)?;
    if e.first_round <= LONG_SCAN {
        return None;
    }
    let rate = rate.unwrap_or_default();
    let retry_part = if retries == 0 {
        String::new()
    } else {
        format!(
            ", up to {} with {retries} retry round{} if nothing answers",
            show_long(e.at_most),
            if retries == 1 { "" } else { "s" }
        )
    };
    Some(format!(
        "warning: {pairs} pairs at {rate} probes/s take about {}{retry_part}; \
         --rate raises the pace, --dry-run shows the plan without sending",
        show_long(e.first_round)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_round_and_upper_bound() {
        let e = estimate(20_000, Some(10_000.0), 1, Duration::from_secs(1)).unwrap();
        assert_eq!(e.first_round, Duration::from_secs(3));
        assert_eq!(e.at_most, Duration::from_secs(6));
        assert_eq!(estimate(20_000, None, 1, Duration::from_secs(1)), None);
    }

    #[test]
    fn durations_read_as_a_person_plans() {
        assert_eq!(show_long(Duration::from_millis(250)), "250 ms");
        assert_eq!(show_long(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(show_long(Duration::from_secs(754)), "12 min 34 s");
        assert_eq!(
            show_long(Duration::from_secs(3 * 3600 + 20 * 60)),
            "3 h 20 min"
        );
        assert_eq!(show_long(Duration::from_secs(86_400 + 3600)), "1 day 1 h");
        assert_eq!(
            show_long(Duration::from_secs(4 * 86_400 + 23 * 3600)),
            "4 days 23 h"
        );
        assert_eq!(
            show_long(Duration::MAX),
            format!("{} years", u64::MAX / 86_400 / 365)
        );
    }

    #[test]
    fn warns_only_past_an_hour() {
        let wait = Duration::from_secs(1);
        // A /16 x 80 at 10k/s: 6.6 s. No warning.
        assert_eq!(long_scan_warning(65_536, Some(10_000.0), 1, wait), None);
        // A /16 x all ports at 10k/s: about 5 days.
        let w = long_scan_warning(65_536 * 65_535, Some(10_000.0), 1, wait).unwrap();
        assert_eq!(
            w,
            "warning: 4294901760 pairs at 10000 probes/s take about 4 days 23 h, up to 9 days 22 h \
             with 1 retry round if nothing answers; --rate raises the pace, --dry-run shows the \
             plan without sending"
        );
        // Just over an hour, no retries.
        let w = long_scan_warning(36_010_000, Some(10_000.0), 0, Duration::ZERO).unwrap();
        assert!(w.contains("about 1 h 0 min;"), "{w}");
        assert_eq!(long_scan_warning(u64::MAX, None, 1, wait), None);
    }
}
