//! How many due checks `watch`'s driver hands to the send thread, and when to say that the
//! send rate is too low for the fleet. Pure: time comes in as milliseconds.
//!
//! A check's deadline starts when it is handed over. Were every due check handed over at
//! once, a rate below what the fleet needs (a low `--rate`, or what `--rate auto` found the
//! path takes) would queue them in the send thread, and a check still queued past its
//! timeout would fail in silence: a false alarm about a target that was never asked. So
//! the driver admits one tick's worth of the rate at a time; the rest stay in the fleet's
//! schedule, where they run late and are counted late (`Fleet::late`), as a load balancer
//! with too many targets for its checkers would.

/// The first look at lateness is this long after the start (slow start is over by then)...
const FIRST_NOTICE_MS: u64 = 10_000;
/// ...and later ones this often, at most one notice each.
const NOTICE_EVERY_MS: u64 = 60_000;

/// A token bucket of checks: `rate` a second, holding at most a tick's worth.
pub struct Admission {
    /// `None`: no rate, everything due is handed over.
    rate: Option<f64>,
    tokens: f64,
    last_ms: u64,
    tick_ms: u64,
}

impl Admission {
    /// At `rate` probes/s (or none), a tick's worth at a time.
    pub fn new(rate: Option<f64>, tick_ms: u64, now_ms: u64) -> Self {
        Admission {
            rate,
            tokens: 0.0,
            last_ms: now_ms,
            tick_ms,
        }
    }

    /// The rate from now on (`--rate auto` moves it); what was saved up is kept, within the
    /// new rate's tick.
    pub fn set_rate(&mut self, rate: Option<f64>, now_ms: u64) {
        if rate != self.rate {
            self.refill(now_ms);
            self.rate = rate;
            self.tokens = self.tokens.min(self.cap());
        }
    }

    /// How many checks may be handed over now (`u64::MAX` without a rate).
    pub fn budget(&mut self, now_ms: u64) -> u64 {
        if self.rate.is_none() {
            return u64::MAX;
        }
        self.refill(now_ms);
        self.tokens as u64
    }

    /// `n` checks were handed over.
    pub fn admitted(&mut self, n: u64) {
        if self.rate.is_some() {
            self.tokens = (self.tokens - n as f64).max(0.0);
        }
    }

    /// A tick's worth of the rate, at least one check.
    fn cap(&self) -> f64 {
        self.rate
            .map_or(0.0, |r| (r * self.tick_ms as f64 / 1_000.0).max(1.0))
    }

    fn refill(&mut self, now_ms: u64) {
        let dt = now_ms.saturating_sub(self.last_ms) as f64 / 1_000.0;
        self.last_ms = self.last_ms.max(now_ms);
        if let Some(r) = self.rate {
            self.tokens = (self.tokens + r * dt).min(self.cap());
        }
    }
}

/// Says, 10 s after the start and then at most once a minute, that checks ran late because
/// the send rate is below what the fleet needs.
#[derive(Default)]
pub struct LateNotice {
    /// When it last looked, and the late count then.
    last: Option<(u64, u64)>,
    looked: bool,
}

impl LateNotice {
    /// At `now_ms`, `late` checks late so far, the send rate `rate` (`auto`: held by the
    /// controller) and `targets` every `interval_ms`: a line to print, if one is due.
    pub fn check(
        &mut self,
        now_ms: u64,
        late: u64,
        rate: Option<f64>,
        auto: bool,
        targets: usize,
        interval_ms: u64,
    ) -> Option<String> {
        let Some((at, before)) = self.last else {
            self.last = Some((now_ms, late));
            return None;
        };
        let every = if self.looked {
            NOTICE_EVERY_MS
        } else {
            FIRST_NOTICE_MS
        };
        if now_ms.saturating_sub(at) < every {
            return None;
        }
        self.last = Some((now_ms, late));
        self.looked = true;
        let rate = rate?;
        let needed = targets as f64 * 1_000.0 / interval_ms.max(1) as f64;
        if late <= before || rate >= needed {
            return None;
        }
        let how = if auto {
            "what --rate auto finds the path takes"
        } else {
            "--rate"
        };
        Some(format!(
            "{} ran late in the last {:.0} s: {how} is {rate:.0} probes/s, below the {needed:.0}/s \
             that {targets} targets every {:.1} s need; lengthen --interval or split the fleet",
            crate::output::plural(late - before, "check", "checks"),
            (now_ms - at) as f64 / 1_000.0,
            interval_ms as f64 / 1_000.0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticks_worth_of_the_rate_is_admitted_at_a_time() {
        let mut a = Admission::new(Some(1_000.0), 50, 0);
        // 1,000/s over 50 ms ticks: 50 a tick, whatever is due.
        assert_eq!(a.budget(50), 50);
        a.admitted(50);
        assert_eq!(a.budget(50), 0, "nothing more until the next tick");
        assert_eq!(a.budget(100), 50);
        a.admitted(50);
        // A long pause forgives the debt: never more than a tick's worth at once.
        assert_eq!(a.budget(10_000), 50);
        // Over a second of ticks, the rate and no more.
        let mut total = 0;
        let mut a = Admission::new(Some(1_000.0), 50, 0);
        for t in 1..=20 {
            let b = a.budget(t * 50);
            a.admitted(b);
            total += b;
        }
        assert_eq!(total, 1_000);
    }

    #[test]
    fn without_a_rate_everything_due_goes() {
        let mut a = Admission::new(None, 50, 0);
        assert_eq!(a.budget(0), u64::MAX);
        a.set_rate(Some(2_000.0), 100);
        assert_eq!(a.budget(150), 100, "2,000/s: 100 a tick");
        a.set_rate(None, 200);
        assert_eq!(a.budget(200), u64::MAX);
    }

    #[test]
    fn a_new_rate_holds_from_now() {
        let mut a = Admission::new(Some(1_000.0), 50, 0);
        let b = a.budget(50);
        a.admitted(b);
        a.set_rate(Some(4_000.0), 50);
        assert_eq!(a.budget(50), 0, "no burst at the change");
        assert_eq!(a.budget(100), 200);
        // A tiny rate still admits one check at a time.
        let mut a = Admission::new(Some(1.0), 50, 0);
        assert_eq!(a.budget(1_000), 1);
    }

    #[test]
    fn late_checks_are_told_once_a_minute_when_the_rate_is_short() {
        let mut n = LateNotice::default();
        let t = 100_000; // targets
        assert_eq!(n.check(0, 0, Some(5_000.0), true, t, 10_000), None);
        assert_eq!(n.check(5_000, 500, Some(5_000.0), true, t, 10_000), None);
        let line = n
            .check(10_000, 600, Some(5_000.0), true, t, 10_000)
            .unwrap();
        assert!(
            line.starts_with("600 checks ran late in the last 10 s"),
            "{line}"
        );
        // Then once a minute.
        assert_eq!(n.check(30_000, 700, Some(5_000.0), true, t, 10_000), None);
        let line = n
            .check(70_000, 1_500, Some(5_000.0), true, t, 10_000)
            .unwrap();
        assert!(
            line.starts_with("900 checks ran late in the last 60 s"),
            "{line}"
        );
        assert!(line.contains("--rate auto"), "{line}");
        assert!(line.contains("10000/s"), "{line}");
        // Late, but the rate is enough (the machine was busy): not the rate's doing.
        assert_eq!(
            n.check(130_000, 1_550, Some(20_000.0), true, t, 10_000),
            None
        );
        // On time again: nothing to say.
        assert_eq!(
            n.check(190_000, 1_550, Some(5_000.0), true, t, 10_000),
            None
        );
        // A fixed rate is named as such; no rate at all is never the cause.
        let line = n
            .check(250_000, 1_551, Some(10.0), false, t, 10_000)
            .unwrap();
        assert!(line.starts_with("1 check ran late") && line.contains("--rate is 10"));
        assert_eq!(n.check(310_000, 1_599, None, false, t, 10_000), None);
    }
}
