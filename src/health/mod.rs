//! The pure core of `synprobe watch`: continuous health checking with a load balancer's
//! semantics. Nothing here sends a packet or reads a clock: time comes in as `now_ms`
//! (milliseconds on the caller's monotonic clock), so every behaviour is tested in virtual
//! time.
//!
//! - `config`: the settings (NLB TCP defaults), validated up front.
//! - `state`: one target's health, moved by runs of consecutive results.
//! - `schedule`: when each target is due, spread over the interval, with late checks counted.
//! - `fleet`: the targets keyed by (address, port), their schedule, and reload.
//! - `observe`: what the driver reports to the metrics as it goes.

pub mod config;
pub mod fleet;
pub mod observe;
pub mod schedule;
pub mod state;

pub use config::{Config, ConfigError, Settings};
pub use fleet::{Due, Event, Fleet, Reloaded};
pub use observe::{NoObserver, Observer};
pub use state::{Check, Health, Tracker, Transition};
