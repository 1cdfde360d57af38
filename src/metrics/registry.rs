//! `Metrics`: synprobe's metric families in one prometheus-client registry, updated by the
//! watch driver through [`Observer`] and written out by [`Metrics::render`].
//!
//! The per-check path (`checked`, `probes_sent`) touches only pre-made handles: an atomic
//! add for the reason's counter and one short lock for the RTT histogram, no label hashing
//! and no allocation, because 100,000 targets every 10 s make 10,000 calls a second.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::exposition::Format;
use super::labels::{KindLabel, REASONS, TRANSITIONS, TransitionLabels, reason_slot};
use super::targets::Targets;
use crate::health::{Check, Event, Health, Observer};
use crate::rate::CanaryTotals;

/// Histogram bounds in seconds, 1-2.5-5 per decade from 100 us (a SYN-ACK across a rack)
/// to 10 s (the longest `--timeout` that still makes sense).
pub const RTT_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    targets: Arc<Targets>,
    probes_sent: Counter,
    /// One handle per reason, indexed by `reason_slot`; the family holds the same counters.
    replies: Vec<Counter>,
    rtt: Histogram,
    transitions: Family<TransitionLabels, Counter>,
    checks_late: Counter,
    send_rate: Gauge<f64, std::sync::atomic::AtomicU64>,
    canaries_answered: Counter,
    canaries_lost: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("synprobe");

        let probes_sent = Counter::default();
        registry.register(
            "probes_sent",
            "SYNs sent by health checks, retries included",
            probes_sent.clone(),
        );

        let reply_family = Family::<KindLabel, Counter>::default();
        let replies = REASONS
            .iter()
            .map(|r| reply_family.get_or_create_owned(&KindLabel { kind: r.as_str() }))
            .collect();
        registry.register(
            "replies",
            "Checks by how they ended: the reply's kind (syn-ack, rst, icmp-...) or no-response, no-route, no-neighbour",
            reply_family,
        );

        let rtt = Histogram::new(RTT_BUCKETS);
        registry.register_with_unit(
            "probe_rtt",
            "Round-trip time of checks that got a SYN-ACK",
            Unit::Seconds,
            rtt.clone(),
        );

        let transitions = Family::<TransitionLabels, Counter>::default();
        for (from, to) in TRANSITIONS {
            transitions.get_or_create_owned(&transition_labels(from, to));
        }
        registry.register(
            "transitions",
            "Health state changes, by from and to state",
            transitions.clone(),
        );

        let checks_late = Counter::default();
        registry.register(
            "checks_late",
            "Checks that ran more than 10 % of the interval after their slot",
            checks_late.clone(),
        );

        let send_rate = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "send_rate",
            "Probes per second the checks may go out at: --rate, or what --rate auto holds now (0: no limit)",
            send_rate.clone(),
        );
        let canaries_answered = Counter::default();
        registry.register(
            "canaries_answered",
            "--rate auto's re-probes of answering targets that were answered in time",
            canaries_answered.clone(),
        );
        let canaries_lost = Counter::default();
        registry.register(
            "canaries_lost",
            "--rate auto's re-probes of answering targets that went unanswered: loss on the path",
            canaries_lost.clone(),
        );

        let targets = Arc::new(Targets::default());
        registry.register_collector(Box::new(targets.clone()));

        Metrics {
            registry,
            targets,
            probes_sent,
            replies,
            rtt,
            transitions,
            checks_late,
            send_rate,
            canaries_answered,
            canaries_lost,
        }
    }

    /// The OpenMetrics text exposition of every family.
    pub fn render(&self) -> String {
        self.render_as(Format::OpenMetrics)
    }

    pub fn render_as(&self, format: Format) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and no encoder of ours returns an error of its own.
        let written = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
        };
        debug_assert!(written.is_ok());
        out
    }

    /// How many targets have series now.
    pub fn targets(&self) -> usize {
        self.targets.len()
    }
}

fn transition_labels(from: Health, to: Health) -> TransitionLabels {
    TransitionLabels {
        from: from.as_str(),
        to: to.as_str(),
    }
}

impl Observer for Metrics {
    fn probes_sent(&self, n: u64) {
        self.probes_sent.inc_by(n);
    }

    fn checked(&self, _target: SocketAddr, check: &Check) {
        self.replies[reason_slot(check.reason)].inc();
        if let Some(rtt) = check.rtt {
            self.rtt.observe(rtt.as_secs_f64());
        }
    }

    fn health(&self, target: SocketAddr, health: Health) {
        self.targets.set(target, health);
    }

    fn transition(&self, event: &Event) {
        let t = &event.transition;
        self.transitions
            .get_or_create(&transition_labels(t.from, t.to))
            .inc();
    }

    fn removed(&self, target: SocketAddr) {
        self.targets.remove(target);
    }

    fn late_total(&self, total: u64) {
        // The driver reports a running total; a counter only moves up, so take the larger.
        self.checks_late.inner().fetch_max(total, Ordering::Relaxed);
    }

    fn pacing(&self, rate: Option<f64>, canaries: Option<CanaryTotals>) {
        self.send_rate.set(rate.unwrap_or(0.0));
        if let Some(c) = canaries {
            // Running totals, as `late_total`.
            self.canaries_answered
                .inner()
                .fetch_max(c.answered, Ordering::Relaxed);
            self.canaries_lost
                .inner()
                .fetch_max(c.lost, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::health::Transition;
    use crate::probe::{Reason, Unreachable};

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The value of the sample written exactly as `series` (name and labels), if present.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
            rest.split(' ').next()?.parse().ok()
        })
    }

    fn event(target: &str, from: Health, to: Health, reason: Reason) -> Event {
        Event {
            target: addr(target),
            transition: Transition {
                from,
                to,
                reason,
                consecutive: 2,
                rtt: None,
                at_ms: 0,
            },
        }
    }

    /// Two targets move as the origin timeline does; every family says what happened.
    fn scripted() -> Metrics {
        let m = Metrics::new();
        let (a, b) = ("198.18.0.1:80", "[2001:db8::1]:443");
        m.health(addr(a), Health::Initial);
        m.health(addr(b), Health::Initial);
        m.probes_sent(2);
        m.checked(addr(a), &Check::fail(Reason::Rst));
        m.checked(addr(b), &Check::pass(Duration::from_micros(300)));
        m.probes_sent(2);
        m.checked(addr(a), &Check::fail(Reason::Rst));
        m.checked(addr(b), &Check::pass(Duration::from_millis(3)));
        m.transition(&event(a, Health::Initial, Health::Unhealthy, Reason::Rst));
        m.health(addr(a), Health::Unhealthy);
        m.transition(&event(b, Health::Initial, Health::Healthy, Reason::SynAck));
        m.health(addr(b), Health::Healthy);
        m.probes_sent(1);
        m.checked(addr(a), &Check::fail(Reason::Icmp(Unreachable::Port)));
        m.late_total(3);
        m.late_total(1); // an older total arriving late never lowers the counter
        m
    }

    #[test]
    fn rendering_follows_the_observer_calls() {
        let text = scripted().render();
        let v = |s: &str| value(&text, s);
        assert_eq!(
            v(r#"synprobe_target_up{target="198.18.0.1:80"}"#),
            Some(0.0)
        );
        assert_eq!(
            v(r#"synprobe_target_up{target="[2001:db8::1]:443"}"#),
            Some(1.0)
        );
        let state = |t: &str, s: &str| {
            v(&format!(
                r#"synprobe_target_state{{target="{t}",state="{s}"}}"#
            ))
        };
        assert_eq!(state("198.18.0.1:80", "unhealthy"), Some(1.0));
        assert_eq!(state("198.18.0.1:80", "healthy"), Some(0.0));
        assert_eq!(state("198.18.0.1:80", "initial"), Some(0.0));
        assert_eq!(state("[2001:db8::1]:443", "healthy"), Some(1.0));
        assert_eq!(v(r#"synprobe_targets{state="healthy"}"#), Some(1.0));
        assert_eq!(v(r#"synprobe_targets{state="unhealthy"}"#), Some(1.0));
        assert_eq!(v(r#"synprobe_targets{state="initial"}"#), Some(0.0));
        assert_eq!(v("synprobe_probes_sent_total"), Some(5.0));
        assert_eq!(v(r#"synprobe_replies_total{kind="rst"}"#), Some(2.0));
        assert_eq!(v(r#"synprobe_replies_total{kind="syn-ack"}"#), Some(2.0));
        assert_eq!(
            v(r#"synprobe_replies_total{kind="icmp-port-unreachable"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"synprobe_replies_total{kind="no-response"}"#),
            Some(0.0)
        );
        assert_eq!(v("synprobe_probe_rtt_seconds_count"), Some(2.0));
        assert_eq!(
            v(r#"synprobe_probe_rtt_seconds_bucket{le="0.00025"}"#),
            Some(0.0)
        );
        assert_eq!(
            v(r#"synprobe_probe_rtt_seconds_bucket{le="0.0005"}"#),
            Some(1.0)
        );
        assert_eq!(
            v(r#"synprobe_probe_rtt_seconds_bucket{le="0.005"}"#),
            Some(2.0)
        );
        let tr = |f: &str, t: &str| {
            v(&format!(
                r#"synprobe_transitions_total{{from="{f}",to="{t}"}}"#
            ))
        };
        assert_eq!(tr("initial", "unhealthy"), Some(1.0));
        assert_eq!(tr("initial", "healthy"), Some(1.0));
        assert_eq!(tr("healthy", "unhealthy"), Some(0.0));
        assert_eq!(v("synprobe_checks_late_total"), Some(3.0));
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with EOF");
    }

    #[test]
    fn a_removed_target_leaves_no_series() {
        let m = scripted();
        m.removed(addr("198.18.0.1:80"));
        m.removed(addr("198.18.0.99:80")); // never watched: nothing to do
        let text = m.render();
        assert!(!text.contains("198.18.0.1:80"), "{text}");
        assert!(text.contains(r#"synprobe_target_up{target="[2001:db8::1]:443"} 1"#));
        assert_eq!(
            value(&text, r#"synprobe_targets{state="unhealthy"}"#),
            Some(0.0)
        );
        assert_eq!(m.targets(), 1);
        // What was counted stays counted: the counters are the fleet's, not the target's.
        assert_eq!(
            value(&text, r#"synprobe_replies_total{kind="rst"}"#),
            Some(2.0)
        );
    }

    #[test]
    fn both_formats_carry_the_same_samples() {
        let m = scripted();
        let text = m.render_as(Format::Text);
        assert!(!text.contains("# EOF"));
        assert_eq!(value(&text, "synprobe_probes_sent_total"), Some(5.0));
        assert_eq!(
            value(&text, r#"synprobe_target_up{target="[2001:db8::1]:443"}"#),
            Some(1.0)
        );
    }

    #[test]
    fn nothing_watched_renders_every_family_without_targets() {
        let text = Metrics::new().render();
        for name in [
            "synprobe_probes_sent",
            "synprobe_replies",
            "synprobe_probe_rtt_seconds",
            "synprobe_transitions",
            "synprobe_checks_late",
            "synprobe_targets",
            "synprobe_target_up",
            "synprobe_target_state",
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} in {text}"
            );
        }
        assert!(!text.contains("synprobe_target_up{"));
    }
}
