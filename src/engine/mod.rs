//! The probe engine: one receiver thread, N sender threads over disjoint slices of a keyed
//! permutation, a tracker of the answered pairs (compressed, keyed by position in the walk),
//! and a driver that runs rounds and waits.
//! `scan`, `check` and `bench` are drivers of this same engine; they differ only in the
//! schedule and in the sink results go to. `watch` (`watch.rs`) drives it continuously: the
//! same receiver and send path, fed the pairs a health schedule says are due.

mod aside;
mod canaries;
mod chunk;
mod clock;
mod neighbours;
mod net;
mod pending;
mod pilot;
mod receiver;
mod run;
mod send_times;
mod sender;
mod tracker;
mod watch;
mod watch_admit;

pub use clock::Clock;
pub use neighbours::Neighbours;
pub use net::{Capture, Network, PacketNetwork, Transmit};
pub use run::{Resumable, run, run_on, run_real_resumable, run_resumable};
pub use send_times::SendTimes;
pub use tracker::Tracker;
pub use watch::{Ended, WatchControl, WatchOutput, watch, watch_on};

use std::collections::HashSet;
use std::time::Duration;

use thiserror::Error;

use crate::cookie::{CookieKey, SourcePorts};
use crate::io::IoError;
use crate::path::PathTable;
use crate::target::PairSpace;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("writing results: {0}")]
    Output(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// What a SYN looks like besides addresses: the fields of a normal Linux client's SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynShape {
    pub ttl: u8,
    pub window: u16,
    pub mss: u16,
    pub wscale: u8,
}

impl Default for SynShape {
    fn default() -> Self {
        SynShape {
            ttl: 64,
            window: 64240,
            mss: 1460,
            wscale: 7,
        }
    }
}

/// When probes go out and how long to listen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every pair once, then up to `retries` more rounds for the unanswered; `round_wait`
    /// after each round but the last, `final_wait` after the last.
    Rounds {
        retries: u32,
        round_wait: Duration,
        final_wait: Duration,
    },
    /// Cycle through the pairs until `duration` has passed (for `bench`).
    Cycle { duration: Duration },
}

/// Everything one engine run needs, validated.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub space: PairSpace,
    pub seed: u64,
    pub key: CookieKey,
    /// Added to every TCP timestamp we send (drawn apart from the key, which it must not leak).
    pub ts_offset: u32,
    pub source_ports: SourcePorts,
    /// Probes per second over all send threads; `None` = as fast as possible.
    pub rate: Option<f64>,
    pub schedule: Schedule,
    /// This machine's shard: (index, count), index < count.
    pub shard: (u64, u64),
    pub send_threads: usize,
    /// Which way each target's probes leave.
    pub paths: PathTable,
    pub shape: SynShape,
    /// Probe only these pair indices (for `check`, whose HOST:PORT list is not a full
    /// addresses x ports product); `None` probes every pair.
    pub only: Option<HashSet<u64>>,
    /// On-link targets whose MAC the kernel's neighbour table already holds (target index,
    /// MAC): they are not asked for again.
    pub known_macs: Vec<(u64, [u8; 6])>,
    /// Hide SYN-ACKs from this host's TCP stack for the run (`io::SynAckShield`), so the
    /// only RST a target gets is ours; off with `--kernel-resets`.
    pub shield: bool,
    /// `--rate auto`: the controller's floor and ceiling; `rate` is then the ceiling (what
    /// the split-handshake answers are paced to), `None` for no ceiling.
    pub auto: Option<crate::rate::Limits>,
    /// Write rate and canary loss every 100 ms to this file (JSON Lines), for plots.
    pub rate_trace: Option<std::path::PathBuf>,
}

impl EngineConfig {
    /// A run over `space` with a fresh secret cookie key and the defaults every driver
    /// shares: one shard, one send thread, a Linux-like SYN, every pair. Drivers override
    /// fields with struct-update syntax.
    pub fn new(
        space: PairSpace,
        paths: PathTable,
        source_ports: SourcePorts,
        rate: Option<f64>,
        schedule: Schedule,
    ) -> Self {
        let key = CookieKey::random();
        EngineConfig {
            space,
            seed: key.k0 ^ key.k1.rotate_left(17),
            key,
            ts_offset: CookieKey::random().k0 as u32,
            source_ports,
            rate,
            schedule,
            shard: (0, 1),
            send_threads: 1,
            paths,
            shape: SynShape::default(),
            only: None,
            known_macs: Vec::new(),
            shield: true,
            auto: None,
            rate_trace: None,
        }
    }

    /// Whether pair `idx` is to be probed at all.
    pub fn wants(&self, idx: u64) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(&idx))
    }
}
