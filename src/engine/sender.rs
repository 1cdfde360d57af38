//! One send thread: walks its slice of the permutation, builds SYNs from the template into
//! a batch, and hands whole batches to the kernel at the paced rate.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::net::Transmit;
use super::{Clock, EngineConfig, SendTimes, Tracker};
use crate::io::{FrameBatch, IoError};
use crate::pacer::Pacer;
use crate::permute::{Permutation, Slice};
use crate::wire::{SynFields, SynTemplate};

/// Frames per kernel call: zmap's and the plain-C anchor's batch size.
pub const BATCH: usize = 64;

/// What every send thread shares (read-only, or atomics).
pub struct SendShared<'a> {
    pub cfg: &'a EngineConfig,
    pub perm: &'a Permutation,
    pub tracker: &'a Tracker,
    pub times: &'a SendTimes,
    pub t4: Option<SynTemplate>,
    pub t6: Option<SynTemplate>,
    pub clock: Clock,
    pub stop: &'a AtomicBool,
    pub sent: &'a AtomicU64,
    /// Packets the receiver sent in answer to bare SYNs and not yet paid for: whichever send
    /// thread takes them counts them against its rate, so SYNs and SYN-ACKs together keep
    /// to `--rate`.
    pub owed: &'a AtomicU64,
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

impl SendShared<'_> {
    fn template(&self, dst: IpAddr) -> Option<&SynTemplate> {
        match dst {
            IpAddr::V4(_) => self.t4.as_ref(),
            IpAddr::V6(_) => self.t6.as_ref(),
        }
    }
}

/// Send one job; returns how many probes went out.
pub fn send_job(sh: &SendShared, tx: &mut impl Transmit, job: &SendJob) -> Result<u64, IoError> {
    let n = job.slice.len();
    if n == 0 {
        return Ok(0);
    }
    let mut batch = FrameBatch::with_capacity(BATCH);
    let mut pacer = Pacer::new(job.rate, BATCH as u64, sh.clock.now_ns());
    // At low rates, wait for a batch worth at most half a millisecond of probes rather than
    // making one syscall per probe; at high rates that is the full batch.
    let want = job.rate.map_or(BATCH as u64, |r| {
        ((r * 0.0005) as u64).clamp(1, BATCH as u64)
    });
    // `sent` counts this thread's SYNs; `paid` the receiver's SYN-ACKs it took over.
    let (mut k, mut sent, mut paid) = (0u64, 0u64, 0u64);
    let src = |ip: IpAddr| match ip {
        IpAddr::V4(_) => sh.cfg.paths.v4.as_ref().map(|p| p.src_ip),
        IpAddr::V6(_) => sh.cfg.paths.v6.as_ref().map(|p| p.src_ip),
    };
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        let now = sh.clock.now_ns();
        match job.cycle_until_ns {
            Some(end) if now >= end => break,
            None if k >= n => break,
            _ => {}
        }
        if job.rate.is_some() && sh.owed.load(Ordering::Relaxed) > 0 {
            paid += sh.owed.swap(0, Ordering::Relaxed);
        }
        let permits = pacer.permits(now, sent + paid);
        let left = if job.cycle_until_ns.is_some() {
            u64::MAX
        } else {
            n - k
        };
        if permits < want.min(left) {
            sh.clock
                .sleep_until(pacer.next_permit_ns(sent + paid + want.min(left) - 1));
            continue;
        }
        let quota = permits.min(BATCH as u64) as usize;
        let now_real = crate::io::realtime_ns();
        let tsval = sh.clock.tsval_at(now_real);
        let now_us = (now_real / 1000) as u32;
        // Bounded so that a slice whose pairs are all skipped cannot spin here forever.
        let mut tries = 0;
        while batch.len() < quota && tries < 4 * BATCH && (k < n || job.cycle_until_ns.is_some()) {
            tries += 1;
            let pos = job.slice.position(k % n);
            k += 1;
            let idx = sh.perm.at(pos);
            if (job.skip_answered && sh.tracker.is_set(idx)) || !sh.cfg.wants(idx) {
                continue;
            }
            let (dst, dport) = sh.cfg.space.pair(idx);
            let (Some(t), Some(src)) = (sh.template(dst), src(dst)) else {
                continue;
            };
            let c = sh.cfg.key.cookie(src, dst, dport, sh.cfg.source_ports);
            let f = SynFields {
                dst,
                sport: c.sport,
                dport,
                seq: c.seq,
                ip_id: (c.seq ^ (c.seq >> 16)) as u16,
                tsval,
            };
            let neighbour = sh.cfg.neighbours.as_ref().and_then(|n| n.get(&dst));
            batch.push_with(|buf| {
                let len = t.fill(buf, &f);
                if let Some(mac) = neighbour {
                    buf[..6].copy_from_slice(mac); // on-link target: its own MAC
                }
                len
            });
            sh.times.record(idx, now_us);
        }
        if !batch.is_empty() {
            let c = tx.send(&mut batch)? as u64;
            sent += c;
            sh.sent.fetch_add(c, Ordering::Relaxed);
        }
    }
    Ok(sent)
}
