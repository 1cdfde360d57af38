//! synprobe: decide whether TCP ports are alive with a crafted SYN, never completing a
//! connection.
//!
//! The crate is split into a pure core that never touches a socket or a clock (`target`,
//! `permute`, `cookie`, `wire`, `classify`, `proof`, `path`, `pacer`, `probe`, `health`),
//! an I/O module that holds every `unsafe` (`io`), the engine that drives both (`engine`),
//! and the presentation layer (`output`, `cli`, and `metrics`, watch's Prometheus endpoint).
//! `merge` reads results files back (pure: readers in, records out).
#![deny(unsafe_code)]

pub mod classify;
pub mod cli;
pub mod cookie;
pub mod engine;
pub mod health;
pub mod io;
pub mod merge;
pub mod metrics;
pub mod output;
pub mod pacer;
pub mod path;
pub mod permute;
pub mod probe;
pub mod proof;
pub mod rate;
pub mod resume;
pub mod target;
pub mod wire;
