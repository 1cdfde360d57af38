//! One send thread: walks its slice of the permutation, builds SYNs from the templates into
//! a batch per link, and hands whole batches to the kernel at the paced rate. A pair whose
//! on-link target's MAC is not known yet is set aside (after asking for it, once) and sent
//! when the answer is in, so resolving an on-link fleet costs no extra pass.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::aside::Aside;
use super::neighbours::{Neighbours, Next};
use super::net::Transmit;
use super::{Clock, EngineConfig, SendTimes, Tracker};
use crate::io::{FrameBatch, IoError};
use crate::pacer::Pacer;
use crate::path::Hop;
use crate::permute::{Permutation, Slice};
use crate::wire::{SynFields, SynTemplate, neighbour};

/// Frames per kernel call: zmap's and the plain-C anchor's batch size.
pub const BATCH: usize = 64;
/// Pairs a thread may hold aside waiting for ARP / NDP; past it the walk pauses.
const ASIDE_CAP: usize = 1 << 20;
/// The longest a thread with pairs aside sleeps before looking again.
const ASIDE_MAX_NS: u64 = 64_000_000;

/// What every send thread shares (read-only, or atomics).
pub struct SendShared<'a> {
    pub cfg: &'a EngineConfig,
    pub perm: &'a Permutation,
    pub tracker: &'a Tracker,
    pub times: &'a SendTimes,
    /// One SYN template per span of `cfg.paths` (`None` where there is no route).
    pub templates: Vec<Option<SynTemplate>>,
    pub neighbours: &'a Neighbours,
    pub clock: Clock,
    pub stop: &'a AtomicBool,
    pub sent: &'a AtomicU64,
    /// Packets the receiver sent in answer to bare SYNs and not yet paid for: whichever send
    /// thread takes them counts them against its rate, so SYNs and SYN-ACKs together keep
    /// to `--rate`.
    pub owed: &'a AtomicU64,
    /// Pairs the first round decided without a probe (no route, no neighbour): the waits
    /// need not wait for them.
    pub decided: &'a AtomicU64,
}

/// One thread's task for one round.
pub struct SendJob {
    pub slice: Slice,
    /// Retry rounds skip pairs that have answered.
    pub skip_answered: bool,
    /// This thread's share of the rate.
    pub rate: Option<f64>,
    /// Cycle through the slice until this moment instead of once (bench).
    pub cycle_until_ns: Option<u64>,
}

/// One frame batch per link, and the SYNs in each.
struct Batches {
    frames: Vec<FrameBatch>,
    syns: Vec<u64>,
}

impl Batches {
    /// Send link `l`'s batch; returns the SYNs it held.
    fn flush(&mut self, l: usize, tx: &mut impl Transmit) -> Result<u64, IoError> {
        if self.frames[l].is_empty() {
            return Ok(0);
        }
        tx.send(&mut self.frames[l])?;
        Ok(std::mem::take(&mut self.syns[l]))
    }
}

/// What one job sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    pub probes: u64,
    /// When the last probe went out (the clock's ns): waiting for ARP / NDP answers after it
    /// is no part of the sending rate.
    pub last_ns: u64,
}

/// Send one job over `txs` (one per link of `cfg.paths`).
pub fn send_job(
    sh: &SendShared,
    txs: &mut [impl Transmit],
    job: &SendJob,
) -> Result<Sent, IoError> {
    let n = job.slice.len();
    let mut last_ns = sh.clock.now_ns();
    if n == 0 {
        return Ok(Sent { probes: 0, last_ns });
    }
    let mut out = Batches {
        frames: (0..txs.len())
            .map(|_| FrameBatch::with_capacity(BATCH))
            .collect(),
        syns: vec![0; txs.len()],
    };
    let mut aside = Aside::default();
    let mut pacer = Pacer::new(job.rate, BATCH as u64, sh.clock.now_ns());
    // ARP / NDP requests keep to the rate too, on a budget of their own: the walk that asks
    // moves on at the probe rate, and the probes follow it as the answers come in, so an
    // on-link sweep takes no longer than one behind a gateway.
    let mut asker = Pacer::new(job.rate, BATCH as u64, sh.clock.now_ns());
    let mut asks = 0u64;
    let resolving = !sh.neighbours.is_empty();
    // At low rates, wait for a batch worth at most half a millisecond of probes rather than
    // making one syscall per probe; at high rates that is the full batch.
    let want = job.rate.map_or(BATCH as u64, |r| {
        ((r * 0.0005) as u64).clamp(1, BATCH as u64)
    });
    // `sent` counts this thread's SYNs; `paid` the receiver's SYN-ACKs it took over.
    let (mut k, mut sent, mut paid) = (0u64, 0u64, 0u64);
    let cycling = job.cycle_until_ns.is_some();
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        let now = sh.clock.now_ns();
        match job.cycle_until_ns {
            Some(end) if now >= end => break,
            None if k >= n && aside.is_empty() => break,
            _ => {}
        }
        if job.rate.is_some() && sh.owed.load(Ordering::Relaxed) > 0 {
            paid += sh.owed.swap(0, Ordering::Relaxed);
        }
        let permits = pacer.permits(now, sent + paid);
        let left = if cycling {
            u64::MAX
        } else {
            n - k + aside.len() as u64
        };
        if permits < want.min(left) {
            sh.clock
                .sleep_until(pacer.next_permit_ns(sent + paid + want.min(left) - 1));
            continue;
        }
        let quota = permits.min(BATCH as u64);
        let now_real = crate::io::realtime_ns();
        let tsval = sh.clock.tsval_at(now_real);
        let now_us = (now_real / 1000) as u32;
        let now_ms = (now / 1_000_000) as u32;
        let mut syns = 0u64;
        // Bounded so that a slice whose pairs are all skipped cannot spin here forever.
        let mut tries = 0;
        let mut may_ask = !resolving || asker.permits(now, asks) > 0;
        while syns < quota && tries < 4 * BATCH {
            tries += 1;
            // Set-aside pairs that are due first, then the walk.
            let (idx, level) = if let Some(due) = aside.pop_due(now) {
                due
            } else if (k < n || cycling) && aside.len() < ASIDE_CAP && may_ask {
                let pos = job.slice.position(k % n);
                k += 1;
                (sh.perm.at(pos), 0)
            } else {
                break;
            };
            if (job.skip_answered && sh.tracker.is_set(idx)) || !sh.cfg.wants(idx) {
                continue;
            }
            let t = sh.cfg.space.target_index(idx);
            let (span, s) = sh.cfg.paths.span_of(t);
            let (Some(route), Some(tpl)) = (s.exit, sh.templates[span].as_ref()) else {
                // No route: reported as such at the end, decided now.
                if !job.skip_answered {
                    sh.decided.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            };
            let (dst, dport) = sh.cfg.space.pair(idx);
            let l = route.link;
            let mac = match route.hop {
                Hop::Mac(_) => None, // in the template
                Hop::OnLink => match sh.neighbours.next(t, now_ms) {
                    Next::Use(mac) => Some(mac),
                    Next::Absent => {
                        if !job.skip_answered {
                            sh.decided.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    next => {
                        if next == Next::Ask {
                            asks += 1;
                            may_ask = asker.permits(now, asks) > 0;
                            let my_mac = sh.cfg.paths.links()[l].mac;
                            out.frames[l].push_with(|buf| {
                                neighbour::build_request(buf, my_mac, route.src_ip, dst)
                            });
                            if out.frames[l].is_full() {
                                sent += out.flush(l, &mut txs[l])?;
                            }
                        }
                        aside.push(idx, level, now);
                        continue;
                    }
                },
            };
            let c = sh
                .cfg
                .key
                .cookie(route.src_ip, dst, dport, sh.cfg.source_ports);
            let f = SynFields {
                dst,
                sport: c.sport,
                dport,
                seq: c.seq,
                ip_id: (c.seq ^ (c.seq >> 16)) as u16,
                tsval,
            };
            out.frames[l].push_with(|buf| {
                let len = tpl.fill(buf, &f);
                if let Some(mac) = mac {
                    buf[..6].copy_from_slice(&mac); // on-link target: its own MAC
                }
                len
            });
            out.syns[l] += 1;
            syns += 1;
            sh.times.record(idx, now_us);
            if out.frames[l].is_full() {
                sent += out.flush(l, &mut txs[l])?;
            }
        }
        let mut flushed = 0;
        for (l, tx) in txs.iter_mut().enumerate() {
            flushed += out.flush(l, tx)?;
        }
        sent += flushed;
        sh.sent.fetch_add(syns, Ordering::Relaxed);
        if syns > 0 {
            last_ns = sh.clock.now_ns();
        }
        let walk_done = (k >= n && !cycling) || aside.len() >= ASIDE_CAP;
        if syns == 0 && (walk_done || !may_ask) {
            // Nothing to send until a set-aside pair is due, or the next request may go.
            let mut wake = now + ASIDE_MAX_NS;
            if let Some(due) = aside.next_due() {
                wake = wake.min(due);
            }
            if !may_ask && !walk_done {
                wake = wake.min(asker.next_permit_ns(asks));
            }
            if resolving || !aside.is_empty() {
                sh.clock.sleep_until(wake);
            }
        }
    }
    Ok(Sent {
        probes: sent,
        last_ns,
    })
}
