//! The seam between the engine and the kernel: what the engine needs from a network. The
//! real one is AF_PACKET on an interface; tests drive the same engine over a simulated one
//! (loss, duplicates, forged replies) without root.

use std::time::Duration;

use crate::io::{FrameBatch, IoError, Link, Receiver, RxFilter, RxMeta, RxStats, Sender};

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
    fn open_tx(&self) -> Result<Self::Tx, IoError>;
    fn open_rx(&self, filter: &RxFilter) -> Result<Self::Rx, IoError>;
}

/// The real network: packet sockets on one interface.
pub struct PacketNetwork<'a> {
    pub link: &'a Link,
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
    fn open_tx(&self) -> Result<Sender, IoError> {
        Sender::open(self.link)
    }
    fn open_rx(&self, filter: &RxFilter) -> Result<Receiver, IoError> {
        Receiver::open(self.link, filter)
    }
}
