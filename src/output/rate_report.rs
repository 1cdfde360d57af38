//! The summary's canary line: what the canaries cost, the loss they saw, and, at a fixed
//! rate, the warning that answers were lost.

use std::fmt;

use super::Summary;

/// Canaries decided before their loss is worth a warning.
const WARN_MIN_DECIDED: u64 = 50;
/// Loss from which a fixed rate is said to have lost answers: above what a sender's
/// scheduling jitter costs against a tight policer, well below a rate that overruns one.
const WARN_LOSS: f64 = 0.10;

/// Whether the canaries say that a fixed rate lost answers a slower one would have found.
pub fn lost_answers(s: &Summary) -> bool {
    let c = &s.canaries;
    s.auto_rate.is_none()
        && c.answered + c.lost >= WARN_MIN_DECIDED
        && c.loss().is_some_and(|l| l >= WARN_LOSS)
}

/// `\nsynprobe: canaries: ...` when any were sent.
pub fn write(f: &mut fmt::Formatter<'_>, s: &Summary) -> fmt::Result {
    let c = &s.canaries;
    if c.sent == 0 && s.auto_rate.is_none() {
        return Ok(());
    }
    let share = c.sent as f64 * 100.0 / s.sent.max(1) as f64;
    write!(
        f,
        "\nsynprobe: canaries: {} sent ({share:.1} % of probes)",
        c.sent
    )?;
    match c.loss() {
        Some(l) => write!(f, ", {:.0} % unanswered", l * 100.0)?,
        None => write!(f, ", none decided")?,
    }
    if let Some(r) = s.auto_rate {
        write!(f, "; rate auto ended at {:.0}/s", r)?;
    }
    if lost_answers(s) {
        write!(
            f,
            "\nsynprobe: warning: canaries: {:.0} % unanswered; results are incomplete, try --rate auto or a lower rate",
            c.loss().unwrap_or(0.0) * 100.0
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::CanaryTotals;

    fn with(sent: u64, answered: u64, lost: u64, auto: Option<f64>) -> String {
        Summary {
            sent: 10_000,
            canaries: CanaryTotals {
                sent,
                answered,
                lost,
            },
            auto_rate: auto,
            ..Default::default()
        }
        .to_string()
    }

    #[test]
    fn warns_only_for_a_fixed_rate_that_lost_answers() {
        let t = with(150, 62, 38, None);
        assert!(
            t.contains("canaries: 150 sent (1.5 % of probes), 38 % unanswered"),
            "{t}"
        );
        assert!(
            t.contains(
                "canaries: 38 % unanswered; results are incomplete, try --rate auto or a lower rate"
            ),
            "{t}"
        );
        assert!(!with(150, 99, 1, None).contains("warning"));
        assert!(
            !with(40, 20, 20, None).contains("warning"),
            "too few to tell"
        );
        let t = with(150, 62, 38, Some(20_000.0));
        assert!(!t.contains("warning"), "{t}");
        assert!(t.contains("rate auto ended at 20000/s"), "{t}");
        assert!(!with(0, 0, 0, None).contains("canaries"));
    }
}
