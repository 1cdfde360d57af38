//! The receive thread: frames from the ring, checked parse, checksum check where the kernel
//! has not vouched, the proof check (`proof::judge`), dedup, a teardown RST for every open
//! port, a SYN-ACK answering every bare SYN that may be a split handshake, ARP / NDP answers
//! for on-link targets, and verdicts out to the driver in batches.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::canaries::Canaries;
use super::net::{Capture, Transmit};
use super::{Clock, EngineConfig, Neighbours, SendTimes, Tracker};
use crate::classify::{Reply, checksums_ok, parse_reply};
use crate::io::{FrameBatch, IoError, RxMeta, RxStats};
use crate::pacer::Pacer;
use crate::path::Hop;
use crate::probe::ProbeResult;
use crate::proof::{Verdict, judge};
use crate::wire::{ControlFields, build_control, neighbour, tcp};

/// Counters the receive thread keeps (read by the driver for progress and the summary).
#[derive(Default)]
pub struct RxCounters {
    pub matched: AtomicU64,
    pub duplicates: AtomicU64,
    /// Frames that proved nothing, bare SYNs and bad checksums apart.
    pub ignored: AtomicU64,
    /// Bare SYNs: answered or not, never proof on their own.
    pub unverified_syns: AtomicU64,
    pub bad_checksums: AtomicU64,
    /// SYN-ACKs sent in answer to bare SYNs.
    pub challenges: AtomicU64,
    /// Challenges the senders have not yet taken out of their rate budget.
    pub challenge_debt: AtomicU64,
    pub rsts: AtomicU64,
    /// Frames the kernel dropped before we read them (ring full), cumulative: read every
    /// `STATS_EVERY_NS` while the run lasts, so `--rate auto` can back off on them.
    pub ring_drops: AtomicU64,
}

pub struct RxTask<'a> {
    pub cfg: &'a EngineConfig,
    pub tracker: &'a Tracker,
    pub times: &'a SendTimes,
    pub counters: &'a RxCounters,
    pub neighbours: &'a Neighbours,
    pub clock: Clock,
    /// Set by the driver when listening is over.
    pub done: &'a AtomicBool,
    pub out: SyncSender<Vec<ProbeResult>>,
    /// Canaries to tell apart among the duplicates (`canaries.rs`).
    pub canaries: Option<&'a Canaries>,
}

/// Replies older than this cannot be ours: a TSecr that far back is a wrapped or forged one.
const MAX_RTT_US: u32 = 120_000_000;
/// The least burst of split-handshake SYN-ACKs allowed at once.
const CHALLENGE_BURST: u64 = 1024;
/// Control segments (RSTs, SYN-ACKs) per kernel call.
const CONTROL_BATCH: usize = 64;
/// How often the kernel's drop counter is read during the run (one getsockopt).
const STATS_EVERY_NS: u64 = 50_000_000;

/// What one receive loop carries from frame to frame.
struct RxState {
    /// One batch of control segments per link.
    control: Vec<FrameBatch>,
    results: Vec<ProbeResult>,
    pending_err: Option<IoError>,
    /// Keeps split-handshake SYN-ACKs inside the scan's rate, whatever a forger sends.
    challenge_pacer: Pacer,
}

impl RxTask<'_> {
    fn count(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// (link, our MAC, the next hop's MAC) for a frame to target `t`.
    fn way_to(&self, t: u64) -> Option<(usize, [u8; 6], [u8; 6])> {
        let route = self.cfg.paths.exit_of(t)?;
        let hop = match route.hop {
            Hop::Mac(m) => m,
            Hop::OnLink => self.neighbours.mac(t)?,
        };
        Some((route.link, self.cfg.paths.links()[route.link].mac, hop))
    }

    /// Queue a control segment answering `r` (from target `t`); sends a full batch at once.
    /// False when there is no way back to the target (its MAC unknown).
    fn answer(
        &self,
        st: &mut RxState,
        txs: &mut [impl Transmit],
        r: &Reply,
        t: u64,
        seq: u32,
        ack: Option<u32>,
    ) -> bool {
        let Some((l, mine, hop)) = self.way_to(t) else {
            return false;
        };
        let macs = (mine, hop);
        let rst = ControlFields::rst(
            macs,
            r.local,
            r.target,
            (r.local_port, r.target_port),
            seq,
            self.cfg.shape.ttl,
        );
        let f = match ack {
            Some(ack) => ControlFields {
                ack,
                flags: tcp::FLAG_SYN | tcp::FLAG_ACK,
                ..rst
            },
            None => rst,
        };
        st.control[l].push_with(|buf| build_control(buf, &f));
        if st.control[l].is_full() {
            self.flush(st, l, &mut txs[l]);
        }
        true
    }

    /// Hand link `l`'s queued control segments to the kernel; an error ends the run after
    /// this poll.
    fn flush(&self, st: &mut RxState, l: usize, tx: &mut impl Transmit) {
        if st.control[l].is_empty() {
            return;
        }
        if let Err(e) = tx.send(&mut st.control[l]) {
            st.control[l].clear();
            st.pending_err.get_or_insert(e);
        }
    }

    /// An ARP reply or Neighbor Advertisement for one of our on-link targets.
    fn learn(&self, frame: &[u8]) -> bool {
        if self.neighbours.is_empty() {
            return false;
        }
        let Some((ip, mac)) = neighbour::parse_answer(frame) else {
            return false;
        };
        self.cfg
            .space
            .targets
            .index_of(ip)
            .is_some_and(|t| self.neighbours.learn(t, mac))
    }

    fn on_frame(&self, st: &mut RxState, txs: &mut [impl Transmit], frame: &[u8], meta: RxMeta) {
        let Some(r) = parse_reply(frame) else {
            if !self.learn(frame) {
                self.count(&self.counters.ignored);
            }
            return;
        };
        if !meta.checksum_vouched && !checksums_ok(frame) {
            return self.count(&self.counters.bad_checksums);
        }
        let verdict = judge(&r, &self.cfg.key, self.cfg.source_ports);
        if verdict.is_bare_syn() {
            self.count(&self.counters.unverified_syns);
        }
        let (reason, teardown) = match verdict {
            Verdict::Proven { reason, teardown } => (reason, teardown),
            Verdict::Challenge { seq, ack } => return self.challenge(st, txs, &r, seq, ack),
            Verdict::UnverifiedSyn => return,
            Verdict::Ignored => return self.count(&self.counters.ignored),
        };
        let Some(idx) = self.cfg.space.index(r.target, r.target_port) else {
            return self.count(&self.counters.ignored);
        };
        // Tear down every open port's reply, duplicates too: a retransmitted SYN-ACK means
        // the target still holds a half-open entry.
        if let Some(seq) = teardown
            && self.answer(st, txs, &r, self.cfg.space.target_index(idx), seq, None)
        {
            self.count(&self.counters.rsts);
        }
        // Not a pair of this shard's slice: proves nothing here (and is never reported).
        let Some(key) = self.tracker.key_of(idx) else {
            return self.count(&self.counters.ignored);
        };
        if self.tracker.test_and_set_key(key) {
            // A canary's answer is a duplicate like any other: never a second result.
            if let Some(c) = self.canaries {
                c.answer(idx, self.clock.now_ns());
            }
            return self.count(&self.counters.duplicates);
        }
        self.count(&self.counters.matched);
        let rtt = self.rtt(&r, key, meta.ns);
        if let Some(c) = self.canaries {
            c.offer(idx);
            if let Some(d) = rtt {
                c.rtt(d.as_micros() as u64);
            }
        }
        st.results.push(ProbeResult {
            ip: r.target,
            port: r.target_port,
            reason,
            ttl: Some(r.ttl),
            rtt,
        });
    }

    /// Answer a bare SYN, at most once per SYN, only for a pair this run probes and that has
    /// not answered yet, and only while the rate budget allows.
    fn challenge(
        &self,
        st: &mut RxState,
        txs: &mut [impl Transmit],
        r: &Reply,
        seq: u32,
        ack: u32,
    ) {
        let Some(idx) = self.cfg.space.index(r.target, r.target_port) else {
            return;
        };
        if !self.cfg.wants(idx) || self.tracker.is_set(idx) {
            return;
        }
        let sent = self.counters.challenges.load(Ordering::Relaxed);
        if st.challenge_pacer.permits(self.clock.now_ns(), sent) == 0 {
            return;
        }
        let t = self.cfg.space.target_index(idx);
        if self.answer(st, txs, r, t, seq, Some(ack)) {
            self.count(&self.counters.challenges);
            self.count(&self.counters.challenge_debt);
        }
    }

    /// The round-trip time: the send time kept for the latest probes (microseconds), else
    /// the echoed TCP timestamp (milliseconds, as a Linux client's).
    fn rtt(&self, r: &Reply, key: u64, rx_ns: u64) -> Option<Duration> {
        let plausible = |us: &u32| *us < MAX_RTT_US;
        let kept = self
            .times
            .since(key, (rx_ns / 1000) as u32)
            .filter(plausible);
        let echoed = || {
            let ms = self.clock.tsval_at(rx_ns).wrapping_sub(r.tsecr?);
            Some(ms.saturating_mul(1000)).filter(plausible)
        };
        kept.or_else(echoed)
            .map(|us| Duration::from_micros(u64::from(us)))
    }

    pub fn run(
        self,
        mut rx: impl Capture,
        mut txs: Vec<impl Transmit>,
    ) -> Result<RxStats, IoError> {
        let mut st = RxState {
            control: txs
                .iter()
                .map(|_| FrameBatch::with_capacity(CONTROL_BATCH))
                .collect(),
            results: Vec::with_capacity(1024),
            pending_err: None,
            // Bursty: the ring hands over up to 10 ms of replies at once, and real
            // split-handshake hosts answer a burst of SYNs with a burst of SYNs; 100 ms of the
            // rate (at least 1,024) is allowed at once, and the senders pay it back.
            challenge_pacer: Pacer::new(
                self.cfg.rate,
                self.cfg
                    .rate
                    .map_or(0, |r| (r / 10.0) as u64)
                    .max(CHALLENGE_BURST),
                self.clock.now_ns(),
            ),
        };
        let mut last_round = false;
        let mut stats_at = self.clock.now_ns();
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
            rx.poll(timeout, &mut |frame, meta| {
                self.on_frame(&mut st, &mut txs, frame, meta)
            })?;
            for (l, tx) in txs.iter_mut().enumerate() {
                self.flush(&mut st, l, tx);
            }
            if let Some(e) = st.pending_err.take() {
                return Err(e);
            }
            if !st.results.is_empty() {
                let batch = std::mem::replace(&mut st.results, Vec::with_capacity(1024));
                if self.out.send(batch).is_err() {
                    break; // The driver is gone; nothing left to report to.
                }
            }
            if last_round {
                break;
            }
            let now = self.clock.now_ns();
            if now.saturating_sub(stats_at) >= STATS_EVERY_NS {
                stats_at = now;
                let drops = rx.stats().drops;
                self.counters.ring_drops.store(drops, Ordering::Relaxed);
            }
        }
        let stats = rx.stats();
        self.counters
            .ring_drops
            .store(stats.drops, Ordering::Relaxed);
        Ok(stats)
    }
}
