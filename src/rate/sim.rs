//! The controller against simulated bottlenecks, in virtual time: a sender at the
//! controller's rate, canaries as the engine draws them (`canary_every`), a bottleneck that passes or drops each probe
//! (and may delay it), random loss each way, and the canaries' answers or silence fed back
//! after the wait, as the engine does.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::{Controller, Limits, Tuning, canary_every};

const MS: u64 = 1_000_000;
/// The path's round-trip time without queueing.
const BASE_RTT_NS: u64 = 2 * MS;

/// Deterministic randomness: xorshift64*.
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub enum Bottleneck {
    /// Nothing but the path.
    None,
    /// A token bucket: `rate`/s, `burst` tokens (iptables hashlimit's shape).
    Policer {
        rate: f64,
        burst: f64,
        tokens: f64,
        at: u64,
    },
    /// A FIFO served at `rate`/s holding at most `cap` packets; a full queue drops.
    Queue {
        rate: f64,
        cap: f64,
        backlog: f64,
        at: u64,
    },
}

impl Bottleneck {
    pub fn policer(rate: f64) -> Self {
        Bottleneck::Policer {
            rate,
            burst: 5.0,
            tokens: 5.0,
            at: 0,
        }
    }

    pub fn queue(rate: f64, cap: f64) -> Self {
        Bottleneck::Queue {
            rate,
            cap,
            backlog: 0.0,
            at: 0,
        }
    }

    /// A probe at `now`: `Some(queueing delay)` if it passes.
    fn pass(&mut self, now: u64) -> Option<u64> {
        match self {
            Bottleneck::None => Some(0),
            Bottleneck::Policer {
                rate,
                burst,
                tokens,
                at,
            } => {
                *tokens = (*tokens + (now - *at) as f64 * *rate / 1e9).min(*burst);
                *at = now;
                (*tokens >= 1.0).then(|| {
                    *tokens -= 1.0;
                    0
                })
            }
            Bottleneck::Queue {
                rate,
                cap,
                backlog,
                at,
            } => {
                *backlog = (*backlog - (now - *at) as f64 * *rate / 1e9).max(0.0);
                *at = now;
                (*backlog + 1.0 <= *cap).then(|| {
                    *backlog += 1.0;
                    (*backlog / *rate * 1e9) as u64
                })
            }
        }
    }
}

pub struct Run {
    /// (time, rate) every 10 ms.
    pub trace: Vec<(u64, f64)>,
    pub losses: Vec<(Option<f64>, Option<f64>)>,
    /// Probes sent and probes that got an answer, per second of the run.
    pub per_sec: Vec<(u64, u64)>,
}

impl Run {
    /// Mean rate over [from_s, to_s).
    pub fn mean_rate(&self, from_s: u64, to_s: u64) -> f64 {
        let s = &self.per_sec[from_s as usize..to_s as usize];
        s.iter().map(|x| x.0).sum::<u64>() as f64 / s.len() as f64
    }

    /// Answered share of what was sent over [from_s, to_s).
    pub fn delivered(&self, from_s: u64, to_s: u64) -> f64 {
        let s = &self.per_sec[from_s as usize..to_s as usize];
        s.iter().map(|x| x.1).sum::<u64>() as f64 / s.iter().map(|x| x.0).sum::<u64>() as f64
    }
}

/// `secs` of virtual time at the controller's rate through `neck`, with `loss` each way.
pub fn simulate(limits: Limits, neck: Bottleneck, loss: f64, secs: u64, seed: u64) -> Run {
    simulate_tuned(limits, Tuning::SCAN, neck, loss, secs, seed)
}

/// [`simulate`] with the controller tuned as `tuning`.
pub fn simulate_tuned(
    limits: Limits,
    tuning: Tuning,
    mut neck: Bottleneck,
    loss: f64,
    secs: u64,
    seed: u64,
) -> Run {
    let mut c = Controller::new(limits, 0).tuned(tuning);
    let mut rng = Rng(seed | 1);
    // Canary outcomes in time order: (when known, sent, answered).
    let mut events: BinaryHeap<Reverse<(u64, u64, bool)>> = BinaryHeap::new();
    let mut silent: VecDeque<u64> = VecDeque::new();
    let mut run = Run {
        trace: Vec::new(),
        losses: Vec::new(),
        per_sec: vec![(0, 0); secs as usize],
    };
    let (mut sent, mut carry) = (0u64, 0.0f64);
    let step = MS / 4;
    let mut now = 0;
    while now < secs * 1_000 * MS {
        now += step;
        // A bounded simulation: a rate past what any test's bottleneck allows is a runaway.
        assert!(
            c.rate() < 2e6,
            "runaway at {now}: {:?}",
            &run.trace[run.trace.len().saturating_sub(30)..]
        );
        let due = c.rate() * step as f64 / 1e9;
        carry += due;
        let sec = (now / (1_000 * MS)).min(secs - 1) as usize;
        while carry >= 1.0 {
            carry -= 1.0;
            // Paced: spread over the step, not a burst at its end.
            let now = now - (carry / due * step as f64) as u64;
            sent += 1;
            run.per_sec[sec].0 += 1;
            let there = rng.unit() >= loss;
            let delay = if there { neck.pass(now) } else { None };
            let back = rng.unit() >= loss;
            let rtt = delay.filter(|_| back).map(|d| BASE_RTT_NS + d);
            if rtt.is_some() {
                run.per_sec[sec].1 += 1;
            }
            // At random, as the engine's keyed choice: every 64th exactly would alias with a
            // policer's regular pattern and see all or nothing.
            if rng.unit() < 1.0 / canary_every(c.rate(), tuning.min_canaries_per_sec) as f64 {
                match rtt {
                    Some(r) => events.push(Reverse((now + r, now, true))),
                    // Silence is known only when the wait is over, as the engine's book
                    // expires it with the wait of the moment.
                    None => silent.push_back(now),
                }
            }
        }
        let wait = c.wait_ns();
        while let Some(&Reverse((at, s, _))) = events.peek() {
            if at > now {
                break;
            }
            events.pop();
            if at - s <= wait {
                c.rtt_sample((at - s) / 1000);
                c.canary(s, true);
            } else {
                c.canary(s, false); // too late: the book had called it lost
            }
        }
        while silent.front().is_some_and(|&s| s + wait <= now) {
            c.canary(silent.pop_front().unwrap_or_default(), false);
        }
        if now.is_multiple_of(10 * MS) {
            c.tick(now, sent);
            run.trace.push((now, c.rate()));
            run.losses.push((c.last_loss(), c.baseline()));
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTO: Limits = Limits { min: 1.0, max: 1e9 };

    #[test]
    fn finds_and_holds_a_policers_rate() {
        for (p, seed) in [(20_000.0, 1), (5_000.0, 2), (200_000.0, 3)] {
            let run = simulate(AUTO, Bottleneck::policer(p), 0.0, 30, seed);
            let mean = run.mean_rate(10, 30);
            assert!(
                (0.85 * p..1.08 * p).contains(&mean),
                "policer {p}: mean {mean}"
            );
            // What is lost to overshoot is little, and retries recover it.
            let d = run.delivered(10, 30);
            assert!(d > 0.95, "policer {p}: delivered {d}");
            // Reached within a few seconds.
            assert!(run.mean_rate(3, 5) > 0.7 * p, "policer {p}");
        }
    }

    #[test]
    fn finds_and_holds_a_queues_service_rate() {
        let s = 50_000.0;
        let run = simulate(AUTO, Bottleneck::queue(s, 2_000.0), 0.0, 30, 4);
        let mean = run.mean_rate(10, 30);
        assert!((0.85 * s..1.08 * s).contains(&mean), "mean {mean}");
        let d = run.delivered(10, 30);
        // A queue shows loss later than a policer (it fills first): more overshoot.
        assert!(d > 0.9, "delivered {d}");
    }

    #[test]
    fn random_loss_without_congestion_does_not_collapse_the_rate() {
        let max = 200_000.0;
        let limits = Limits { min: 1.0, max };
        let clean = simulate(limits, Bottleneck::None, 0.0, 20, 5).mean_rate(10, 20);
        for (loss, seed) in [(0.05, 6), (0.10, 7), (0.20, 8)] {
            let run = simulate(limits, Bottleneck::None, loss, 20, seed);
            let mean = run.mean_rate(10, 20);
            assert!(
                mean > 0.8 * clean,
                "loss {loss}: {mean} vs {clean} without loss"
            );
        }
        assert!(clean > 0.95 * max, "{clean}");
    }

    #[test]
    fn random_loss_behind_a_policer_still_finds_it() {
        let p = 20_000.0;
        let run = simulate(AUTO, Bottleneck::policer(p), 0.05, 30, 9);
        let mean = run.mean_rate(10, 30);
        assert!((0.8 * p..1.1 * p).contains(&mean), "mean {mean}");
    }

    #[test]
    fn floor_and_ceiling_hold() {
        let run = simulate(
            Limits {
                min: 2_000.0,
                max: 1e9,
            },
            Bottleneck::policer(500.0),
            0.0,
            10,
            10,
        );
        assert!(run.trace.iter().all(|&(_, r)| r >= 2_000.0));
        let run = simulate(
            Limits {
                min: 1.0,
                max: 30_000.0,
            },
            Bottleneck::None,
            0.0,
            10,
            11,
        );
        assert!(run.trace.iter().all(|&(_, r)| r <= 30_000.0));
        assert_eq!(run.trace.last().unwrap().1, 30_000.0);
    }
}
