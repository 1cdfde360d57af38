//! One send thread: walks its slice of the permutation, builds SYNs from the templates into
//! a batch per link, and hands whole batches to the kernel at the paced rate. A pair whose
//! on-link target's MAC is not known yet is set aside (after asking for it, once) and sent
//! when the answer is in, so resolving an on-link fleet costs no extra pass.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::aside::Aside;
use super::canaries::Canaries;
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
/// At a fixed rate, a thread's first probes carry no canaries: few pairs have answered to
/// draw them from, and a scan this small has too few canaries for an estimate anyway.
/// Under `--rate auto` the controller needs them from the start.
const CANARY_WARMUP: u64 = 1024;
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
    /// Canaries to send among the probes (`canaries.rs`); `None`: none.
    pub canaries: Option<&'a Canaries>,
    /// Each thread's rate as `f64` bits when `--rate auto` steers it; `None`: the job's rate.
    pub pace: Option<&'a AtomicU64>,
    /// Canaries a second at the least when steered (`rate::Tuning::min_canaries_per_sec`).
    pub canary_floor: f64,
}

/// Which pairs a job walks: a thread's slice of the permutation (scan, check, bench), or a
/// list of pair indices handed over as they come due (watch).
#[derive(Clone, Copy, Debug)]
pub enum Pairs<'a> {
    Slice(Slice),
    List(&'a [u64]),
}

impl Pairs<'_> {
    fn len(&self) -> u64 {
        match self {
            Pairs::Slice(s) => s.len(),
            Pairs::List(l) => l.len() as u64,
        }
    }

    /// Whether the walk may meet pairs the run does not probe: a list holds only wanted
    /// ones, so a watch's send path skips the lookup in `EngineConfig::only`.
    fn filtered(&self) -> bool {
        matches!(self, Pairs::Slice(_))
    }

    /// The `k`-th pair index of the walk (`k < len`), and its key in `tracker` (a slice
    /// knows the position, so no inverse permutation is needed).
    fn at(&self, perm: &Permutation, tracker: &Tracker, k: u64) -> (u64, Option<u64>) {
        match self {
            Pairs::Slice(s) => {
                let pos = s.position(k);
                let idx = perm.at(pos);
                (idx, tracker.key_at(pos, idx))
            }
            Pairs::List(l) => {
                let idx = l[k as usize];
                (idx, tracker.key_of(idx))
            }
        }
    }
}

/// One thread's task for one round.
pub struct SendJob<'a> {
    pub pairs: Pairs<'a>,
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

/// Where a job's walk starts and what it reports on the way (for scans that can be resumed).
pub struct Walk<'a> {
    /// Steps of the walk already behind it (a resumed round starts part-way).
    pub start: u64,
    /// Published after every batch: every step before it has been sent (or decided); the
    /// steps of pairs still set aside for ARP / NDP are not.
    pub progress: Option<&'a AtomicU64>,
    /// Count pairs decided without a probe (no route, no neighbour) in `decided`: true in
    /// the first round only, so each is counted once.
    pub count_decided: bool,
    /// Which send thread walks (draws its canaries apart from the others').
    pub thread: u64,
}

/// Send one job over `txs` (one per link of `cfg.paths`), from `walk.start`, publishing its
/// progress.
pub fn send_walk(
    sh: &SendShared,
    txs: &mut [impl Transmit],
    job: &SendJob,
    walk: &Walk,
) -> Result<Sent, IoError> {
    let n = job.pairs.len();
    let publish = |k: u64, aside: &Aside| {
        if let Some(p) = walk.progress {
            p.store(
                aside.first_walk().map_or(k, |a| a.min(k)),
                Ordering::Release,
            );
        }
    };
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
    // Retry rounds read answers from a copy of the span being walked, not under the lock.
    let mut answered = sh.tracker.reader();
    // The rate counts the walk's steps: a pair's SYN, or, for an on-link target whose MAC is
    // not known yet, its request (or its wait for one already out). A pair set aside was
    // paid for when the walk reached it, so its SYN goes out when the answer is in, free:
    // an on-link sweep walks at the rate, its SYNs following a few milliseconds behind.
    let steered = sh.pace.is_some();
    let pace_now = || sh.pace.map(|p| p.load(Ordering::Relaxed));
    let mut pace_bits = pace_now();
    let mut rate = pace_bits.map_or(job.rate, |b| Some(f64::from_bits(b)));
    let mut pacer = Pacer::new(rate, BATCH as u64, sh.clock.now_ns());
    // At low rates, wait for a batch worth at most half a millisecond of probes rather than
    // making one syscall per probe; at high rates that is the full batch.
    let want_at = |rate: Option<f64>| {
        rate.map_or(BATCH as u64, |r| {
            ((r * 0.0005) as u64).clamp(1, BATCH as u64)
        })
    };
    let mut want = want_at(rate);
    // One canary per `every` probes, from every thread's rate together (canaries are
    // counted per run, not per thread); worked out when the rate changes, not per probe.
    let threads = sh.cfg.send_threads.max(1) as f64;
    let floor = steered.then_some(sh.canary_floor);
    let every_at = |rate: Option<f64>| super::canaries::every(rate.map(|r| r * threads), floor);
    let mut every = every_at(rate);
    // A canary is due after the probe that drew it; `drawn` counts this thread's draws.
    let (mut canary_due, mut drawn) = (false, 0u64);
    // `sent` counts this thread's SYNs, `walked` its paced steps; `paid` the receiver's
    // SYN-ACKs it took over.
    let (mut k, mut sent, mut walked, mut paid) = (walk.start.min(n), 0u64, 0u64, 0u64);
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
        if steered && pace_now() != pace_bits {
            pace_bits = pace_now();
            rate = pace_bits.map(f64::from_bits);
            pacer.set_rate(rate, now, walked + paid);
            want = want_at(rate);
            every = every_at(rate);
        }
        if rate.is_some() && sh.owed.load(Ordering::Relaxed) > 0 {
            paid += sh.owed.swap(0, Ordering::Relaxed);
        }
        let walking = (k < n || cycling) && aside.len() < ASIDE_CAP;
        let left = if cycling { u64::MAX } else { n - k };
        let step = want.min(left).max(1);
        let permits = if walking {
            pacer.permits(now, walked + paid)
        } else {
            0
        };
        let due = aside.next_due().is_some_and(|d| d <= now);
        if permits < step && !due {
            // Nothing to do until the schedule allows more steps or a pair comes due.
            let mut wake = now + ASIDE_MAX_NS;
            if walking {
                wake = wake.min(pacer.next_permit_ns(walked + paid + step - 1));
            }
            if let Some(d) = aside.next_due() {
                wake = wake.min(d);
            }
            sh.clock.sleep_until(wake);
            continue;
        }
        let quota = if permits >= step {
            permits.min(BATCH as u64)
        } else {
            0
        };
        let now_real = crate::io::realtime_ns();
        let tsval = sh.clock.tsval_at(now_real);
        let now_us = (now_real / 1000) as u32;
        let now_ms = (now / 1_000_000) as u32;
        let (mut steps, mut syns) = (0u64, 0u64);
        // Bounded so that a slice whose pairs are all skipped cannot spin here forever.
        let mut tries = 0;
        while tries < 4 * BATCH {
            tries += 1;
            // Set-aside pairs that are due first, then the walk.
            let (idx, key, step, level, new, canary) =
                if let Some((idx, step, level)) = aside.pop_due(now) {
                    (idx, sh.tracker.key_of(idx), step, level, false, false)
                } else if canary_due && steps < quota {
                    // A re-probe of an answered pair, paid for as a step of the walk.
                    canary_due = false;
                    match sh.canaries.and_then(|c| c.pick(walk.thread, drawn, now)) {
                        Some(idx) => (idx, sh.tracker.key_of(idx), 0, 0, true, true),
                        None => continue,
                    }
                } else if steps < quota && (k < n || cycling) && aside.len() < ASIDE_CAP {
                    let (idx, key) = job.pairs.at(sh.perm, sh.tracker, k % n);
                    k += 1;
                    (idx, key, k - 1, 0, true, false)
                } else {
                    break;
                };
            if !canary
                && ((job.skip_answered && key.is_some_and(|key| answered.is_set_key(key)))
                    || (job.pairs.filtered() && !sh.cfg.wants(idx)))
            {
                continue;
            }
            let t = sh.cfg.space.target_index(idx);
            let (span, s) = sh.cfg.paths.span_of(t);
            let (Some(route), Some(tpl)) = (s.exit, sh.templates[span].as_ref()) else {
                // No route: reported as such at the end, decided now.
                if walk.count_decided && !canary {
                    sh.decided.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            };
            let (dst, dport) = sh.cfg.space.pair_at(idx, t);
            let l = route.link;
            steps += u64::from(new);
            let mac = match route.hop {
                Hop::Mac(_) => None, // in the template
                Hop::OnLink => match sh.neighbours.next(t, now_ms) {
                    Next::Use(mac) => Some(mac),
                    Next::Absent => {
                        if walk.count_decided && !canary {
                            sh.decided.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    // A canary's target answered, so its MAC is known; if not, no canary.
                    _ if canary => continue,
                    next => {
                        if next == Next::Ask {
                            let my_mac = sh.cfg.paths.links()[l].mac;
                            out.frames[l].push_with(|buf| {
                                neighbour::build_request(buf, my_mac, route.src_ip, dst)
                            });
                            if out.frames[l].is_full() {
                                sent += out.flush(l, &mut txs[l])?;
                            }
                        }
                        aside.push(idx, step, level, now);
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
            if let Some(key) = key
                && !canary
            {
                sh.times.record(key, now_us);
            }
            if new
                && !canary
                && let Some(c) = sh.canaries
            {
                canary_due =
                    (steered || drawn >= CANARY_WARMUP) && c.draw(walk.thread, drawn, every);
                drawn += 1;
            }
            if out.frames[l].is_full() {
                sent += out.flush(l, &mut txs[l])?;
            }
        }
        for (l, tx) in txs.iter_mut().enumerate() {
            sent += out.flush(l, tx)?;
        }
        walked += steps;
        sh.sent.fetch_add(syns, Ordering::Relaxed);
        if !cycling {
            publish(k, &aside);
        }
        if syns > 0 {
            last_ns = sh.clock.now_ns();
        }
    }
    Ok(Sent {
        probes: sent,
        last_ns,
    })
}
