//! One target's health as a load balancer sees it: a state that moves only after enough
//! consecutive results agree, so a single lost SYN never takes a target out of service and
//! a single answer never puts it back.

use std::fmt;
use std::time::Duration;

use super::config::Config;
use crate::probe::{ProbeResult, Reason, State};

/// A target's health; `Initial` until a threshold is first reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    Initial,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Initial => "initial",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one check: the reason the probe got, and its round-trip time if measured.
/// It passes exactly when the reason means `open` (SYN-ACK, or a completed split handshake),
/// the same verdict a load balancer's TCP check gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    pub reason: Reason,
    pub rtt: Option<Duration>,
}

impl Check {
    pub fn pass(rtt: Duration) -> Self {
        Check {
            reason: Reason::SynAck,
            rtt: Some(rtt),
        }
    }

    pub fn fail(reason: Reason) -> Self {
        Check { reason, rtt: None }
    }

    pub fn passed(&self) -> bool {
        self.reason.state() == State::Open
    }
}

impl From<&ProbeResult> for Check {
    fn from(r: &ProbeResult) -> Self {
        Check {
            reason: r.reason,
            rtt: r.rtt,
        }
    }
}

/// A change of health, what a printer renders as one event line. `at_ms` is the caller's
/// clock (`now_ms` given to [`Tracker::record`]); the printer maps it to wall time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: Health,
    pub to: Health,
    /// The reason of the check that completed the run (`rst`, `no-response`, `syn-ack`...).
    pub reason: Reason,
    /// How many consecutive checks agreed: the threshold that was reached.
    pub consecutive: u32,
    pub rtt: Option<Duration>,
    pub at_ms: u64,
}

/// One target's health and its run of agreeing results. Only one of the two counts is
/// non-zero: a pass ends a run of fails and the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracker {
    health: Health,
    passes: u32,
    fails: u32,
    last: Option<Check>,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracker {
    pub fn new() -> Self {
        Tracker {
            health: Health::Initial,
            passes: 0,
            fails: 0,
            last: None,
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// Consecutive passes so far (0 after a fail).
    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// Consecutive fails so far (0 after a pass).
    pub fn fails(&self) -> u32 {
        self.fails
    }

    /// The most recent check, for a snapshot.
    pub fn last(&self) -> Option<Check> {
        self.last
    }

    /// Counts one result and says whether the health changed.
    pub fn record(&mut self, config: &Config, check: Check, now_ms: u64) -> Option<Transition> {
        self.last = Some(check);
        let (run, to, threshold) = if check.passed() {
            self.fails = 0;
            self.passes = self.passes.saturating_add(1);
            (self.passes, Health::Healthy, config.healthy_threshold())
        } else {
            self.passes = 0;
            self.fails = self.fails.saturating_add(1);
            (self.fails, Health::Unhealthy, config.unhealthy_threshold())
        };
        // `==` rather than `>=`: the run crosses the threshold once; longer runs only confirm.
        if self.health == to || run != threshold {
            return None;
        }
        let from = self.health;
        self.health = to;
        Some(Transition {
            from,
            to,
            reason: check.reason,
            consecutive: run,
            rtt: check.rtt,
            at_ms: now_ms,
        })
    }

    /// Whether the target is checked at the fast interval: `initial`, or part-way through a
    /// run that would change its health (HAProxy's "transitionally up/down").
    pub fn in_transition(&self) -> bool {
        match self.health {
            Health::Initial => true,
            Health::Healthy => self.fails > 0,
            Health::Unhealthy => self.passes > 0,
        }
    }

    /// The period until this target's next check.
    pub fn period_ms(&self, config: &Config) -> u64 {
        if self.in_transition() {
            config.fast_interval_ms()
        } else {
            config.interval_ms()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::config::Settings;
    use crate::probe::Unreachable;

    fn config(healthy: u32, unhealthy: u32) -> Config {
        Settings {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            fast_interval: Some(Duration::from_secs(3)),
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
        }
        .validate()
        .unwrap()
    }

    fn ok() -> Check {
        Check::pass(Duration::from_micros(410))
    }

    /// Feeds checks at one per second and returns every transition.
    fn run(t: &mut Tracker, c: &Config, checks: &[Check]) -> Vec<Transition> {
        let mut out = Vec::new();
        for (i, &ch) in checks.iter().enumerate() {
            out.extend(t.record(c, ch, i as u64 * 1000));
        }
        out
    }

    #[test]
    fn open_reasons_pass_the_rest_fail() {
        assert!(Check::pass(Duration::ZERO).passed());
        assert!(
            Check::fail(Reason::Syn).passed(),
            "a split handshake listens"
        );
        for r in [
            Reason::Rst,
            Reason::NoResponse,
            Reason::Icmp(Unreachable::Port),
            Reason::NoRoute,
            Reason::NoNeighbour,
        ] {
            assert!(!Check::fail(r).passed(), "{r}");
        }
    }

    #[test]
    fn initial_to_healthy_after_healthy_threshold_passes() {
        let c = config(5, 2);
        let mut t = Tracker::new();
        assert_eq!(run(&mut t, &c, &[ok(); 4]), vec![]);
        assert_eq!(t.health(), Health::Initial);
        let ev = t.record(&c, ok(), 9_000).unwrap();
        assert_eq!(
            ev,
            Transition {
                from: Health::Initial,
                to: Health::Healthy,
                reason: Reason::SynAck,
                consecutive: 5,
                rtt: Some(Duration::from_micros(410)),
                at_ms: 9_000,
            }
        );
        assert_eq!(t.health(), Health::Healthy);
        assert_eq!(
            t.record(&c, ok(), 10_000),
            None,
            "a longer run only confirms"
        );
        assert_eq!(t.passes(), 6);
    }

    #[test]
    fn initial_to_unhealthy_after_unhealthy_threshold_fails() {
        let c = config(5, 2);
        let mut t = Tracker::new();
        let evs = run(
            &mut t,
            &c,
            &[ok(), Check::fail(Reason::Rst), Check::fail(Reason::Rst)],
        );
        assert_eq!(evs.len(), 1);
        let ev = evs[0];
        assert_eq!((ev.from, ev.to), (Health::Initial, Health::Unhealthy));
        assert_eq!((ev.reason, ev.consecutive, ev.rtt), (Reason::Rst, 2, None));
        assert_eq!(ev.at_ms, 2_000);
    }

    #[test]
    fn healthy_to_unhealthy_and_back_with_the_last_reason() {
        let c = config(3, 2);
        let mut t = Tracker::new();
        run(&mut t, &c, &[ok(); 3]);
        assert_eq!(t.health(), Health::Healthy);
        let drop = Check::fail(Reason::NoResponse);
        assert_eq!(t.record(&c, Check::fail(Reason::Rst), 0), None);
        let down = t.record(&c, drop, 1).unwrap();
        assert_eq!((down.from, down.to), (Health::Healthy, Health::Unhealthy));
        assert_eq!((down.reason, down.consecutive), (Reason::NoResponse, 2));
        assert_eq!(t.record(&c, ok(), 2), None);
        assert_eq!(t.record(&c, ok(), 3), None);
        let up = t.record(&c, ok(), 4).unwrap();
        assert_eq!(
            (up.from, up.to, up.consecutive),
            (Health::Unhealthy, Health::Healthy, 3)
        );
        assert_eq!(up.at_ms, 4);
    }

    #[test]
    fn thresholds_of_one_move_on_every_change() {
        let c = config(1, 1);
        let mut t = Tracker::new();
        let checks = [ok(), Check::fail(Reason::Rst), ok(), ok()];
        let evs: Vec<_> = run(&mut t, &c, &checks)
            .iter()
            .map(|e| (e.from, e.to, e.consecutive))
            .collect();
        assert_eq!(
            evs,
            vec![
                (Health::Initial, Health::Healthy, 1),
                (Health::Healthy, Health::Unhealthy, 1),
                (Health::Unhealthy, Health::Healthy, 1),
            ]
        );
        assert!(
            !t.in_transition(),
            "with thresholds of 1 nothing is ever half-way"
        );
    }

    #[test]
    fn flapping_never_reaches_a_threshold_of_two() {
        let c = config(2, 2);
        let mut t = Tracker::new();
        run(&mut t, &c, &[ok(), ok()]);
        assert_eq!(t.health(), Health::Healthy);
        let flaps: Vec<Check> = (0..100)
            .map(|i| {
                if i % 2 == 0 {
                    Check::fail(Reason::NoResponse)
                } else {
                    ok()
                }
            })
            .collect();
        assert_eq!(run(&mut t, &c, &flaps), vec![]);
        assert_eq!(t.health(), Health::Healthy);
        // From `initial`, flapping settles nothing either.
        let mut fresh = Tracker::new();
        assert_eq!(run(&mut fresh, &c, &flaps), vec![]);
        assert_eq!(fresh.health(), Health::Initial);
    }

    #[test]
    fn fast_interval_while_initial_or_between_states() {
        let c = config(3, 2);
        let mut t = Tracker::new();
        assert!(t.in_transition());
        assert_eq!(t.period_ms(&c), 3_000, "initial: fast");
        run(&mut t, &c, &[ok(); 3]);
        assert_eq!(t.period_ms(&c), 10_000, "settled healthy: normal");
        t.record(&c, Check::fail(Reason::Rst), 0);
        assert_eq!(t.period_ms(&c), 3_000, "one fail of two: fast");
        t.record(&c, ok(), 0);
        assert_eq!(t.period_ms(&c), 10_000, "the fail run broke: normal again");
        t.record(&c, Check::fail(Reason::Rst), 0);
        t.record(&c, Check::fail(Reason::Rst), 0);
        assert_eq!(t.health(), Health::Unhealthy);
        assert_eq!(t.period_ms(&c), 10_000, "settled unhealthy: normal");
        t.record(&c, ok(), 0);
        assert_eq!(t.period_ms(&c), 3_000, "one pass of three: fast");
        t.record(&c, Check::fail(Reason::Rst), 0);
        assert_eq!(t.period_ms(&c), 10_000);
    }
}
