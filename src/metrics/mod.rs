//! Prometheus metrics for `synprobe watch`: the families (`registry`), kept up to date as
//! the watch driver reports through `health::Observer`, and the HTTP endpoint that serves
//! them (`serve`).
//!
//! - `labels`: the label sets, and the fixed list of check reasons.
//! - `targets`: each target's health, written out as series at scrape time.
//! - `registry`: the `Metrics` type, the `Observer` the driver calls.
//! - `exposition`: OpenMetrics or Prometheus text, by the scraper's `Accept` header.
//! - `serve`: `GET /metrics` over HTTP on its own thread.

pub mod exposition;
pub mod labels;
pub mod registry;
pub mod serve;
pub mod targets;

pub use exposition::Format;
pub use registry::{Metrics, RTT_BUCKETS};
pub use serve::{MetricsServer, ServeError, serve};
