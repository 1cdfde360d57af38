//! The receive thread: frames from the ring, checked parse, cookie check, dedup, teardown
//! RST for every SYN-ACK, and verdicts out to the driver in batches.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::net::{Capture, Transmit};
use super::{EngineConfig, SendTimes, Tracker};
use crate::classify::{Reply, parse_reply};
use crate::io::{FrameBatch, IoError, RxStats};
use crate::probe::{ProbeResult, Reason};
use crate::wire::{RstFields, build_rst};

/// Counters the receive thread keeps (read by the driver for progress and the summary).
#[derive(Default)]
pub struct RxCounters {
    pub matched: AtomicU64,
    pub duplicates: AtomicU64,
    pub ignored: AtomicU64,
    pub rsts: AtomicU64,
}

pub struct RxTask<'a> {
    pub cfg: &'a EngineConfig,
    pub tracker: &'a Tracker,
    pub times: &'a SendTimes,
    pub counters: &'a RxCounters,
    /// Set by the driver when listening is over.
    pub done: &'a AtomicBool,
    pub out: SyncSender<Vec<ProbeResult>>,
}

/// Replies older than this cannot be ours: a TSecr that far back is a wrapped or forged one.
const MAX_RTT_US: u32 = 120_000_000;

impl RxTask<'_> {
    /// Does the reply carry our cookie? Only then does it count.
    fn is_ours(&self, r: &Reply) -> bool {
        let (k, ports) = (&self.cfg.key, self.cfg.source_ports);
        match r.echoed_seq {
            Some(_) => k.verify(
                r.local,
                r.target,
                r.target_port,
                ports,
                r.local_port,
                r.echoed_seq,
            ),
            // A bare SYN (split handshake) echoes nothing; only its port can be checked.
            None => {
                r.reason == Reason::Syn
                    && k.verify_port(r.local, r.target, r.target_port, ports, r.local_port)
            }
        }
    }

    /// (our MAC, the next hop's MAC) for a frame to `ip`.
    fn macs(&self, ip: IpAddr) -> Option<([u8; 6], [u8; 6])> {
        Some((self.cfg.paths.link().mac, self.cfg.next_hop_mac(ip)?))
    }

    pub fn run(self, mut rx: impl Capture, mut tx: impl Transmit) -> Result<RxStats, IoError> {
        let mut rsts = FrameBatch::with_capacity(64);
        let mut results: Vec<ProbeResult> = Vec::with_capacity(1024);
        let mut pending_err: Option<IoError> = None;
        let mut last_round = false;
        loop {
            // One more poll after `done`, so frames already in the ring are not lost.
            if self.done.load(Ordering::Acquire) {
                last_round = true;
            }
            let timeout = if last_round {
                Duration::ZERO
            } else {
                Duration::from_millis(10)
            };
            rx.poll(timeout, &mut |frame, rx_ns| {
                let Some(r) = parse_reply(frame) else {
                    self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                if !self.is_ours(&r) {
                    self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let Some(idx) = self.cfg.space.index(r.target, r.target_port) else {
                    self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                // Tear down every SYN-ACK, duplicates too: a retransmitted SYN-ACK means the
                // target still holds a half-open entry.
                if r.reason == Reason::SynAck
                    && let Some((src_mac, dst_mac)) = self.macs(r.target)
                {
                    let f = RstFields {
                        src_mac,
                        dst_mac,
                        src: r.local,
                        dst: r.target,
                        sport: r.local_port,
                        dport: r.target_port,
                        seq: r.ack,
                        ttl: self.cfg.shape.ttl,
                    };
                    rsts.push_with(|buf| build_rst(buf, &f));
                    if rsts.is_full() {
                        match tx.send(&mut rsts) {
                            Ok(n) => {
                                self.counters.rsts.fetch_add(n as u64, Ordering::Relaxed);
                            }
                            Err(e) => {
                                rsts.clear();
                                pending_err.get_or_insert(e);
                            }
                        }
                    }
                }
                if self.tracker.test_and_set(idx) {
                    self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                self.counters.matched.fetch_add(1, Ordering::Relaxed);
                // The echoed timestamp where the reply has one, else the kept send time.
                let rx_us = (rx_ns / 1000) as u32;
                let plausible = |us: &u32| *us < MAX_RTT_US;
                let rtt = r
                    .tsecr
                    .map(|ts| rx_us.wrapping_sub(ts))
                    .filter(plausible)
                    .or_else(|| self.times.since(idx, rx_us).filter(plausible))
                    .map(|us| Duration::from_micros(us as u64));
                results.push(ProbeResult {
                    ip: r.target,
                    port: r.target_port,
                    reason: r.reason,
                    ttl: Some(r.ttl),
                    rtt,
                });
            })?;
            if !rsts.is_empty() {
                let n = tx.send(&mut rsts)?;
                self.counters.rsts.fetch_add(n as u64, Ordering::Relaxed);
            }
            if let Some(e) = pending_err.take() {
                return Err(e);
            }
            if !results.is_empty() {
                let batch = std::mem::replace(&mut results, Vec::with_capacity(1024));
                if self.out.send(batch).is_err() {
                    break; // The driver is gone; nothing left to report to.
                }
            }
            if last_round {
                break;
            }
        }
        Ok(rx.stats())
    }
}
