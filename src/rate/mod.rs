//! `--rate auto`: a congestion controller for a stateless scan, and the canaries it feeds
//! on. Pure: time and observations in, a rate out; the engine (`engine::canaries`) does the
//! sending and the listening.
//!
//! - `controller`: slow start, multiplicative decrease on loss above the path's own random
//!   loss, additive increase, floor and ceiling.
//! - `rtt`: the smoothed round-trip time that says how long to wait for a canary.
//! - `canary`: which canaries are in flight, answered, lost.

mod canary;
mod controller;
mod rtt;
#[cfg(test)]
mod sim;

pub use canary::{CanaryBook, CanaryTotals, canary_every};
pub use controller::{Controller, Limits, Tuning};
pub use rtt::RttEstimator;
