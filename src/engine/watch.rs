//! The continuous driver of `watch`: one engine (the receiver thread and one send thread of
//! `scan`, the same templates, routes, neighbours, cookies and teardown) for the whole
//! fleet. This thread owns the `Fleet`: each tick it takes the answers the receiver proved,
//! ends the checks whose deadline passed in silence, and hands the pairs that came due to
//! the send thread, a tick's worth of the send rate at a time (`watch_admit.rs`). It sleeps
//! until the next slot or deadline (at most a tick).
//!
//! Under `--rate auto` the scan's pilot and canaries run here too: the same controller
//! (`rate::Controller`) finds the rate the path answers without loss, and the driver admits
//! checks at that rate, so a path that cannot carry the fleet makes checks late (and says
//! so), never false alarms.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel, sync_channel};
use std::time::Duration;

use super::canaries::Canaries;
use super::net::{Network, PacketNetwork, shield};
use super::pending::Pending;
use super::pilot::{Pilot, PilotStatus};
use super::receiver::{RxCounters, RxTask};
use super::run::{NEIGHBOUR_INTERVAL_MS, SetOnDrop, silence, templates};
use super::sender::{Pairs, SendJob, SendShared, Walk, send_walk};
use super::watch_admit::{Admission, LateNotice};
use super::{Clock, EngineConfig, EngineError, Neighbours, SendTimes, Tracker};
use crate::health::{Check, Event, Fleet, Observer};
use crate::io::RxFilter;
use crate::permute::Permutation;
use crate::probe::ProbeResult;

/// The driver's tick is this share of the shortest period (interval or fast interval):
/// checks due within a tick go out together, in one batch, instead of one kernel call each
/// (a 100,000-target fleet at a 10 s interval has one due every 0.1 ms), and a check runs
/// at most a tick after its slot, far below the 10 % of the interval at which it is late.
const TICKS_PER_PERIOD: u64 = 200;
/// Bounds of the tick: at least this, so a small fleet at a short interval still batches...
const MIN_TICK_MS: u64 = 5;
/// ...and at most this, so flags (stop, reload, snapshot) are seen within it.
const MAX_TICK_MS: u64 = 50;

/// The driver's tick for `config` (see [`TICKS_PER_PERIOD`]).
fn tick_ms(config: &crate::health::Config) -> u64 {
    let period = config.interval_ms().min(config.fast_interval_ms());
    (period / TICKS_PER_PERIOD).clamp(MIN_TICK_MS, MAX_TICK_MS)
}

/// What the driver polls between ticks (set from signal handlers).
pub struct WatchControl<'a> {
    /// End the watch (SIGINT, SIGTERM).
    pub stop: &'a AtomicBool,
    /// Reload the targets (SIGHUP): the engine ends so the caller can rebuild it.
    pub reload: &'a AtomicBool,
    /// Print every target's state (SIGUSR1).
    pub snapshot: &'a AtomicBool,
}

/// Where `watch`'s output goes: one event per transition, and snapshots on request.
pub trait WatchOutput {
    fn event(&mut self, e: &Event) -> std::io::Result<()>;
    fn snapshot(&mut self, fleet: &Fleet);
    /// A line for the operator (stderr), such as checks running late for want of rate.
    fn note(&mut self, line: &str);
}

/// Why a watch run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Stopped by the `stop` flag.
    Stopped,
    /// The `reload` flag: rebuild the config from the new targets and run again.
    Reload,
    /// The reader of the events went away (a closed pipe).
    OutputClosed,
}

/// Watch on the real network until stopped or asked to reload.
pub fn watch(
    cfg: &EngineConfig,
    fleet: &mut Fleet,
    out: &mut dyn WatchOutput,
    observer: &dyn Observer,
    ctl: &WatchControl,
    now_ms: &dyn Fn() -> u64,
) -> Result<Ended, EngineError> {
    let _shield = shield(cfg);
    let net = PacketNetwork {
        links: cfg.paths.links(),
    };
    watch_on(&net, cfg, fleet, out, observer, ctl, now_ms)
}

/// Where the send rate comes from, each tick: `--rate`, or under `--rate auto` the pilot's
/// controller (and its canaries, for the observer).
struct RateSource<'a> {
    fixed: Option<f64>,
    pilot: Option<(&'a PilotStatus, &'a Canaries)>,
}

impl RateSource<'_> {
    fn now(&self) -> Option<f64> {
        self.pilot.and_then(|(s, _)| s.rate()).or(self.fixed)
    }

    /// What `--rate auto` is doing, for the operator (`None` at a fixed rate).
    fn describe(&self) -> Option<String> {
        let (status, canaries) = self.pilot?;
        let t = canaries.totals();
        Some(format!(
            "--rate auto: {:.0} probes/s now; canaries: {} answered, {} lost{}",
            status.rate().unwrap_or(0.0),
            t.answered,
            t.lost,
            t.loss()
                .map_or(String::new(), |l| format!(" ({:.1} %)", l * 100.0))
        ))
    }
}

/// Everything the driver's tick works with.
struct Driver<'a, 'o> {
    cfg: &'a EngineConfig,
    tracker: &'a Tracker,
    neighbours: &'a Neighbours,
    fleet: &'a mut Fleet,
    out: &'a mut dyn WatchOutput,
    observer: &'o dyn Observer,
    pending: Pending,
    /// Fleet id -> pair index, filled as targets first come due.
    pair_of_id: Vec<Option<u64>>,
    /// How many due checks may go to the send thread now.
    admission: Admission,
    late_notice: LateNotice,
    rate: RateSource<'a>,
}

impl Driver<'_, '_> {
    fn target_of(&self, idx: u64) -> SocketAddr {
        let (ip, port) = self.cfg.space.pair(idx);
        SocketAddr::new(ip, port)
    }

    /// Counts one check's result for pair `idx`, the fleet's target `id`; a transition is
    /// printed and reported.
    fn record(&mut self, idx: u64, id: u32, check: Check, now_ms: u64) -> std::io::Result<()> {
        let target = self.target_of(idx);
        self.observer.checked(target, &check);
        if let Some(e) = self.fleet.record_id(id, check, now_ms) {
            self.observer.transition(&e);
            self.observer.health(target, e.transition.to);
            self.out.event(&e)?;
        }
        Ok(())
    }

    /// Answers the receiver proved: each ends its pending check.
    fn answers(&mut self, batch: &[ProbeResult], now_ms: u64) -> std::io::Result<()> {
        for r in batch {
            let Some(idx) = self.cfg.space.index(r.ip, r.port) else {
                continue;
            };
            if let Some(id) = self.pending.answer(idx) {
                self.record(idx, id, Check::from(r), now_ms)?;
            }
        }
        Ok(())
    }

    /// Checks whose deadline passed with no answer: silent, for the reason the engine knows
    /// (no route, no neighbour, or no response).
    fn expire(&mut self, now_ms: u64) -> std::io::Result<()> {
        while let Some((idx, id)) = self.pending.expire(now_ms) {
            let reason = silence(self.cfg, self.neighbours, idx);
            self.record(idx, id, Check::fail(reason), now_ms)?;
        }
        Ok(())
    }

    /// The pair index of the fleet's target `id` (found once, then kept by id: ids are
    /// stable while this engine runs, since a reload rebuilds it).
    fn pair_of(&mut self, id: u32, target: SocketAddr) -> Option<u64> {
        let i = id as usize;
        if i >= self.pair_of_id.len() {
            self.pair_of_id.resize(i + 1, None);
        }
        if self.pair_of_id[i].is_none() {
            self.pair_of_id[i] = self.cfg.space.index(target.ip(), target.port());
        }
        self.pair_of_id[i]
    }

    /// The pairs due by `now_ms`, as many as the admission allows, each made ready for a
    /// fresh check: its answer bit cleared (so the answer is a match, not a duplicate), an
    /// absent neighbour given another chance, and its deadline set from now.
    fn due(&mut self, now_ms: u64) -> std::io::Result<Vec<u64>> {
        let timeout = self.fleet.config().timeout_ms();
        let budget = self.admission.budget(now_ms);
        let mut batch = Vec::new();
        while (batch.len() as u64) < budget
            && let Some(d) = self.fleet.pop_due(now_ms)
        {
            let Some(idx) = self.pair_of(d.id, d.target) else {
                continue; // not in this engine's space: cannot happen, the caller builds both
            };
            if let Some(id) = self.pending.answer(idx) {
                // Still pending from the last slot (the driver ran late): that check ends
                // now, in silence, before the next one starts.
                let reason = silence(self.cfg, self.neighbours, idx);
                self.record(idx, id, Check::fail(reason), now_ms)?;
            }
            self.tracker.clear(idx);
            self.neighbours
                .forget_absent(self.cfg.space.target_index(idx));
            self.pending.start(idx, d.id, now_ms + timeout);
            batch.push(idx);
        }
        self.admission.admitted(batch.len() as u64);
        Ok(batch)
    }

    /// How long to sleep: until the next slot or deadline, between half a tick and a tick
    /// (answers wait for the next tick: they are counted in bulk, without a wake-up each).
    fn sleep_for(&mut self, now_ms: u64) -> Duration {
        let tick = tick_ms(self.fleet.config());
        let next = [self.fleet.next_due_ms(), self.pending.next_deadline_ms()]
            .into_iter()
            .flatten()
            .min();
        Duration::from_millis(match next {
            // Still due after `due`: the admission held it back until the rate allows more.
            Some(t) if t <= now_ms => tick,
            Some(t) => (t - now_ms).clamp(tick / 2, tick),
            None => tick,
        })
    }
}

/// Watch over any network (the real one, or a simulated one in tests).
pub fn watch_on<N: Network>(
    net: &N,
    cfg: &EngineConfig,
    fleet: &mut Fleet,
    out: &mut dyn WatchOutput,
    observer: &dyn Observer,
    ctl: &WatchControl,
    now_ms: &dyn Fn() -> u64,
) -> Result<Ended, EngineError> {
    let clock = Clock::start(cfg.ts_offset);
    let pairs_total = cfg.space.len();
    let perm = Permutation::new(pairs_total, cfg.seed);
    let tracker = Tracker::new(pairs_total);
    let times = SendTimes::new(pairs_total);
    // One request per check: a target that does not answer it by the check's deadline is
    // `no-neighbour` for that check, and asked again at the next.
    let neighbours = Neighbours::new(
        cfg.paths.on_link(cfg.space.targets.len()),
        1,
        NEIGHBOUR_INTERVAL_MS.min(fleet.config().timeout_ms().max(1) as u32),
    );
    for &(t, mac) in &cfg.known_macs {
        neighbours.learn(t, mac);
    }
    let counters = RxCounters::default();
    let sent = AtomicU64::new(0);
    let decided = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    // Stops the send thread mid-batch when the driver ends.
    let halt = AtomicBool::new(false);
    // `--rate auto`: canaries among the checks, and the pilot steering the rate.
    let auto = cfg.auto.is_some();
    let canaries = Canaries::new(cfg.key.k1 ^ cfg.seed.rotate_left(29));
    let pace = AtomicU64::new(0);
    let status = PilotStatus::default();
    let tick = Duration::from_millis(tick_ms(fleet.config()));
    let trace = super::pilot::open_trace(cfg)?;
    let pilot = cfg.auto.map(|limits| Pilot {
        canaries: &canaries,
        controller: Some(
            crate::rate::Controller::new(limits, clock.now_ns()).tuned(crate::rate::Tuning::WATCH),
        ),
        pace: &pace,
        threads: 1,
        sent: &sent,
        rx_drops: &counters.ring_drops,
        clock,
        done: &done,
        status: &status,
        trace,
        tick,
        last_round: None,
    });
    if let Some(p) = &pilot {
        p.publish_start(); // the first tick's admission already follows it
    }

    let rx = net.open_rx(&RxFilter {
        local_ips: cfg.paths.local_ips(),
        ports: cfg.source_ports,
        neighbours: !neighbours.is_empty(),
    })?;
    let links = cfg.paths.links().len();
    let open_all = || {
        (0..links)
            .map(|l| net.open_tx(l))
            .collect::<Result<Vec<_>, _>>()
    };
    let control_tx = open_all()?;
    let mut send_txs = open_all()?;
    let shared = SendShared {
        cfg,
        perm: &perm,
        tracker: &tracker,
        times: &times,
        templates: templates(cfg),
        neighbours: &neighbours,
        clock,
        stop: &halt,
        sent: &sent,
        owed: &counters.challenge_debt,
        decided: &decided,
        canaries: auto.then_some(&canaries),
        pace: auto.then_some(&pace),
        canary_floor: crate::rate::Tuning::WATCH.min_canaries_per_sec,
    };
    let (res_tx, res_rx) = sync_channel::<Vec<ProbeResult>>(4096);
    let (due_tx, due_rx) = channel::<Vec<u64>>();
    let mut driver = Driver {
        cfg,
        tracker: &tracker,
        neighbours: &neighbours,
        fleet,
        out,
        observer,
        pending: Pending::default(),
        pair_of_id: Vec::new(),
        admission: Admission::new(None, tick.as_millis() as u64, now_ms()),
        late_notice: LateNotice::default(),
        rate: RateSource {
            fixed: cfg.rate,
            pilot: auto.then_some((&status, &canaries)),
        },
    };

    std::thread::scope(|s| {
        let task = RxTask {
            cfg,
            tracker: &tracker,
            times: &times,
            counters: &counters,
            neighbours: &neighbours,
            clock,
            done: &done,
            out: res_tx,
            canaries: auto.then_some(&canaries),
        };
        let rx_handle = s.spawn(move || task.run(rx, control_tx));
        let pilot_handle = pilot.map(|p| s.spawn(move || p.run()));
        let shared = &shared;
        let send_handle = s.spawn(move || {
            // Pairs come in the order they came due; the rate (if any) caps the flow.
            for (n, batch) in due_rx.into_iter().enumerate() {
                let job = SendJob {
                    pairs: Pairs::List(&batch),
                    skip_answered: false,
                    rate: cfg.rate,
                    cycle_until_ns: None,
                };
                // Each batch draws its canaries afresh (as if a thread of its own): the
                // draws are by position in the walk, and every batch starts at 0.
                let walk = Walk {
                    start: 0,
                    progress: None,
                    count_decided: true,
                    thread: n as u64,
                };
                send_walk(shared, &mut send_txs, &job, &walk)?;
            }
            Ok::<(), crate::io::IoError>(())
        });
        let ended = {
            let _done = SetOnDrop(&done);
            let _halt = SetOnDrop(&halt);
            let r = drive(&mut driver, &res_rx, &due_tx, &sent, ctl, now_ms);
            drop(due_tx);
            r
        };
        if let Some(h) = pilot_handle {
            h.join().expect("pilot thread panicked");
        }
        let rx_r = rx_handle.join().expect("receiver thread panicked");
        let send_r = send_handle.join().expect("send thread panicked");
        rx_r?;
        send_r?;
        ended
    })
}

/// The driver's loop; returns when a flag says so, or the output or a thread fails.
fn drive(
    d: &mut Driver,
    results: &Receiver<Vec<ProbeResult>>,
    to_send: &std::sync::mpsc::Sender<Vec<u64>>,
    sent: &AtomicU64,
    ctl: &WatchControl,
    now_ms: &dyn Fn() -> u64,
) -> Result<Ended, EngineError> {
    let mut reported_sent = 0;
    let mut reported_late = 0;
    loop {
        if ctl.stop.load(Ordering::Relaxed) {
            if let Some(line) = d.rate.describe() {
                d.out.note(&line);
            }
            return Ok(Ended::Stopped);
        }
        if ctl.reload.swap(false, Ordering::Relaxed) {
            return Ok(Ended::Reload);
        }
        if ctl.snapshot.swap(false, Ordering::Relaxed) {
            d.out.snapshot(d.fleet);
            if let Some(line) = d.rate.describe() {
                d.out.note(&line);
            }
        }
        let now = now_ms();
        let rate = d.rate.now();
        d.admission.set_rate(rate, now);
        // Answers since the last tick; the receiver gone is an error its join reports.
        let mut arrived = Vec::new();
        loop {
            match results.try_recv() {
                Ok(b) => arrived.push(b),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ok(Ended::Stopped),
            }
        }
        let tick = (|| {
            for batch in arrived.drain(..) {
                d.answers(&batch, now)?;
            }
            d.expire(now)?;
            let batch = d.due(now)?;
            Ok::<_, std::io::Error>(batch)
        })();
        let batch = match tick {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Ok(Ended::OutputClosed);
            }
            Err(e) => return Err(e.into()),
        };
        if !batch.is_empty() && to_send.send(batch).is_err() {
            // The send thread ended, which only an error does: its join reports it.
            return Ok(Ended::Stopped);
        }
        let now_sent = sent.load(Ordering::Relaxed);
        if now_sent > reported_sent {
            d.observer.probes_sent(now_sent - reported_sent);
            reported_sent = now_sent;
        }
        if d.fleet.late() != reported_late {
            reported_late = d.fleet.late();
            d.observer.late_total(reported_late);
        }
        let (auto, config) = (d.rate.pilot.is_some(), d.fleet.config());
        let (len, interval) = (d.fleet.len(), config.interval_ms());
        if let Some(line) = d
            .late_notice
            .check(now, reported_late, rate, auto, len, interval)
        {
            d.out.note(&line);
        }
        d.observer
            .pacing(rate, d.rate.pilot.map(|(_, c)| c.totals()));
        std::thread::sleep(d.sleep_for(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Settings;

    fn config(interval_ms: u64, fast_ms: u64) -> crate::health::Config {
        Settings {
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(fast_ms / 2),
            fast_interval: Some(Duration::from_millis(fast_ms)),
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn the_tick_is_a_share_of_the_shortest_period_within_bounds() {
        assert_eq!(
            tick_ms(&config(1_000, 1_000)),
            MIN_TICK_MS,
            "a second: 5 ms"
        );
        assert_eq!(tick_ms(&config(10_000, 10_000)), 50, "10 s: 50 ms");
        assert_eq!(tick_ms(&config(30_000, 30_000)), MAX_TICK_MS, "capped");
        assert_eq!(
            tick_ms(&config(30_000, 2_000)),
            10,
            "the fast interval counts"
        );
        assert_eq!(tick_ms(&config(100, 100)), MIN_TICK_MS, "floored");
        // Far below the lateness allowance (10 % of the interval) at every interval.
        for s in [1, 2, 5, 10, 30, 60, 300] {
            let c = config(s * 1_000, s * 1_000);
            assert!(tick_ms(&c) * 10 <= c.late_after_ms().max(MIN_TICK_MS * 10));
        }
    }
}
