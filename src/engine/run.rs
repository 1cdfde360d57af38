//! The driver: opens the sockets, starts the receiver, runs the send rounds with their
//! waits, streams verdicts to the sink, and reports the silent pairs at the end.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use super::canaries::Canaries;
use super::net::{Network, PacketNetwork, Transmit, shield};
use super::pilot::{Pilot, PilotStatus};
use super::receiver::{RxCounters, RxTask};
use super::sender::{Pairs, SendJob, SendShared, Sent, Walk, send_walk};
use super::{Clock, EngineConfig, EngineError, Neighbours, Schedule, SendTimes, Tracker};
use crate::io::RxFilter;
use crate::output::{Progress, Sink, Snapshot, Summary};
use crate::path::Hop;
use crate::permute::{Permutation, Slice};
use crate::probe::{ProbeResult, Reason};
use crate::resume::{Position, Settle};
use crate::wire::{SynParams, SynTemplate};

/// How often the driver checks whether every pair has answered during a wait.
const WAIT_TICK: Duration = Duration::from_millis(5);
/// How often the driver notes where the senders are, for checkpoints.
const SEE_EVERY: Duration = Duration::from_millis(100);

/// How long an on-link target has to answer an ARP / NDP request before it is asked again,
/// and how many requests it gets (the kernel's own defaults: 1 s, 3 probes, are kinder to
/// one connection than to a sweep of absent hosts).
pub(super) const NEIGHBOUR_INTERVAL_MS: u32 = 500;

/// One SYN template per span of the path table; `None` for a span without a route.
pub(super) fn templates(cfg: &EngineConfig) -> Vec<Option<SynTemplate>> {
    let links = cfg.paths.links();
    cfg.paths
        .spans()
        .iter()
        .map(|s| {
            s.exit.map(|r| {
                let dst_mac = match r.hop {
                    Hop::Mac(m) => m,
                    Hop::OnLink => [0; 6], // each probe gets its target's own
                };
                SynTemplate::new(&SynParams {
                    src_mac: links[r.link].mac,
                    dst_mac,
                    src_ip: r.src_ip,
                    ttl: cfg.shape.ttl,
                    window: cfg.shape.window,
                    mss: cfg.shape.mss,
                    wscale: cfg.shape.wscale,
                })
            })
        })
        .collect()
}

/// Why a pair that never answered is silent: no route, no neighbour, or no response.
pub(super) fn silence(cfg: &EngineConfig, neighbours: &Neighbours, idx: u64) -> Reason {
    let t = cfg.space.target_index(idx);
    match cfg.paths.exit_of(t) {
        None => Reason::NoRoute,
        Some(_) if neighbours.absent(t) => Reason::NoNeighbour,
        Some(_) => Reason::NoResponse,
    }
}

/// Sets its flag when dropped, on return or unwind alike.
pub(super) struct SetOnDrop<'a>(pub(super) &'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// What the driver thread measured.
#[derive(Default)]
struct DriveReport {
    send_secs: f64,
    first_round_rate: Option<f64>,
}

/// Run the engine on the real network to completion (or until `stop` is set), streaming
/// every verdict to `sink`.
pub fn run(
    cfg: &EngineConfig,
    sink: &mut dyn Sink,
    progress: &mut Progress,
    stop: &AtomicBool,
) -> Result<Summary, EngineError> {
    on_real_network(cfg, |net| run_on(net, cfg, sink, progress, stop))
}

/// `f` over the real network of `cfg`'s links, with the SYN-ACK shield held while it runs.
fn on_real_network<T>(
    cfg: &EngineConfig,
    f: impl FnOnce(&PacketNetwork) -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    if !cfg.paths.any_route() {
        return Err(EngineError::Config("no route to any target".into()));
    }
    let _shield = shield(cfg);
    f(&PacketNetwork {
        links: cfg.paths.links(),
    })
}

/// What a scan that can be stopped and continued adds to a run.
pub struct Resumable<'a> {
    /// Where the rounds start (a resume file's position); `None`: from the beginning.
    pub from: Option<Position>,
    /// Pairs whose verdict an earlier run wrote, as runs (first, length) of keys of this
    /// shard's walk (`Tracker::for_walk`): neither probed nor reported again.
    pub answered: &'a [(u64, u64)],
    /// How long after the senders pass a position a checkpoint may record it: the wait plus
    /// a margin, so every pair before it has had its wait and its answer is written.
    pub settle: Duration,
    /// Stop as an interrupt does once the run has taken this long.
    pub max_runtime: Option<Duration>,
    /// Called about every second, right after the sink is flushed, with the settled
    /// position and the pairs whose verdicts the sink has taken; and once more at the end
    /// of a stopped run (`last`), with where the senders stopped, after the rest of the wait.
    pub save: &'a mut dyn FnMut(&Position, &Tracker, bool),
    /// Set when `max_runtime` stopped the run.
    pub timed_out: bool,
}

/// Run the engine over any network (the real one, or a simulated one in tests).
pub fn run_on<N: Network>(
    net: &N,
    cfg: &EngineConfig,
    sink: &mut dyn Sink,
    progress: &mut Progress,
    stop: &AtomicBool,
) -> Result<Summary, EngineError> {
    let mut save = |_: &Position, _: &Tracker, _: bool| {};
    let mut hooks = Resumable {
        from: None,
        answered: &[],
        settle: Duration::ZERO,
        max_runtime: None,
        save: &mut save,
        timed_out: false,
    };
    run_resumable(net, cfg, sink, progress, stop, &mut hooks)
}

/// Run a scan that checkpoints its progress and may start where an earlier one stopped.
pub fn run_real_resumable(
    cfg: &EngineConfig,
    sink: &mut dyn Sink,
    progress: &mut Progress,
    stop: &AtomicBool,
    hooks: &mut Resumable,
) -> Result<Summary, EngineError> {
    on_real_network(cfg, |net| {
        run_resumable(net, cfg, sink, progress, stop, hooks)
    })
}

/// [`run_on`], resumable: see [`Resumable`].
pub fn run_resumable<N: Network>(
    net: &N,
    cfg: &EngineConfig,
    sink: &mut dyn Sink,
    progress: &mut Progress,
    stop: &AtomicBool,
    hooks: &mut Resumable,
) -> Result<Summary, EngineError> {
    let started = Instant::now();
    let clock = Clock::start(cfg.ts_offset);
    let pairs_total = cfg.space.len();
    let perm = Permutation::new(pairs_total, cfg.seed);
    let my_slice = Slice::of(pairs_total, cfg.shard.0, cfg.shard.1);
    let slice_len = my_slice.len();
    let my_pairs = cfg.only.as_ref().map_or(slice_len, |o| o.len() as u64);
    // Keyed by position within this shard's slice: memory follows the answers and the
    // walk, not the pair space (`tracker.rs`).
    let tracker = Tracker::for_walk(&perm, my_slice);
    // The pairs whose verdict the sink has taken (the tracker runs ahead of it: a verdict
    // is marked when it is made, then travels to this thread). Keyed alike, for the same
    // reason.
    let written = Tracker::for_walk(&perm, my_slice);
    for &(first, len) in hooks.answered {
        tracker.set_run(first, len);
        written.set_run(first, len);
    }
    let threads = cfg.send_threads.max(1);
    let from = hooks
        .from
        .clone()
        .filter(|p| p.walked.len() == threads)
        .unwrap_or_else(|| Position::start(threads));
    let resumed = hooks.from.is_some();
    let walk = WalkState {
        round: AtomicU32::new(from.round),
        positions: from.walked.iter().map(|&k| AtomicU64::new(k)).collect(),
        from: from.clone(),
        resumed,
        preloaded: written.count(),
        wait_until_ns: AtomicU64::new(0),
    };
    let position = || {
        // Round first: a round's reset positions are stored before its number, so a
        // position read across a reset is an earlier one, never a later one.
        let round = walk.round.load(Ordering::SeqCst);
        Position {
            round,
            walked: walk
                .positions
                .iter()
                .map(|p| p.load(Ordering::SeqCst))
                .collect(),
        }
    };
    let mut settle = Settle::new(from, hooks.settle.as_nanos() as u64);
    // Ends the waits at once (a dead receiver, a reader gone); an interrupt does not.
    let halt = AtomicBool::new(false);
    let times = SendTimes::new(tracker.len());
    let neighbours = Neighbours::new(
        cfg.paths.on_link(cfg.space.targets.len()),
        retries_of(cfg).saturating_add(1).min(15) as u8,
        NEIGHBOUR_INTERVAL_MS,
    );
    for &(t, mac) in &cfg.known_macs {
        neighbours.learn(t, mac);
    }
    let counters = RxCounters::default();
    // Canaries at every rate (the summary's loss estimate); steered under `--rate auto`.
    let canaries = Canaries::new(cfg.key.k1 ^ cfg.seed.rotate_left(29));
    let pace = AtomicU64::new(0);
    let status = PilotStatus::default();
    let controller = cfg
        .auto
        .map(|l| crate::rate::Controller::new(l, clock.now_ns()));
    let trace = super::pilot::open_trace(cfg)?;
    let sent = AtomicU64::new(0);
    let decided = AtomicU64::new(0);
    let done = AtomicBool::new(false);

    // The receiver is open before the first SYN leaves, so no early reply is missed.
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
    let mut senders = Vec::new();
    for _ in 0..threads {
        senders.push(open_all()?);
    }

    let shared = SendShared {
        cfg,
        perm: &perm,
        tracker: &tracker,
        times: &times,
        templates: templates(cfg),
        neighbours: &neighbours,
        clock,
        stop,
        sent: &sent,
        owed: &counters.challenge_debt,
        decided: &decided,
        canaries: Some(&canaries),
        pace: cfg.auto.map(|_| &pace),
        canary_floor: crate::rate::Tuning::SCAN.min_canaries_per_sec,
    };
    let (out_tx, out_rx) = sync_channel::<Vec<ProbeResult>>(4096);
    // The verdicts as they reach the sink, counted by state and reason.
    let mut tally = Summary::default();
    let mut sink_err: Option<std::io::Error> = None;
    let mut output_closed = false;

    let (halt, walk) = (&halt, &walk);
    let (drive, rx_stats) = std::thread::scope(|s| {
        let blocked = crate::io::block_stop_signals();
        let task = RxTask {
            cfg,
            tracker: &tracker,
            times: &times,
            counters: &counters,
            neighbours: &neighbours,
            clock,
            done: &done,
            out: out_tx,
            canaries: Some(&canaries),
        };
        let rx_handle = s.spawn(move || {
            let r = task.run(rx, control_tx);
            // A dead receiver makes the rest of the schedule pointless: stop the senders and
            // the waits now rather than sending and listening for replies nobody reads.
            if r.is_err() {
                halt.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
            }
            r
        });
        let pilot = Pilot {
            canaries: &canaries,
            controller,
            pace: &pace,
            threads: threads as u64,
            sent: &sent,
            rx_drops: &counters.ring_drops,
            clock,
            done: &done,
            status: &status,
            trace,
            tick: super::pilot::SCAN_TICK,
            last_round: (retries_of(cfg) > 0).then(|| (&walk.round, retries_of(cfg))),
        };
        let pilot_handle = s.spawn(move || pilot.run());
        let driver = s.spawn(|| {
            // Set on drop, so that a panicking driver (or sender) still ends the receiver
            // and the join below reports the panic instead of waiting forever.
            let _done = SetOnDrop(&done);
            let ends = Ends { stop, halt };
            drive(
                cfg, &shared, senders, my_slice, my_pairs, &counters, ends, walk,
            )
        });
        // Only this thread takes SIGINT and SIGTERM from here on: a second one, which ends
        // the process from its handler, then never lands in the middle of its writes.
        drop(blocked);
        let mut last_seen = Instant::now();

        // The calling thread writes results and draws progress until the receiver closes
        // the channel.
        let mut last_draw = Instant::now();
        let mut last_sent = 0u64;
        // For the ETA's pace: the last rate measured over pure sending, and the state
        // (not waiting, round) at the previous draw.
        let mut sending_rate: Option<f64> = None;
        let mut last_window: Option<(bool, u32)> = Some((true, position().round));
        loop {
            match out_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(batch) => {
                    progress.hide();
                    for r in &batch {
                        tally.count(r);
                        if let Some(idx) = cfg.space.index(r.ip, r.port) {
                            written.test_and_set(idx);
                        }
                        if sink_err.is_none()
                            && !output_closed
                            && let Err(e) = sink.result(r)
                        {
                            // A reader that went away (`| head`) ends the run quietly;
                            // any other write error ends it as an error.
                            if e.kind() == std::io::ErrorKind::BrokenPipe {
                                output_closed = true;
                            } else {
                                sink_err = Some(e);
                            }
                            halt.store(true, Ordering::Relaxed);
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    if progress.shares_screen() {
                        // Out before the line comes back; a failing write shows at the
                        // next result or at finish.
                        let _ = sink.flush();
                        progress.show();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if last_seen.elapsed() >= SEE_EVERY {
                last_seen = Instant::now();
                settle.see(started.elapsed().as_nanos() as u64, position());
                if let Some(max) = hooks.max_runtime
                    && started.elapsed() >= max
                    && !stop.load(Ordering::Relaxed)
                {
                    hooks.timed_out = true;
                    stop.store(true, Ordering::Relaxed);
                }
            }
            let dt = last_draw.elapsed();
            if dt >= Duration::from_secs(1) {
                // At most a second of results waits in a buffer: `tail -f` on the output
                // sees them, and a second Ctrl-C (which kills) loses no more than that,
                // and the checkpoint written next says exactly what is in the output.
                if !output_closed && sink_err.is_none() && sink.flush().is_ok() {
                    let at = settle.settled(started.elapsed().as_nanos() as u64);
                    (hooks.save)(at, &written, false);
                }
                let now_sent = sent.load(Ordering::Relaxed);
                let rate = Snapshot::rate_over(now_sent - last_sent, dt);
                last_sent = now_sent;
                last_draw = Instant::now();
                if matches!(cfg.schedule, Schedule::Rounds { .. }) {
                    let at = position();
                    let wait_until = walk.wait_until_ns.load(Ordering::SeqCst);
                    let now_ns = clock.now_ns();
                    // A window of pure sending: no wait at either end, one round.
                    let sending_now = (wait_until == 0, at.round);
                    if sending_now.0 && last_window == Some(sending_now) {
                        sending_rate = rate.or(sending_rate);
                    }
                    last_window = Some(sending_now);
                    // What --rate auto's controller does, and what the canaries measure.
                    let mut pilot = Vec::new();
                    if let Some(r) = cfg.auto.and(status.rate()) {
                        pilot.push(format!("auto {r:.0}/s"));
                    }
                    if let Some(l) = status.loss() {
                        pilot.push(format!("canary loss {:.1} %", l * 100.0));
                    }
                    let line = Snapshot {
                        round: at.round,
                        rounds: retries_of(cfg).saturating_add(1),
                        walked: at.walked.iter().sum(),
                        slice: slice_len,
                        pairs: my_pairs,
                        answered: (walk.preloaded
                            + counters.matched.load(Ordering::Relaxed)
                            + decided.load(Ordering::Relaxed))
                        .min(my_pairs),
                        found: tally.open,
                        rate,
                        pace: Snapshot::pace(cfg.rate, sending_rate),
                        wait: round_wait_of(cfg),
                        waiting_left: (wait_until > 0)
                            .then(|| Duration::from_nanos(wait_until.saturating_sub(now_ns))),
                        elapsed: started.elapsed(),
                        pilot: pilot.join(", "),
                    }
                    .line();
                    progress.draw(&line);
                }
            }
        }
        let drive = driver.join().expect("driver thread panicked");
        pilot_handle.join().expect("pilot thread panicked");
        let rx_stats = rx_handle.join().expect("receiver thread panicked");
        (drive, rx_stats)
    });
    progress.clear();
    let drive = drive?;
    let rx_stats = rx_stats?;
    if let Some(e) = sink_err {
        return Err(e.into());
    }

    // Silence is an answer too: every pair of this shard that never replied is filtered.
    let interrupted = stop.load(Ordering::Relaxed) && !output_closed;
    if interrupted {
        // The senders stopped and the rest of the wait has been listened to: where they
        // stopped is where a resumed run starts.
        sink.flush()?;
        (hooks.save)(&position(), &written, true);
    }
    if !interrupted && !output_closed && matches!(cfg.schedule, Schedule::Rounds { .. }) {
        for key in tracker.unanswered_keys() {
            let idx = tracker.pair_of(key);
            if cfg.wants(idx) {
                let (ip, port) = cfg.space.pair(idx);
                let r = ProbeResult {
                    ip,
                    port,
                    reason: silence(cfg, &neighbours, idx),
                    ttl: None,
                    rtt: None,
                };
                tally.count(&r);
                if let Err(e) = sink.result(&r) {
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        return Err(e.into());
                    }
                    output_closed = true;
                    break;
                }
            }
        }
    }
    if !output_closed {
        match sink.finish() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => output_closed = true,
            other => other?,
        }
    }

    Ok(Summary {
        pairs: my_pairs,
        sent: sent.load(Ordering::Relaxed),
        matched: counters.matched.load(Ordering::Relaxed),
        duplicates: counters.duplicates.load(Ordering::Relaxed),
        ignored: counters.ignored.load(Ordering::Relaxed),
        unverified_syns: counters.unverified_syns.load(Ordering::Relaxed),
        bad_checksums: counters.bad_checksums.load(Ordering::Relaxed),
        challenges: counters.challenges.load(Ordering::Relaxed),
        teardown_rsts: counters.rsts.load(Ordering::Relaxed),
        rx_drops: rx_stats.drops,
        send_secs: drive.send_secs,
        total_secs: started.elapsed().as_secs_f64(),
        asked_rate: cfg.rate,
        achieved_rate: drive.first_round_rate,
        interrupted,
        output_closed,
        canaries: canaries.totals(),
        auto_rate: cfg.auto.and(status.rate()),
        ..tally
    })
}

/// How long the run listens after each round.
fn round_wait_of(cfg: &EngineConfig) -> Duration {
    match cfg.schedule {
        Schedule::Rounds { round_wait, .. } => round_wait,
        Schedule::Cycle { .. } => Duration::ZERO,
    }
}

/// How many retry rounds the schedule has.
fn retries_of(cfg: &EngineConfig) -> u32 {
    match cfg.schedule {
        Schedule::Rounds { retries, .. } => retries,
        Schedule::Cycle { .. } => 0,
    }
}

/// Where the rounds are, shared by the driver (which moves it) and the calling thread
/// (which records it in checkpoints).
struct WalkState {
    round: AtomicU32,
    /// Per send thread, its published progress in `round`.
    positions: Vec<AtomicU64>,
    from: Position,
    /// Started from a resume file: its answered pairs are skipped in every round.
    resumed: bool,
    /// Pairs answered before this run.
    preloaded: u64,
    /// While the driver waits after a round: when the wait ends (the engine clock's ns),
    /// else 0. For the progress line.
    wait_until_ns: AtomicU64,
}

/// What ends the driver: `stop` ends the sending (the rest of the wait is still listened
/// to), `halt` also the waits.
#[derive(Clone, Copy)]
struct Ends<'a> {
    stop: &'a AtomicBool,
    halt: &'a AtomicBool,
}

/// Run the rounds (or the cycle) and the waits; returns timing for the summary.
#[allow(clippy::too_many_arguments)]
fn drive(
    cfg: &EngineConfig,
    shared: &SendShared,
    mut senders: Vec<Vec<impl Transmit>>,
    my_slice: Slice,
    my_pairs: u64,
    counters: &RxCounters,
    ends: Ends,
    walk: &WalkState,
) -> Result<DriveReport, EngineError> {
    let Ends { stop, halt } = ends;
    let threads = senders.len() as u64;
    let rate = cfg.rate.map(|r| r / threads as f64);
    let mut report = DriveReport::default();
    let all_answered = || {
        walk.preloaded
            + counters.matched.load(Ordering::Relaxed)
            + shared.decided.load(Ordering::Relaxed)
            >= my_pairs
    };
    let (rounds, round_wait, final_wait, cycle) = match cfg.schedule {
        Schedule::Rounds {
            retries,
            round_wait,
            final_wait,
        } => (retries + 1, round_wait, final_wait, None),
        Schedule::Cycle { duration } => (
            1,
            Duration::ZERO,
            Duration::from_millis(500),
            Some(duration),
        ),
    };
    for round in walk.from.round.min(rounds)..rounds {
        if round > 0 && all_answered() {
            break;
        }
        let starts: Vec<u64> = (0..threads as usize)
            .map(|i| {
                if round == walk.from.round {
                    walk.from.walked[i]
                } else {
                    0
                }
            })
            .collect();
        for (p, &k) in walk.positions.iter().zip(&starts) {
            p.store(k, Ordering::SeqCst);
        }
        walk.round.store(round, Ordering::SeqCst);
        walk.wait_until_ns.store(0, Ordering::SeqCst);
        let t0 = shared.clock.now_ns();
        let cycle_until_ns = cycle.map(|d| t0 + d.as_nanos() as u64);
        let results: Vec<Result<Sent, crate::io::IoError>> = std::thread::scope(|s| {
            let handles: Vec<_> = senders
                .iter_mut()
                .enumerate()
                .map(|(i, txs)| {
                    let job = SendJob {
                        pairs: Pairs::Slice(my_slice.split(i as u64, threads)),
                        skip_answered: round > 0 || walk.resumed,
                        rate,
                        cycle_until_ns,
                    };
                    let w = Walk {
                        start: starts[i],
                        progress: Some(&walk.positions[i]),
                        count_decided: round == 0,
                        thread: i as u64,
                    };
                    s.spawn(move || send_walk(shared, txs, &job, &w))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("sender thread panicked"))
                .collect()
        });
        let (mut round_sent, mut last_ns) = (0, t0);
        for r in results {
            let r = r?;
            round_sent += r.probes;
            last_ns = last_ns.max(r.last_ns);
        }
        let secs = (shared.clock.now_ns() - t0) as f64 / 1e9;
        report.send_secs += secs;
        let sending_secs = (last_ns - t0) as f64 / 1e9;
        if round == 0 {
            report.first_round_rate = Summary::rate_over(round_sent, sending_secs);
        }
        // Stopped or not, the probes that went out get their full wait: an interrupted
        // run keeps every answer to what it sent, so a resumed one need not send it again.
        let wait = if round + 1 == rounds || stop.load(Ordering::Relaxed) {
            final_wait
        } else {
            round_wait
        };
        let until = Instant::now() + wait;
        walk.wait_until_ns.store(
            shared.clock.now_ns() + wait.as_nanos() as u64,
            Ordering::SeqCst,
        );
        while Instant::now() < until
            && !halt.load(Ordering::Relaxed)
            && (cycle.is_some() || !all_answered())
        {
            std::thread::sleep(WAIT_TICK);
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    Ok(report)
}
