//! The live progress line on stderr (only on a terminal): the round, % of it done, rate,
//! found, and an ETA that covers every round left and the waits after them.

use std::io::Write;
use std::time::Duration;

use super::summary::{MIN_RATE_SECS, plural};

/// Where a run stands, as the engine sees it at one moment: all the line and the ETA are
/// made of (time comes in as numbers, so both are tested in virtual time).
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The round being sent or waited for, 0-based, and how many there are at most.
    pub round: u32,
    pub rounds: u32,
    /// Positions walked in this round's slice of the permutation (answered pairs are
    /// walked over, not probed, in retry rounds), of `slice`.
    pub walked: u64,
    pub slice: u64,
    /// Pairs this run decides, and how many have a verdict (an answer, or no route).
    pub pairs: u64,
    pub answered: u64,
    pub found: u64,
    /// Probes per second lately (shown; a window with a wait in it shows the lull);
    /// `None` when measured over too short a time.
    pub rate: Option<f64>,
    /// The probes per second the sending runs at, for the ETA: the asked rate, or lower
    /// when the sending was measured slower (see `Snapshot::pace`); `None` while unknown.
    pub pace: Option<f64>,
    /// How long the run listens after each round.
    pub wait: Duration,
    /// In the wait after this round's last probe: how much of it is left.
    pub waiting_left: Option<Duration>,
    pub elapsed: Duration,
    /// What `--rate auto`'s controller does and what the canaries measure, shown after the
    /// rate ("auto 20000/s, canary loss 4.0 %"); empty when there is nothing to say.
    pub pilot: String,
}

impl Snapshot {
    /// The probes per second lately over `dt`, never over less than `MIN_RATE_SECS`.
    pub fn rate_over(probes: u64, dt: Duration) -> Option<f64> {
        let secs = dt.as_secs_f64();
        (secs >= MIN_RATE_SECS).then(|| probes as f64 / secs)
    }

    /// The pace for the ETA: `asked` (`None` for `--rate max`) and `sending`, the rate last
    /// measured over a window of pure sending (no wait, one round): the slower of the two,
    /// so a machine that cannot keep up with the asked rate is not promised it, and a
    /// window that spans a wait does not slow the estimate.
    pub fn pace(asked: Option<f64>, sending: Option<f64>) -> Option<f64> {
        match (asked, sending) {
            (Some(a), Some(s)) => Some(a.min(s)),
            (a, s) => a.or(s),
        }
    }

    /// The share of this round's walk done, 0.0 to 1.0.
    fn round_done(&self) -> f64 {
        if self.slice == 0 || self.waiting_left.is_some() {
            1.0
        } else {
            (self.walked.min(self.slice) as f64 / self.slice as f64).clamp(0.0, 1.0)
        }
    }

    /// Time left until the run ends: the rest of this round's probes, the pairs expected
    /// to be silent after it probed again in each round left, and the wait after every one
    /// of those rounds. A round with nothing left to probe is not run, and the wait ends
    /// once every pair has answered, so both count only while pairs are expected silent.
    /// `None` while no pace is known (nothing measured yet at `--rate max`).
    pub fn eta(&self) -> Option<Duration> {
        let done = self.round_done();
        let unanswered = self.pairs.saturating_sub(self.answered) as f64;
        // This round's probes still to go: the unanswered pairs the walk has not reached
        // (spread evenly over the walk, as the permutation spreads them).
        let (left_now, silent_after) = if self.round == 0 {
            // The first round probes every pair: extrapolate its answers so far to all.
            let walked_pairs = self.pairs as f64 * done;
            let answer_ratio = if walked_pairs >= 1.0 {
                (self.answered as f64 / walked_pairs).min(1.0)
            } else {
                0.0
            };
            let left = self.pairs as f64 * (1.0 - done);
            (left, (self.pairs as f64 * (1.0 - answer_ratio)).round())
        } else {
            (unanswered * (1.0 - done), unanswered)
        };
        let rounds_after = self.rounds.saturating_sub(self.round + 1) as f64;
        let probes_left = left_now
            + if silent_after > 0.0 {
                rounds_after * silent_after
            } else {
                0.0
            };
        let sending = match self.pace.filter(|&r| r >= 1.0) {
            Some(p) => probes_left / p,
            None if probes_left < 1.0 => 0.0,
            None => return None,
        };
        let wait = self.wait.as_secs_f64();
        let this_wait = match self.waiting_left {
            Some(left) => left.as_secs_f64(),
            None if silent_after > 0.0 || left_now >= 1.0 => wait,
            None => 0.0,
        };
        let later_waits = if silent_after > 0.0 {
            rounds_after * wait
        } else {
            0.0
        };
        let total = sending + this_wait + later_waits;
        Some(Duration::from_secs_f64(total.clamp(0.0, 1e7)))
    }

    /// `round 1/2: 45.00% of 1,000 pairs, 9876 probes/s, 12 found, ETA 3s, 5s elapsed`.
    pub fn line(&self) -> String {
        let rounds = format!("round {}/{}", self.round + 1, self.rounds.max(1));
        let doing = match self.waiting_left {
            Some(left) => format!(
                "waiting for replies ({} left)",
                human_duration(left.max(Duration::from_secs(1)))
            ),
            None => format!(
                "{:.2}% of {}",
                self.round_done() * 100.0,
                plural(self.pairs, "pair", "pairs")
            ),
        };
        let mut rate = self
            .rate
            .map_or("-- probes/s".to_string(), |r| format!("{r:.0} probes/s"));
        if !self.pilot.is_empty() {
            rate = format!("{rate} ({})", self.pilot);
        }
        // Rounded up: "ETA 0s" only when nothing is left.
        let eta = self.eta().map_or("ETA --".to_string(), |d| {
            let up = Duration::from_secs_f64(d.as_secs_f64().ceil());
            format!("ETA {}", human_duration(up))
        });
        format!(
            "{rounds}: {doing}, {rate}, {} found, {eta}, {} elapsed",
            self.found,
            human_duration(self.elapsed)
        )
    }
}

/// Renders progress; pure apart from `draw`, so the arithmetic is tested.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    drawn: bool,
    /// Results go to the same terminal: the line is taken off while they are written.
    shares_screen: bool,
    last: String,
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            drawn: false,
            shares_screen: false,
            last: String::new(),
        }
    }

    /// Results are printed to the terminal this line is drawn on (stdout and stderr both
    /// a terminal): without care, a result would land at the end of the progress line.
    pub fn sharing_screen(mut self, shared: bool) -> Self {
        self.shares_screen = shared && self.enabled;
        self
    }

    /// Whether results must be written between `hide` and `show` (and flushed there).
    pub fn shares_screen(&self) -> bool {
        self.shares_screen
    }

    /// Takes the line off the screen before results are written.
    pub fn hide(&mut self) {
        if self.shares_screen {
            self.clear();
        }
    }

    /// Puts the last line back once the results are out.
    pub fn show(&mut self) {
        if self.shares_screen && !self.last.is_empty() {
            let last = std::mem::take(&mut self.last);
            self.draw(&last);
        }
    }

    pub fn draw(&mut self, line: &str) {
        if self.enabled {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K{line}");
            let _ = e.flush();
            self.drawn = true;
            self.last = line.to_string();
        }
    }

    /// Erase the line so the summary starts on a clean row.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            round: 0,
            rounds: 2,
            walked: 0,
            slice: 1000,
            pairs: 1000,
            answered: 0,
            found: 0,
            rate: None,
            pace: Some(100.0),
            wait: Duration::from_secs(1),
            waiting_left: None,
            elapsed: Duration::ZERO,
            pilot: String::new(),
        }
    }

    #[test]
    fn the_pilot_follows_the_rate_and_the_line_still_ends_with_the_time() {
        let s = Snapshot {
            rate: Some(20_000.0),
            pilot: "auto 20000/s, canary loss 4.0 %".into(),
            ..snap()
        };
        let line = s.line();
        assert!(
            line.contains("20000 probes/s (auto 20000/s, canary loss 4.0 %), 0 found"),
            "{line}"
        );
        assert!(line.ends_with("elapsed"), "{line}");
        assert!(
            !snap().line().contains('('),
            "nothing when there is nothing to say"
        );
    }

    fn eta_secs(s: &Snapshot) -> f64 {
        s.eta().expect("an ETA").as_secs_f64()
    }

    /// A scan of 1,000 pairs at 100/s, retries 1, wait 1 s, run in virtual time: the ETA
    /// counts the retry round and both waits, and falls as time passes.
    #[test]
    fn eta_covers_every_round_and_the_waits() {
        // At the start, nothing answered yet: 10 s of probes, the wait, a retry round of
        // every pair (all expected silent) and its wait.
        let s = snap();
        assert!((eta_secs(&s) - 22.0).abs() < 1e-9, "{}", eta_secs(&s));
        // Half-way through round 1, half the walked pairs answered: 5 s left of it, the
        // wait, then the 500 pairs expected silent again (5 s) and the final wait.
        let s = Snapshot {
            walked: 500,
            answered: 250,
            found: 250,
            rate: Some(100.0),
            elapsed: Duration::from_secs(5),
            ..snap()
        };
        assert!((eta_secs(&s) - 12.0).abs() < 1e-9, "{}", eta_secs(&s));
        // In the wait after round 1, 0.4 s of it left; 500 pairs unanswered.
        let s = Snapshot {
            walked: 1000,
            answered: 500,
            waiting_left: Some(Duration::from_millis(400)),
            ..s
        };
        assert!((eta_secs(&s) - 6.4).abs() < 1e-9, "{}", eta_secs(&s));
        // The retry round, 40 % walked: 300 of its 500 silent pairs to go, then the wait.
        let s = Snapshot {
            round: 1,
            walked: 400,
            waiting_left: None,
            ..s
        };
        assert!((eta_secs(&s) - 4.0).abs() < 1e-9, "{}", eta_secs(&s));
        // Its final wait: only what is left of it.
        let s = Snapshot {
            walked: 1000,
            waiting_left: Some(Duration::from_millis(700)),
            ..s
        };
        assert!((eta_secs(&s) - 0.7).abs() < 1e-9, "{}", eta_secs(&s));
    }

    #[test]
    fn every_pair_answered_means_no_retry_round_and_no_wait() {
        let s = Snapshot {
            walked: 1000,
            answered: 1000,
            rate: Some(100.0),
            ..snap()
        };
        assert_eq!(s.eta(), Some(Duration::ZERO));
        // Retries 0: one round, its wait.
        let s = Snapshot {
            rounds: 1,
            walked: 900,
            answered: 0,
            ..s
        };
        assert!((eta_secs(&s) - 2.0).abs() < 1e-9, "{}", eta_secs(&s));
    }

    #[test]
    fn no_pace_no_eta_and_never_negative_or_infinite() {
        let s = Snapshot {
            pace: None,
            ..snap()
        };
        assert_eq!(s.eta(), None);
        assert!(s.line().contains("ETA --"), "{}", s.line());
        let s = Snapshot {
            pairs: u64::MAX,
            slice: u64::MAX,
            pace: Some(1.0),
            ..snap()
        };
        let l = s.line();
        assert!(l.contains("ETA ") && !l.contains("ETA -"), "{l}");
        // Walked past the slice (a reset read across rounds): still at most 100 %.
        let s = Snapshot {
            walked: 2000,
            ..snap()
        };
        assert!(s.line().contains("100.00% of 1000 pairs"), "{}", s.line());
    }

    #[test]
    fn the_line_shows_the_round_and_ends_with_elapsed() {
        let s = Snapshot {
            walked: 450,
            answered: 12,
            found: 12,
            rate: Some(9876.4),
            elapsed: Duration::from_secs(5),
            ..snap()
        };
        let l = s.line();
        assert!(
            l.starts_with("round 1/2: 45.00% of 1000 pairs, 9876 probes/s, 12 found, ETA "),
            "{l}"
        );
        assert!(l.ends_with(", 5s elapsed"), "{l}");
        let w = Snapshot {
            round: 1,
            waiting_left: Some(Duration::from_millis(1500)),
            ..s
        };
        assert!(
            w.line()
                .starts_with("round 2/2: waiting for replies (1s left)"),
            "{}",
            w.line()
        );
        let one = Snapshot {
            pairs: 1,
            slice: 1,
            rounds: 1,
            ..snap()
        };
        assert!(one.line().contains("of 1 pair,"), "{}", one.line());
    }

    #[test]
    fn the_pace_is_the_slower_of_asked_and_measured() {
        assert_eq!(Snapshot::pace(Some(5000.0), Some(4100.0)), Some(4100.0));
        assert_eq!(Snapshot::pace(Some(5000.0), Some(5100.0)), Some(5000.0));
        assert_eq!(Snapshot::pace(Some(5000.0), None), Some(5000.0));
        assert_eq!(Snapshot::pace(None, Some(2e6)), Some(2e6));
        assert_eq!(Snapshot::pace(None, None), None);
        // 0.3 s left shows as 1s, never "ETA 0s" while something is left.
        let s = Snapshot {
            round: 1,
            walked: 1000,
            answered: 500,
            waiting_left: Some(Duration::from_millis(300)),
            ..snap()
        };
        assert!(s.line().contains("ETA 1s"), "{}", s.line());
    }

    #[test]
    fn rates_need_ten_milliseconds() {
        assert_eq!(Snapshot::rate_over(5, Duration::from_millis(9)), None);
        assert_eq!(
            Snapshot::rate_over(5, Duration::from_millis(10)),
            Some(500.0)
        );
        assert_eq!(Snapshot::rate_over(0, Duration::ZERO), None);
    }
}
