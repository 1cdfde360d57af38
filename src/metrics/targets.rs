//! Each watched target's health: one map entry per target, written out as series only when
//! a scrape asks. Keeping one `Health` per target (instead of four gauges each, as families
//! of gauges would) keeps 100,000 targets at a few MB, and forgetting a target is one
//! removal, so no stale series survives a reload.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::labels::{HEALTHS, StateLabel, Target, TargetLabel, TargetStateLabels};
use crate::health::Health;

#[derive(Debug, Default)]
pub struct Targets {
    health: Mutex<HashMap<SocketAddr, Health>>,
}

impl Targets {
    pub fn set(&self, target: SocketAddr, health: Health) {
        self.lock().insert(target, health);
    }

    pub fn remove(&self, target: SocketAddr) {
        self.lock().remove(&target);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy sorted by target: the lock is held only for the copy, not while a large fleet
    /// is encoded, so a scrape never holds up the watch driver for long; sorted, a scrape
    /// reads the same from one time to the next.
    fn snapshot(&self) -> Vec<(SocketAddr, Health)> {
        let mut all: Vec<(SocketAddr, Health)> =
            self.lock().iter().map(|(t, h)| (*t, *h)).collect();
        all.sort_unstable_by_key(|(t, _)| *t);
        all
    }

    /// A panic elsewhere while holding the lock leaves a map that is still whole (every
    /// change is one insert or remove), so the metrics keep going rather than panic too.
    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddr, Health>> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Collector for Targets {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let all = self.snapshot();

        let mut by_state = [0i64; HEALTHS.len()];
        for (_, h) in &all {
            by_state[slot(*h)] += 1;
        }
        let mut family = encoder.encode_descriptor(
            "targets",
            "Watched targets by health state.",
            None,
            MetricType::Gauge,
        )?;
        for h in HEALTHS {
            let labels = StateLabel { state: h.as_str() };
            family
                .encode_family(&labels)?
                .encode_gauge(&by_state[slot(h)])?;
        }

        let mut family = encoder.encode_descriptor(
            "target_up",
            "1 when the target is healthy, 0 when it is initial or unhealthy.",
            None,
            MetricType::Gauge,
        )?;
        for (t, h) in &all {
            let labels = TargetLabel { target: Target(*t) };
            let up = i64::from(*h == Health::Healthy);
            family.encode_family(&labels)?.encode_gauge(&up)?;
        }

        let mut family = encoder.encode_descriptor(
            "target_state",
            "1 for the target's current health state (initial, healthy, unhealthy), 0 for the others.",
            None,
            MetricType::Gauge,
        )?;
        for (t, h) in &all {
            for state in HEALTHS {
                let labels = TargetStateLabels {
                    target: Target(*t),
                    state: state.as_str(),
                };
                let on = i64::from(*h == state);
                family.encode_family(&labels)?.encode_gauge(&on)?;
            }
        }
        Ok(())
    }
}

fn slot(h: Health) -> usize {
    match h {
        Health::Initial => 0,
        Health::Healthy => 1,
        Health::Unhealthy => 2,
    }
}
