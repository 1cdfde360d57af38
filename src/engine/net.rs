//! The seam between the engine and the kernel: what the engine needs from a network. The
//! real one is AF_PACKET on an interface; tests drive the same engine over a simulated one
//! (loss, duplicates, forged replies) without root.

use std::time::Duration;

use super::EngineConfig;
use crate::io::{
    FrameBatch, IoError, Link, Receiver, RxFilter, RxMeta, RxStats, Sender, SynAckShield,
};

/// Hands batches of frames to the network.
pub trait Transmit: Send {
    /// Send every frame of `batch`, then clear it; returns how many were sent.
    fn send(&mut self, batch: &mut FrameBatch) -> Result<usize, IoError>;
}

/// Delivers received frames with their receive time and checksum status.
pub trait Capture: Send {
    fn poll(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(&[u8], RxMeta),
    ) -> Result<usize, IoError>;
    fn stats(&mut self) -> RxStats;
}

/// Opens the send and receive ends.
pub trait Network: Sync {
    type Tx: Transmit;
    type Rx: Capture;
    /// A send end on link `link` (an index into the run's `PathTable::links`).
    fn open_tx(&self, link: usize) -> Result<Self::Tx, IoError>;
    /// The one receive end, on every link of the run.
    fn open_rx(&self, filter: &RxFilter) -> Result<Self::Rx, IoError>;
}

/// The real network: packet sockets on the run's interfaces.
pub struct PacketNetwork<'a> {
    pub links: &'a [Link],
}

impl Transmit for Sender {
    fn send(&mut self, batch: &mut FrameBatch) -> Result<usize, IoError> {
        Sender::send(self, batch)
    }
}

impl Capture for Receiver {
    fn poll(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(&[u8], RxMeta),
    ) -> Result<usize, IoError> {
        Receiver::poll(self, timeout, f)
    }
    fn stats(&mut self) -> RxStats {
        Receiver::stats(self)
    }
}

impl Network for PacketNetwork<'_> {
    type Tx = Sender;
    type Rx = Receiver;
    fn open_tx(&self, link: usize) -> Result<Sender, IoError> {
        let link = self
            .links
            .get(link)
            .ok_or_else(|| IoError::NoSuchInterface(format!("#{link}")))?;
        Sender::open(link)
    }
    fn open_rx(&self, filter: &RxFilter) -> Result<Receiver, IoError> {
        match self.links {
            [one] => Receiver::open(one, filter),
            // Several links: one socket bound to every interface; the filter keeps it to
            // replies to our addresses.
            _ => Receiver::open_all(filter),
        }
    }
}

/// The SYN-ACK shield for a run of `cfg` on the real network, held for the run. Best
/// effort: where tcx is missing (kernels before 6.6) the kernel's own RSTs go out as well,
/// which costs time on-link and nothing in correctness.
pub fn shield(cfg: &EngineConfig) -> Option<SynAckShield> {
    if !cfg.shield {
        return None;
    }
    SynAckShield::attach(cfg.paths.links(), cfg.source_ports).ok()
}
