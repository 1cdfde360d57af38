//! The pilot: a small thread that, every few milliseconds, decides the canaries (answered,
//! or lost after the wait), and under `--rate auto` feeds them to the controller and hands
//! its rate to the send threads. At a fixed rate it only counts, for the summary's
//! estimate of loss. Optionally it writes a trace of rate and loss (JSON Lines) for plots.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::Clock;
use super::canaries::Canaries;
use crate::rate::{Controller, RttEstimator};

/// How often the scan's pilot looks.
pub const SCAN_TICK: Duration = Duration::from_millis(5);
/// How often a trace line is written.
const TRACE_EVERY_NS: u64 = 100_000_000;

/// The pilot's view, for progress lines: rate (f64 bits, probes/s over all threads; 0 =
/// not steering) and the loss of the last trace interval (f64 bits, NaN = unknown).
pub struct PilotStatus {
    pub rate: AtomicU64,
    pub loss: AtomicU64,
}

impl Default for PilotStatus {
    fn default() -> Self {
        PilotStatus {
            rate: AtomicU64::new(0),
            loss: AtomicU64::new(f64::NAN.to_bits()),
        }
    }
}

impl PilotStatus {
    pub fn rate(&self) -> Option<f64> {
        Some(f64::from_bits(self.rate.load(Ordering::Relaxed))).filter(|r| *r > 0.0)
    }
    pub fn loss(&self) -> Option<f64> {
        Some(f64::from_bits(self.loss.load(Ordering::Relaxed))).filter(|l| !l.is_nan())
    }
}

/// The `--rate-trace` file, if asked for.
pub fn open_trace(
    cfg: &super::EngineConfig,
) -> std::io::Result<Option<Box<dyn Write + Send + 'static>>> {
    Ok(match &cfg.rate_trace {
        Some(path) => Some(Box::new(std::io::LineWriter::new(std::fs::File::create(
            path,
        )?))),
        None => None,
    })
}

pub struct Pilot<'a> {
    pub canaries: &'a Canaries,
    /// `Some` under `--rate auto`.
    pub controller: Option<Controller>,
    /// Each send thread's rate, f64 bits (read by the senders when steered).
    pub pace: &'a AtomicU64,
    pub threads: u64,
    pub sent: &'a AtomicU64,
    /// The receive path's drops so far (`RxCounters::ring_drops`): under `--rate auto` the
    /// receiver falling behind is a bottleneck like any other.
    pub rx_drops: &'a AtomicU64,
    pub clock: Clock,
    pub done: &'a AtomicBool,
    pub status: &'a PilotStatus,
    pub trace: Option<Box<dyn Write + Send + 'a>>,
    /// How often it looks (`SCAN_TICK`; `watch` looks as often as its driver).
    pub tick: Duration,
    /// A scan with retry rounds: the round under way, and the last one's number. In the
    /// last round the controller settles (`Controller::settle`).
    pub last_round: Option<(&'a AtomicU32, u32)>,
}

impl Pilot<'_> {
    /// Publish the controller's rate to the senders and the status.
    fn publish(&self, rate: f64) {
        self.pace
            .store((rate / self.threads as f64).to_bits(), Ordering::Relaxed);
        self.status.rate.store(rate.to_bits(), Ordering::Relaxed);
    }

    /// Publish the controller's starting rate (before the senders start, if they should
    /// never see a rate of 0).
    pub fn publish_start(&self) {
        if let Some(c) = &self.controller {
            self.publish(c.rate());
        }
    }

    pub fn run(mut self) {
        let mut rtt = RttEstimator::default();
        self.publish_start();
        let (mut last_trace, mut last_sent) = (self.clock.now_ns(), 0u64);
        let (mut ok, mut lost) = (0u64, 0u64);
        loop {
            let finished = self.done.load(Ordering::Acquire);
            let now = self.clock.now_ns();
            let wait = self
                .controller
                .as_ref()
                .map_or(rtt.timeout_us(), |c| c.wait_ns() / 1000);
            let (rep, mean_rtt) = self.canaries.collect(now, wait * 1000);
            for &us in rep.rtts.iter().chain(mean_rtt.as_ref()) {
                rtt.sample(us);
                if let Some(c) = &mut self.controller {
                    c.rtt_sample(us);
                }
            }
            for &(sent_ns, answered) in &rep.outcomes {
                if answered {
                    ok += 1;
                } else {
                    lost += 1;
                }
                if let Some(c) = &mut self.controller {
                    c.canary(sent_ns, answered);
                }
            }
            let sent = self.sent.load(Ordering::Relaxed);
            if let Some(c) = &mut self.controller {
                if let Some((round, last)) = self.last_round
                    && round.load(Ordering::Relaxed) >= last
                {
                    c.settle();
                }
                c.rx_drops(self.rx_drops.load(Ordering::Relaxed));
                let r = c.tick(now, sent);
                self.publish(r);
            }
            if now - last_trace >= TRACE_EVERY_NS || finished {
                let loss = (ok + lost > 0).then(|| lost as f64 / (ok + lost) as f64);
                if let Some(l) = loss {
                    self.status.loss.store(l.to_bits(), Ordering::Relaxed);
                }
                if let Some(w) = &mut self.trace {
                    let dt = (now - last_trace).max(1) as f64 / 1e9;
                    let target = self.status.rate();
                    // A failed trace write is not worth ending a scan for.
                    let _ = writeln!(
                        w,
                        "{{\"t\":{:.3},\"rate\":{},\"sent_rate\":{:.0},\"canaries\":{},\"loss\":{}}}",
                        now as f64 / 1e9,
                        target.map_or("null".into(), |r| format!("{r:.0}")),
                        sent.saturating_sub(last_sent) as f64 / dt,
                        ok + lost,
                        loss.map_or("null".into(), |l| format!("{l:.4}")),
                    );
                }
                (last_trace, last_sent, ok, lost) = (now, sent, 0, 0);
            }
            if finished {
                if let Some(w) = &mut self.trace {
                    let _ = w.flush();
                }
                return;
            }
            std::thread::sleep(self.tick);
        }
    }
}
