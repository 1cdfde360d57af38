//! The rate controller: canary outcomes (with their send times), RTT samples and receive
//! drops in, a rate out. TCP's shape (slow start, multiplicative decrease, additive
//! increase) with two changes a scan needs:
//!
//! - Loss is judged against a baseline, not against zero. A path may lose a share of packets
//!   at any rate (a lossy link, a target that drops at random); backing off for that would
//!   collapse the rate and find nothing more. Congestion is loss that rises with the rate, so
//!   the baseline is the loss measured at low rates: pooled over the slow-start epochs that
//!   were judged uncongested (slow start begins low and doubles, so all but the last are at
//!   most half the rate where congestion shows). An epoch is congested only when its loss
//!   exceeds that baseline by more than chance allows (a one-sided binomial test) and by a margin that matters. Later, epochs at
//!   rates at or below what the path delivered at the last decrease join the baseline too
//!   (more samples, a sharper test); epochs above it do not: their slightly raised loss
//!   would creep into the baseline and let the rate settle above the bottleneck.
//! - The decrease is sized by what got through: at rate R with loss l over a baseline b,
//!   the path delivered R (1 - l) / (1 - b); a policer's or a fixed-rate queue's capacity is
//!   exactly that, so the new rate is a little below it rather than a blind half.
//!
//! Decisions are made per epoch: enough canaries *sent since the last change of rate* have
//! been decided (answered, or silent past the wait). Canaries sent at an older rate say
//! nothing about the new one, which is also TCP's rule of one decrease per window.

use super::rtt::RttEstimator;

/// Canaries decided per epoch before a decision in slow start (few: at the starting rate
/// canaries are rare, and only a gross loss ends slow start); near the bottleneck four
/// times as many, where a false alarm costs rate and a late one only a little overshoot.
const DECIDE: u64 = 8;
/// Standard errors by which an epoch's loss must exceed the baseline (one-sided, about
/// 0.6 % false alarms per epoch; a false alarm costs a few per cent of rate, not half).
const Z: f64 = 2.5;
/// Excess loss below this is not worth a decrease: the retry rounds recover it.
const MIN_EXCESS: f64 = 0.03;
/// The share of the delivered rate kept after a decrease: headroom below the bottleneck.
const HEADROOM: f64 = 0.95;
/// The deepest single decrease.
const MIN_CUT: f64 = 0.5;
/// Decrease on receive-side drops: our own receive path, not the network, is the bottleneck.
const RX_DROP_CUT: f64 = 0.7;
/// Additive increase per second, as a share of the rate at the last decrease: by time, not
/// per epoch, since epochs are shorter the higher the rate (a fixed count of canaries).
/// A quarter: back to the bottleneck a fifth of a second after a 5 % cut.
const AI_SHARE: f64 = 0.25;
/// The most one epoch may add, as a share of that rate: at low rates epochs are long (a
/// canary per 64 probes), and a long epoch's growth would all be overshoot.
const AI_MAX_STEP: f64 = 0.02;
/// Back to slow start once the rate is this far above the rate the last decrease set,
/// loss-free (the increase takes about a second to get there).
const REPROBE: f64 = 1.25;
/// Growth per epoch of a search again.
const REPROBE_GROWTH: f64 = 1.25;
/// The first epoch, with no baseline, is congested only if it lost more than this.
const FIRST_LOSS: f64 = 0.5;
/// Baseline pool weight kept: older epochs fade, so a long scan follows a path that changes.
const BASE_CAP: f64 = 4096.0;
/// Without any decided canary for this long (nothing has answered yet), grow cautiously.
const QUIET_NS: u64 = 1_000_000_000;
/// Probes sent in a quiet period before it counts as one: enough to have drawn canaries.
const QUIET_MIN_SENT: u64 = 64 * DECIDE;
/// Growth per quiet period.
const QUIET_GROWTH: f64 = 1.25;
/// In slow start, an epoch this long with canaries decided and none lost doubles at once:
/// TCP doubles per round trip, not per sample, and at the starting rate canaries are rare.
/// Any loss waits for the full count (so few could not tell chance from congestion).
const SLOW_START_EPOCH_NS: u64 = 100_000_000;
/// Where slow start begins when the floor is lower.
pub const DEFAULT_START: f64 = 1_000.0;

/// How eager the controller is: a scan wants its answers soon and retries what an overshoot
/// lost, so it climbs back fast and searches again; `watch` has no retries, and a probe lost
/// to an overshoot is a failed check, so it keeps more headroom and climbs slowly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tuning {
    /// The share of the delivered rate kept after a decrease.
    pub headroom: f64,
    /// Additive increase per second, as a share of the rate at the last decrease.
    pub ai_share: f64,
    /// Back to slow start once this far above the rate the last decrease set.
    pub reprobe: f64,
    /// The deepest single decrease, as the share of the rate kept.
    pub min_cut: f64,
    /// Decide a loss as soon as the slow-start count of canaries shows it, in every phase
    /// (the increase still waits for the full count).
    pub early_loss: bool,
    /// Canaries a second at the least (more than one in 64 probes at low rates: see
    /// `canary_every`); 0 for one in 64 whatever the rate.
    pub min_canaries_per_sec: f64,
}

impl Tuning {
    /// `scan`: back to the bottleneck a fifth of a second after a 5 % cut.
    pub const SCAN: Tuning = Tuning {
        headroom: HEADROOM,
        ai_share: AI_SHARE,
        reprobe: REPROBE,
        min_cut: MIN_CUT,
        early_loss: false,
        // More canaries at a scan's low rates decide more of slow start's early epochs on
        // eight of them, and with random loss on the path a few of those looked congested
        // and cut the rate for the whole round (measured: 1 of 6 runs at 5 % loss each way).
        min_canaries_per_sec: 0.0,
    };
    /// `watch`: 10 % below what the path delivered, back there in five seconds, a new
    /// search only after a loss-free climb of half as much again (the path changed), and a
    /// loss acted on at once, as deep as it says: at a few thousand checks a second a full
    /// count of canaries takes a second, and a second of overshoot fails checks.
    pub const WATCH: Tuning = Tuning {
        headroom: 0.9,
        ai_share: 0.02,
        reprobe: 1.5,
        min_cut: 0.2,
        early_loss: true,
        // At a few thousand checks a second one in 64 is a few dozen canaries a second, and
        // the controller would need a second of them to see a loss of 10 %: a second above
        // the bottleneck fails checks.
        min_canaries_per_sec: 100.0,
    };
}

/// Floor and ceiling, probes/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub min: f64,
    pub max: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    SlowStart,
    Avoidance,
}

#[derive(Clone, Debug)]
pub struct Controller {
    limits: Limits,
    tuning: Tuning,
    rate: f64,
    phase: Phase,
    /// When the rate last changed, and how many probes had been sent by then.
    changed_ns: u64,
    sent_at_change: u64,
    /// Canaries sent since the change and decided: (send time, answered).
    epoch: Vec<(u64, bool)>,
    /// Pooled uncongested epochs: (answered, lost), decayed to `BASE_CAP`.
    base: (f64, f64),
    ai_step: f64,
    /// What the path delivered when the rate was last cut: rates at or below it lose no
    /// more than the baseline, so their epochs may join it.
    bottleneck: f64,
    /// The rate the last decrease set.
    cut_rate: f64,
    /// No more searching (`settle`).
    settled: bool,
    /// The last slow-start epoch lost more than chance allows, but not half: one more
    /// such epoch and the rate is cut.
    suspect: bool,
    /// In slow start again after a decrease (`REPROBE`): growing by `REPROBE_GROWTH`.
    searching_again: bool,
    /// `sent` and the time at the last tick, and the time since the change with nothing sent.
    last_sent: u64,
    last_tick_ns: u64,
    idle_ns: u64,
    /// A decrease has happened (`cut_rate` is one it set).
    cut: bool,
    rx_drops: u64,
    /// The receive path dropped frames since the last decision.
    drops_pending: bool,
    /// The loss of the last decided epoch.
    last_loss: Option<f64>,
    rtt: RttEstimator,
}

impl Controller {
    /// Slow start from the floor (or `DEFAULT_START` if the floor is lower), at `now_ns`.
    pub fn new(limits: Limits, now_ns: u64) -> Self {
        let min = limits.min.max(1.0);
        let limits = Limits {
            min,
            max: limits.max.max(min),
        };
        let rate = DEFAULT_START.clamp(min, limits.max);
        Controller {
            limits,
            tuning: Tuning::SCAN,
            rate,
            phase: Phase::SlowStart,
            changed_ns: now_ns,
            sent_at_change: 0,
            epoch: Vec::new(),
            base: (0.0, 0.0),
            ai_step: rate * AI_SHARE,
            bottleneck: 0.0,
            cut_rate: rate,
            settled: false,
            suspect: false,
            searching_again: false,
            last_sent: 0,
            last_tick_ns: now_ns,
            idle_ns: 0,
            cut: false,
            rx_drops: 0,
            drops_pending: false,
            last_loss: None,
            rtt: RttEstimator::default(),
        }
    }

    /// With `tuning` instead of `Tuning::SCAN`.
    pub fn tuned(mut self, tuning: Tuning) -> Self {
        self.tuning = tuning;
        self.ai_step = self.rate * tuning.ai_share;
        self
    }

    /// From now on what is lost stays lost (a scan's last round: no retry follows): no
    /// more searching. Back to the rate the last decrease set (below what the path
    /// delivered then), and held there: no slow start, no increase. Loss still cuts it. A
    /// climb above the path loses some answers before the canaries show it, which a retry
    /// round recovers in every round but this one, and this one is short.
    pub fn settle(&mut self) {
        if self.settled {
            return;
        }
        self.settled = true;
        self.phase = Phase::Avoidance;
        if self.cut {
            self.change(self.rate.min(self.cut_rate));
        }
    }

    /// The rate to send at, probes/s.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The loss of the last decided epoch of canaries.
    pub fn last_loss(&self) -> Option<f64> {
        self.last_loss
    }

    /// The loss the path shows at rates judged uncongested.
    pub fn baseline(&self) -> Option<f64> {
        let n = self.base.0 + self.base.1;
        (n > 0.0).then(|| self.base.1 / n)
    }

    /// How long a canary may take before it counts as lost, ns.
    pub fn wait_ns(&self) -> u64 {
        self.rtt.timeout_us() * 1000
    }

    /// A round-trip time sample (any answer's, not only a canary's), microseconds.
    pub fn rtt_sample(&mut self, us: u64) {
        self.rtt.sample(us);
    }

    /// A canary sent at `sent_ns` was answered or lost.
    pub fn canary(&mut self, sent_ns: u64, answered: bool) {
        if sent_ns < self.changed_ns {
            return; // sent at an older rate
        }
        self.epoch.push((sent_ns, answered));
    }

    /// The receive path's drop counter (cumulative: ring and socket drops), as read at any
    /// moment. True when it moved: the next `tick` cuts the rate.
    pub fn rx_drops(&mut self, total: u64) -> bool {
        let new = total > self.rx_drops;
        self.rx_drops = self.rx_drops.max(total);
        self.drops_pending |= new;
        new
    }

    /// Decide at `now_ns`, `sent` probes having gone out in all. Returns the rate to send at.
    pub fn tick(&mut self, now_ns: u64, sent: u64) -> f64 {
        let elapsed = now_ns.saturating_sub(self.changed_ns);
        // Time with nothing sent since the last tick (a wait between rounds) is no part of
        // the rate achieved: counted in, the end of a round decided after its wait would cut
        // from the handful a second that the wait averages to.
        if sent == self.last_sent {
            self.idle_ns += now_ns.saturating_sub(self.last_tick_ns);
        }
        (self.last_sent, self.last_tick_ns) = (sent, now_ns);
        let busy = elapsed.saturating_sub(self.idle_ns);
        let achieved = if busy > 0 {
            sent.saturating_sub(self.sent_at_change) as f64 * 1e9 / busy as f64
        } else {
            0.0
        };
        // What the sender really did: a rate it could not keep up with is no base to cut from
        // nor to double.
        let base_rate = if achieved > 0.0 {
            self.rate.min(achieved.max(self.limits.min))
        } else {
            self.rate
        };
        // Only canaries old enough to have been decided either way: an answer comes back
        // in one RTT, silence is known only after the wait, and counting the answers
        // before the silences would see no loss at all.
        let horizon = now_ns.saturating_sub(self.wait_ns());
        let (mut ok, mut lost) = (0u64, 0u64);
        for &(sent, answered) in &self.epoch {
            if sent <= horizon {
                if answered {
                    ok += 1;
                } else {
                    lost += 1;
                }
            }
        }
        let n = ok + lost;
        // Drops within the wait after a change are the old rate's doing (its replies still
        // arriving), already answered by that change.
        let rx_dropped = std::mem::take(&mut self.drops_pending) && elapsed >= self.wait_ns();
        if rx_dropped {
            let r = base_rate * RX_DROP_CUT;
            self.decrease(r);
        } else if n >= self.decide()
            || (self.tuning.early_loss && n >= DECIDE && self.excess(ok, lost).is_some())
            || (self.phase == Phase::SlowStart
                && n > 0
                && lost == 0
                && elapsed >= SLOW_START_EPOCH_NS)
        {
            let l = lost as f64 / n as f64;
            self.last_loss = Some(l);
            match self.excess(ok, lost) {
                // Slow start: a first lossy epoch that lost less than half holds the rate and
                // looks again. Its epochs are few canaries against a baseline of a few dozen,
                // and with random loss on the path three of eight lost happens (3 % of
                // epochs at 10 % loss): cut on it, a lossy scan crawled for the round. A
                // doubling past a policer loses half or more, and is cut at once.
                Some(_) if self.phase == Phase::SlowStart && l <= FIRST_LOSS && !self.suspect => {
                    self.suspect = true;
                }
                Some(b) => {
                    self.suspect = false;
                    let delivered = base_rate * (1.0 - l) / (1.0 - b).max(0.05);
                    let h = self.tuning.headroom;
                    let r = (delivered * h).clamp(base_rate * self.tuning.min_cut, base_rate * h);
                    self.decrease(r);
                    self.bottleneck = delivered;
                }
                None => {
                    self.suspect = false;
                    if self.phase == Phase::SlowStart || self.rate <= self.bottleneck {
                        self.pool(ok as f64, lost as f64);
                    }
                    // Well above the rate the last decrease set, and still no loss: that
                    // decrease was chance or the bottleneck has moved. Search again.
                    if self.phase == Phase::Avoidance
                        && !self.settled
                        && self.rate > self.tuning.reprobe * self.cut_rate
                    {
                        self.phase = Phase::SlowStart;
                        self.searching_again = true;
                    }
                    let r = match self.phase {
                        // Doubling, but not past twice what the sender achieved: a sender that
                        // cannot keep up holds the rate where it is. A search again, which
                        // starts near a bottleneck already found, grows by a quarter: a
                        // doubling there sends twice what the path takes for an epoch.
                        Phase::SlowStart => {
                            let k = if self.searching_again {
                                REPROBE_GROWTH
                            } else {
                                2.0
                            };
                            (self.rate * k).min(achieved * k).max(self.rate)
                        }
                        Phase::Avoidance if self.settled => self.rate,
                        Phase::Avoidance => {
                            let secs =
                                (elapsed as f64 / 1e9).min(AI_MAX_STEP / self.tuning.ai_share);
                            self.rate + self.ai_step * secs
                        }
                    };
                    self.change(r);
                }
            }
        } else if self.epoch.is_empty()
            && elapsed >= QUIET_NS
            && sent.saturating_sub(self.sent_at_change) >= QUIET_MIN_SENT
        {
            // Sending, but nothing to measure yet (nothing has answered, or a wait between
            // rounds went by): a new epoch from here (what was sent before the wait is no
            // measure of the rate), grown a little, but not into the last round.
            // Not sending (the wait between rounds) says nothing: the rate holds, or the
            // next round would start above what the path took.
            if !self.settled {
                self.change(self.rate * QUIET_GROWTH);
            }
        } else {
            return self.rate;
        }
        self.changed_ns = now_ns;
        self.sent_at_change = sent;
        self.idle_ns = 0;
        self.epoch.clear();
        self.rate
    }

    /// `Some(baseline)` when `lost` of `ok + lost` is a loss significantly above the
    /// baseline; `None` when it is within chance of it (or below). The first epoch, with no
    /// baseline yet, is congested only if it lost most of its canaries.
    fn excess(&self, ok: u64, lost: u64) -> Option<f64> {
        let n = (ok + lost) as f64;
        let l = lost as f64 / n;
        let bn = self.base.0 + self.base.1;
        if bn == 0.0 {
            return (l > FIRST_LOSS).then_some(0.0);
        }
        let b = self.base.1 / bn;
        // Pooled share with one pseudo-loss and one pseudo-answer: a clean baseline still
        // has a standard error, so a single lost canary is not yet a verdict. The error is
        // the epoch's alone: counting the baseline's own (few samples early on) made the
        // test too weak to stop slow start, and a lossy epoch it let through joined the
        // baseline and hid the bottleneck for good.
        let p = (lost as f64 + self.base.1 + 1.0) / (n + bn + 2.0);
        let se = (p * (1.0 - p) / n).sqrt();
        (l - b > MIN_EXCESS.max(Z * se)).then_some(b)
    }

    /// Canaries per decision.
    fn decide(&self) -> u64 {
        match self.phase {
            Phase::SlowStart => DECIDE,
            Phase::Avoidance => 4 * DECIDE,
        }
    }

    fn pool(&mut self, ok: f64, lost: f64) {
        self.base.0 += ok;
        self.base.1 += lost;
        let n = self.base.0 + self.base.1;
        if n > BASE_CAP {
            let k = BASE_CAP / n;
            self.base.0 *= k;
            self.base.1 *= k;
        }
    }

    fn decrease(&mut self, r: f64) {
        self.phase = Phase::Avoidance;
        self.change(r);
        self.ai_step = self.rate * self.tuning.ai_share;
        self.cut_rate = self.rate;
        self.cut = true;
        self.searching_again = false;
    }

    fn change(&mut self, r: f64) {
        self.rate = r.clamp(self.limits.min, self.limits.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn limits(min: f64, max: f64) -> Limits {
        Limits { min, max }
    }

    /// A controller whose first slow-start epoch (8 answered canaries, the wait the 30 ms
    /// floor) doubled it to 2,000/s at 40 ms, `sent` probes out by then.
    fn doubled_once(sent: u64) -> Controller {
        let mut c = Controller::new(limits(1.0, 1e9), 0);
        c.rtt_sample(1_000);
        for _ in 0..DECIDE {
            c.canary(0, true);
        }
        assert_eq!(c.tick(40 * MS, sent), 2_000.0);
        c
    }

    #[test]
    fn starts_at_the_floor_or_the_default_within_the_ceiling() {
        assert_eq!(Controller::new(limits(1.0, 1e9), 0).rate(), DEFAULT_START);
        assert_eq!(Controller::new(limits(5_000.0, 1e9), 0).rate(), 5_000.0);
        assert_eq!(Controller::new(limits(1.0, 300.0), 0).rate(), 300.0);
        // A ceiling under the floor: the floor wins.
        assert_eq!(Controller::new(limits(800.0, 300.0), 0).rate(), 800.0);
    }

    #[test]
    fn canaries_from_before_a_change_do_not_count() {
        let mut c = Controller::new(limits(1.0, 1e9), 0);
        for _ in 0..DECIDE {
            c.canary(0, true);
        }
        assert_eq!(c.tick(10 * MS, 10), 2_000.0, "slow start doubles");
        for _ in 0..DECIDE {
            c.canary(5 * MS, false); // sent at the old rate
        }
        assert_eq!(c.tick(20 * MS, 40), 2_000.0, "nothing decided yet");
        assert_eq!(c.last_loss(), Some(0.0));
    }

    #[test]
    fn decrease_sized_by_delivery_then_additive_increase_by_time() {
        let mut c = Controller::new(limits(1.0, 1e9), 0);
        c.rtt_sample(1_000); // the wait is the 30 ms floor
        for _ in 0..8 * DECIDE {
            c.canary(0, true);
        }
        assert_eq!(c.tick(40 * MS, 40), 2_000.0);
        assert_eq!(c.baseline(), Some(0.0));
        // In slow start a first epoch that lost less than half only makes it suspect.
        for i in 0..DECIDE {
            c.canary(45 * MS, i >= 3);
        }
        assert_eq!(c.tick(95 * MS, 140), 2_000.0, "held");
        // At 2,000/s (achieved), 3 of 8 lost again: the path delivered 1,250/s.
        for i in 0..DECIDE {
            c.canary(100 * MS, i >= 3);
        }
        let r = c.tick(140 * MS, 240);
        assert!((r - 1_250.0 * HEADROOM).abs() < 1e-6, "{r}");
        // Uncongested epochs: the rate grows by time, at most AI_MAX_STEP per epoch.
        for _ in 0..4 * DECIDE {
            c.canary(150 * MS, true);
        }
        let r1 = c.tick(190 * MS, 270);
        assert!((r1 - r * (1.0 + AI_SHARE * 0.05)).abs() < 1e-6, "{r1}");
        for _ in 0..4 * DECIDE {
            c.canary(200 * MS, true);
        }
        let r2 = c.tick(1_190 * MS, 1_000);
        assert!((r2 - r1 - r * AI_MAX_STEP).abs() < 1e-6, "{r2}");
        // Canaries sent before the change, lost or not, decide nothing.
        for _ in 0..4 * DECIDE {
            c.canary(1_000 * MS, false);
        }
        assert_eq!(c.tick(1_300 * MS, 1_100), r2);
    }

    #[test]
    fn slow_start_stops_doubling_past_what_the_sender_achieves() {
        let mut c = Controller::new(limits(1.0, 1e9), 0);
        for _ in 0..DECIDE {
            c.canary(0, true);
        }
        // 1,000/s asked, 300/s achieved: held.
        assert_eq!(c.tick(1_000 * MS, 300), 1_000.0);
        for _ in 0..DECIDE {
            c.canary(1_000 * MS, true);
        }
        // 700/s achieved: up to 1,400, not 2,000.
        assert_eq!(c.tick(2_000 * MS, 1_000), 1_400.0);
    }

    #[test]
    fn receive_drops_cut_the_rate() {
        let mut c = Controller::new(limits(1.0, 1e9), 0);
        assert!(c.rx_drops(3));
        assert!(!c.rx_drops(3));
        let r = c.tick(2_000 * MS, 2_000);
        assert!((r - 700.0).abs() < 1.0, "{r}");
        // Once: the same total again cuts nothing more.
        assert!(!c.rx_drops(3));
        assert_eq!(c.tick(2_010 * MS, 2_007), r);
        // Drops seen within the wait after a change are the old rate's: no second cut.
        assert!(c.rx_drops(9));
        assert_eq!(c.tick(2_011 * MS, 2_008), r);
        // Later ones cut again.
        assert!(c.rx_drops(10));
        let r2 = c.tick(3_000 * MS, 2_700);
        assert!(r2 < r, "{r2} < {r}");
    }

    #[test]
    fn settled_it_searches_no_more() {
        let mut c = Controller::new(limits(1.0, 1e9), 0);
        c.rtt_sample(1_000);
        c.settle();
        // Loss-free epochs: held, never a doubling nor a climb, nor a quiet second's growth.
        let mut sent = 0;
        for i in 1..=20u64 {
            for _ in 0..4 * DECIDE {
                c.canary((i - 1) * 100 * MS, true);
            }
            sent += 100;
            assert_eq!(c.tick(i * 100 * MS, sent), 1_000.0, "epoch {i}");
        }
        assert_eq!(c.tick(5_000 * MS, 10_000), 1_000.0, "quiet");
        // Loss still cuts it.
        for n in 0..4 * DECIDE {
            c.canary(5_000 * MS, n % 4 == 0);
        }
        assert!(c.tick(5_200 * MS, 10_200) < 1_000.0);
        // Settled after a cut: back to the rate that cut set.
        let mut c = doubled_once(40);
        for i in 0..DECIDE {
            c.canary(45 * MS, i >= 3);
        }
        c.tick(95 * MS, 140);
        for i in 0..DECIDE {
            c.canary(100 * MS, i >= 3);
        }
        let cut = c.tick(140 * MS, 240);
        for _ in 0..4 * DECIDE {
            c.canary(150 * MS, true);
        }
        assert!(c.tick(1_150 * MS, 2_000) > cut, "climbing");
        c.settle();
        assert_eq!(c.rate(), cut);
    }

    #[test]
    fn a_wait_between_rounds_is_no_part_of_the_rate_cut_from() {
        let mut c = Controller::new(limits(1.0, 1e9), 0);
        c.rtt_sample(1_000);
        for _ in 0..DECIDE {
            c.canary(0, true);
        }
        assert_eq!(c.tick(10 * MS, 10), 2_000.0);
        // 2,000/s for 100 ms, ticked every 10 ms; then 900 ms with nothing sent.
        for t in (20..=110).step_by(10) {
            c.tick(t * MS, 10 + 20 * (t - 10) / 10);
        }
        for t in (120..=1_000).step_by(10) {
            c.tick(t * MS, 210);
        }
        // The round's last canaries are decided now: five of eight lost.
        for i in 0..DECIDE {
            c.canary(100 * MS, i >= 5);
        }
        let r = c.tick(1_010 * MS, 210);
        // Cut from the 2,000/s it sent at (to the deepest cut, half), not from the 210 a
        // second the wait averages to.
        assert_eq!(r, 1_000.0);
    }

    #[test]
    fn in_slow_start_one_lossy_epoch_holds_and_two_cut() {
        let mut c = Controller::new(limits(1.0, 1e9), 0);
        c.rtt_sample(1_000);
        for _ in 0..DECIDE {
            c.canary(0, true);
        }
        assert_eq!(c.tick(40 * MS, 80), 2_000.0);
        // 3 of 8 lost: held, and a clean epoch after it clears the suspicion.
        for (at, now, sent) in [(45, 95, 180), (100, 140, 270)] {
            for i in 0..DECIDE {
                c.canary(at * MS, i >= 3);
            }
            assert_eq!(c.tick(now * MS, sent), 2_000.0, "held at {now} ms");
            for _ in 0..DECIDE {
                c.canary((now + 5) * MS, true);
            }
            assert_eq!(c.tick((now + 45) * MS, sent + 90), 4_000.0);
            c = doubled_once(80);
        }
        // Two lossy epochs in a row cut.
        for i in 0..DECIDE {
            c.canary(45 * MS, i >= 3);
        }
        assert_eq!(c.tick(95 * MS, 180), 2_000.0);
        for i in 0..DECIDE {
            c.canary(100 * MS, i >= 3);
        }
        assert!(c.tick(140 * MS, 270) < 2_000.0);
        // A doubling that lost half or more is cut at once.
        let mut c = doubled_once(80);
        for i in 0..DECIDE {
            c.canary(45 * MS, i >= 5);
        }
        assert!(c.tick(95 * MS, 180) < 2_000.0);
    }

    #[test]
    fn silence_grows_slowly() {
        let mut c = Controller::new(limits(1.0, 1e9), 0);
        assert_eq!(c.tick(500 * MS, 500), 1_000.0);
        assert_eq!(c.tick(1_000 * MS, 1_000), 1_250.0);
        // Not sending (a wait between rounds): held.
        assert_eq!(c.tick(3_000 * MS, 1_000), 1_250.0);
    }
}
