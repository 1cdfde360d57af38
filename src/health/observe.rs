//! What `watch` tells whoever keeps figures about it (the Prometheus metrics, or nothing).
//! The watch driver calls these as things happen; an observer only counts, it never decides,
//! so the driver is the same with or without `--metrics-listen`.

use std::net::SocketAddr;

use super::fleet::Event;
use super::state::{Check, Health};
use crate::rate::CanaryTotals;

/// Called from the watch driver's thread; implementations keep their own locking.
pub trait Observer: Send + Sync {
    /// `n` SYNs went out (checks, and retries of them if any).
    fn probes_sent(&self, n: u64);
    /// A check of `target` ended with `check` (a reply's reason and RTT, or a timeout's
    /// `no-response`, `no-route`, `no-neighbour`).
    fn checked(&self, target: SocketAddr, check: &Check);
    /// `target` is watched with this health: once when it is added (`initial`), then after
    /// every transition.
    fn health(&self, target: SocketAddr, health: Health);
    /// A transition happened (also reported through `health`).
    fn transition(&self, event: &Event);
    /// `target` is no longer watched (a reload dropped it): forget its series.
    fn removed(&self, target: SocketAddr);
    /// The total count of checks that ran late so far (see `Fleet::late`).
    fn late_total(&self, total: u64);
    /// Each tick: the send rate (`--rate`, or what `--rate auto` holds now; `None`: no
    /// limit) and, under `--rate auto`, what the canaries have said so far.
    fn pacing(&self, rate: Option<f64>, canaries: Option<CanaryTotals>);
}

/// Keeps nothing: `watch` without metrics.
pub struct NoObserver;

impl Observer for NoObserver {
    fn probes_sent(&self, _: u64) {}
    fn checked(&self, _: SocketAddr, _: &Check) {}
    fn health(&self, _: SocketAddr, _: Health) {}
    fn transition(&self, _: &Event) {}
    fn removed(&self, _: SocketAddr) {}
    fn late_total(&self, _: u64) {}
    fn pacing(&self, _: Option<f64>, _: Option<CanaryTotals>) {}
}
