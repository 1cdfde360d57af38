//! Everything that talks to the kernel: AF_PACKET sockets (batched send, ring receive),
//! the BPF filter, route and neighbour lookup, privilege check, signals. The only module
//! allowed to say `unsafe`.
//!
//! Layout: `socket` (the AF_PACKET fd and its options), `send` (batched transmit), `recv`
//! (TPACKET_V3 ring), `bpf` (the kernel filter program), `route` (interface, source address,
//! next hop), `netlink` (the rtnetlink socket: routes, rules, neighbour table), `neigh`
//! (next-hop MAC: the neighbour table, else ARP / NDP), `privilege`, `signal`, `shield` (keeps SYN-ACKs
//! from this host's TCP stack, so it sends no RSTs of its own), `loopback`
//! (the sysctls a 127/8 probe needs), `host_state` (the record of them that survives a
//! SIGKILL), `undo` (putting them back from a signal handler).
#![allow(unsafe_code)]

mod bpf;
mod host_state;
mod iface;
mod loopback;
mod meminfo;
mod neigh;
mod netlink;
mod privilege;
mod recv;
mod route;
mod send;
mod shield;
mod signal;
mod socket;
mod tx_ring;
mod undo;

use std::net::IpAddr;

use thiserror::Error;

use crate::wire::FRAME_CAP;

pub use iface::interface_exists;
pub use loopback::{Loopback, LoopbackGuard, enable_loopback_v4, reclaim_host_state};
pub use meminfo::mem_available;
pub use neigh::neighbour_entries;
pub use netlink::RouteSocket;
pub use privilege::check_privilege;
pub use recv::{Receiver, RxFilter, RxMeta, RxStats, realtime_ns};
pub use route::{loopback_v4_hint, neighbour_mac, route_targets, route_targets_quietly};
pub use send::{SendMode, Sender};
pub use shield::SynAckShield;
pub use signal::{StopSignalsBlocked, WatchFlags, block_stop_signals, interrupt_flag, watch_flags};

#[derive(Debug, Error)]
pub enum IoError {
    #[error(
        "permission denied: synprobe needs CAP_NET_RAW (and CAP_NET_ADMIN) to send raw packets; \
         run it as root, or grant them once with `sudo setcap cap_net_raw,cap_net_admin=eip {0}`"
    )]
    Privilege(String),
    #[error("unknown interface '{0}'")]
    NoSuchInterface(String),
    #[error(
        "cannot find the MAC address of next hop {0} (no neighbour entry, no ARP/NDP reply); set --gateway-mac"
    )]
    NoNeighbour(IpAddr),
    #[error("{what}: {source}")]
    Os {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub use crate::path::{Link, NeighbourEntry};

impl Link {
    /// Look an interface up by name.
    pub fn by_name(name: &str) -> Result<Link, IoError> {
        pnet::datalink::interfaces()
            .into_iter()
            .find(|i| i.name == name)
            .map(|i| Link::from_pnet(&i))
            .ok_or_else(|| IoError::NoSuchInterface(name.to_string()))
    }

    fn from_pnet(i: &pnet::datalink::NetworkInterface) -> Link {
        Link {
            name: i.name.clone(),
            index: i.index,
            mac: i.mac.map(|m| m.octets()).unwrap_or([0; 6]),
            loopback: i.is_loopback(),
        }
    }
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
    /// How many frames the batch holds when full.
    pub fn capacity(&self) -> usize {
        self.bufs.len()
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
        // A builder that over-reports cannot make `frame` read past the slot.
        let n = f(&mut self.bufs[i]).min(FRAME_CAP);
        self.lens.push(n as u16);
    }
    pub fn clear(&mut self) {
        self.lens.clear();
    }
    pub fn frame(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.lens[i] as usize]
    }
}

impl IoError {
    fn os(what: impl Into<String>, source: std::io::Error) -> IoError {
        IoError::Os {
            what: what.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_batch_fills_and_clears() {
        let mut b = FrameBatch::with_capacity(2);
        assert!(b.is_empty());
        b.push_with(|buf| {
            buf[..3].copy_from_slice(&[1, 2, 3]);
            3
        });
        assert_eq!(b.len(), 1);
        assert!(!b.is_full());
        b.push_with(|buf| {
            buf[0] = 9;
            1
        });
        assert!(b.is_full());
        assert_eq!(b.frame(0), &[1, 2, 3]);
        assert_eq!(b.frame(1), &[9]);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.capacity(), 2);
    }
}
