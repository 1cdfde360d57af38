//! Everything that talks to the kernel: AF_PACKET sockets (batched send, ring receive),
//! the BPF filter, route and neighbour lookup, privilege check, signals. The only module
//! allowed to say `unsafe`.
//! STUB: interface fixed, body to be written.
#![allow(unsafe_code)]

mod iface;
pub use iface::interface_exists;

use std::net::IpAddr;
use std::time::Duration;

use thiserror::Error;

use crate::cookie::SourcePorts;
use crate::wire::FRAME_CAP;

#[derive(Debug, Error)]
pub enum IoError {
    #[error(
        "permission denied: synprobe needs CAP_NET_RAW (and CAP_NET_ADMIN) to send raw packets; \
         run it as root, or grant them once with `sudo setcap cap_net_raw,cap_net_admin=eip {0}`"
    )]
    Privilege(String),
    #[error("unknown interface '{0}'")]
    NoSuchInterface(String),
    #[error("no route to {0}")]
    NoRoute(IpAddr),
    #[error(
        "cannot find the MAC address of next hop {0} (no neighbour entry, no ARP/NDP reply); set --gateway-mac"
    )]
    NoNeighbour(IpAddr),
    #[error("interface '{0}' has no {1} address; set --source-ip")]
    NoSourceAddress(String, &'static str),
    #[error("{what}: {source}")]
    Os {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// A network interface packets go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    pub loopback: bool,
}

/// How to reach a target: the interface, our source address on it, the next hop's MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetPath {
    pub link: Link,
    pub src_ip: IpAddr,
    pub next_hop_mac: [u8; 6],
}

/// User overrides for path discovery.
#[derive(Clone, Debug, Default)]
pub struct PathOptions {
    pub interface: Option<String>,
    pub source_ip: Option<IpAddr>,
    pub gateway_mac: Option<[u8; 6]>,
}

/// Find the interface the kernel routes `target` through, our address on it and the next
/// hop's MAC (neighbour table; resolved with ARP / NDP when absent). Overrides win.
pub fn find_path(target: IpAddr, opts: &PathOptions) -> Result<NetPath, IoError> {
    let _ = (target, opts);
    todo!()
}

/// Fails with `IoError::Privilege` unless this process may open AF_PACKET sockets.
pub fn check_privilege() -> Result<(), IoError> {
    todo!()
}

/// A batch of frames to hand to the kernel in one call.
pub struct FrameBatch {
    bufs: Vec<[u8; FRAME_CAP]>,
    lens: Vec<u16>,
}

impl FrameBatch {
    pub fn with_capacity(n: usize) -> Self {
        FrameBatch {
            bufs: vec![[0u8; FRAME_CAP]; n],
            lens: Vec::with_capacity(n),
        }
    }
    pub fn len(&self) -> usize {
        self.lens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }
    pub fn is_full(&self) -> bool {
        self.lens.len() == self.bufs.len()
    }
    /// Fill the next slot with `f` (which returns the frame length). The batch must not be full.
    pub fn push_with(&mut self, f: impl FnOnce(&mut [u8; FRAME_CAP]) -> usize) {
        let i = self.lens.len();
        let n = f(&mut self.bufs[i]);
        self.lens.push(n as u16);
    }
    pub fn clear(&mut self) {
        self.lens.clear();
    }
    pub fn frame(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.lens[i] as usize]
    }
}

/// The send side: an AF_PACKET socket bound to one interface.
pub struct Sender {}

impl Sender {
    pub fn open(link: &Link) -> Result<Self, IoError> {
        let _ = link;
        todo!()
    }

    /// Send every frame of `batch` (retrying on a full queue), then clear it.
    /// Returns the number of frames sent.
    pub fn send(&mut self, batch: &mut FrameBatch) -> Result<usize, IoError> {
        let _ = batch;
        todo!()
    }
}

/// What the kernel BPF filter lets through: TCP and ICMP/ICMPv6 addressed to our source
/// addresses, TCP only to our source-port range.
#[derive(Clone, Debug)]
pub struct RxFilter {
    pub local_ips: Vec<IpAddr>,
    pub ports: SourcePorts,
}

/// Counters the kernel keeps for the receive socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxStats {
    pub packets: u64,
    pub drops: u64,
}

/// The receive side: a packet ring on one interface behind a BPF filter; outgoing frames
/// (our own SYNs) never show up.
pub struct Receiver {}

impl Receiver {
    pub fn open(link: &Link, filter: &RxFilter) -> Result<Self, IoError> {
        let _ = (link, filter);
        todo!()
    }

    /// Wait up to `timeout` for frames, calling `f` on each; returns how many were seen.
    pub fn poll(&mut self, timeout: Duration, f: &mut dyn FnMut(&[u8])) -> Result<usize, IoError> {
        let _ = (timeout, f);
        todo!()
    }

    /// Cumulative kernel counters (packets that passed the filter, ring drops).
    pub fn stats(&mut self) -> RxStats {
        todo!()
    }
}

/// Install SIGINT/SIGTERM handlers that set a flag the engine polls; returns that flag.
pub fn interrupt_flag() -> &'static std::sync::atomic::AtomicBool {
    todo!()
}
