//! Every watched target with its health and its place in the schedule, keyed by
//! (address, port), and the reload that swaps the target list without forgetting what is
//! known about the targets that stay.

use std::collections::HashSet;

// Fx, not SipHash: the keys are the watched targets, from the user's list (results are
// looked up only for pairs we probed), and the map is read on every check.
use rustc_hash::FxHashMap;
use std::net::SocketAddr;

use super::config::Config;
use super::schedule::{Schedule, spread_offset};
use super::state::{Check, Health, Tracker, Transition};

/// A transition of one target: one line of `watch`'s output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub target: SocketAddr,
    pub transition: Transition,
}

/// A target whose check is due now: the caller sends its SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    pub target: SocketAddr,
    /// The target's id while it stays watched: [`Fleet::record_id`] takes it back without
    /// a lookup by address.
    pub id: u32,
    pub slot_ms: u64,
    /// Run more than 10 % of the interval after its slot (also counted in [`Fleet::late`]).
    pub late: bool,
}

/// What a reload changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Reloaded {
    pub kept: usize,
    pub added: usize,
    pub removed: usize,
}

#[derive(Debug)]
struct Watched {
    target: SocketAddr,
    tracker: Tracker,
    /// The slot of the latest check handed out; the next slot is counted from it.
    last_slot_ms: Option<u64>,
}

/// The watched targets. Ids are slab indices, reused after removal, so the schedule's
/// vectors stay as long as the largest fleet ever watched.
#[derive(Debug)]
pub struct Fleet {
    config: Config,
    seed: u64,
    slab: Vec<Option<Watched>>,
    free: Vec<u32>,
    index: FxHashMap<SocketAddr, u32>,
    schedule: Schedule,
}

impl Fleet {
    /// An empty fleet; `seed` picks each target's point within its share of the interval.
    pub fn new(config: Config, seed: u64) -> Self {
        Fleet {
            config,
            seed,
            slab: Vec::new(),
            free: Vec::new(),
            index: FxHashMap::default(),
            schedule: Schedule::new(config.late_after_ms()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Makes `targets` the watched set (the first load is a reload of an empty fleet).
    /// Kept targets keep their health, counts and slot; new ones start `initial`, their
    /// first checks spread over one interval from `now_ms` in list order; the others go.
    /// A target listed twice is watched once.
    pub fn reload(
        &mut self,
        targets: impl IntoIterator<Item = SocketAddr>,
        now_ms: u64,
    ) -> Reloaded {
        let mut wanted = HashSet::new();
        let mut added = Vec::new();
        for t in targets {
            if wanted.insert(t) && !self.index.contains_key(&t) {
                added.push(t);
            }
        }
        let gone: Vec<SocketAddr> = self
            .index
            .keys()
            .filter(|t| !wanted.contains(*t))
            .copied()
            .collect();
        for t in &gone {
            if let Some(id) = self.index.remove(t) {
                self.slab[id as usize] = None;
                self.schedule.cancel(id);
                self.free.push(id);
            }
        }
        let kept = self.index.len();
        let count = added.len() as u64;
        for (i, &target) in added.iter().enumerate() {
            let id = self.free.pop().unwrap_or_else(|| {
                self.slab.push(None);
                (self.slab.len() - 1) as u32
            });
            self.slab[id as usize] = Some(Watched {
                target,
                tracker: Tracker::new(),
                last_slot_ms: None,
            });
            self.index.insert(target, id);
            let offset = spread_offset(i as u64, count, self.config.interval_ms(), self.seed);
            self.schedule.set(id, now_ms + offset);
        }
        Reloaded {
            kept,
            added: added.len(),
            removed: gone.len(),
        }
    }

    /// The next target due by `now_ms`, if any; call until `None`. Its following slot is
    /// set at once (from its health now), and moved by [`Fleet::record`] if the result
    /// changes the period, so a check whose result never comes is not lost.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<Due> {
        loop {
            let slot = self.schedule.pop_due(now_ms)?;
            let Some(w) = self.slab[slot.id as usize].as_mut() else {
                continue; // cannot happen: removal cancels the id
            };
            w.last_slot_ms = Some(slot.due_ms);
            let next = slot.due_ms + w.tracker.period_ms(&self.config);
            self.schedule.set(slot.id, next);
            return Some(Due {
                target: w.target,
                id: slot.id,
                slot_ms: slot.due_ms,
                late: slot.late,
            });
        }
    }

    /// Counts a check's result; `None` when the health did not change or the target is no
    /// longer watched (a reply that outlived a reload).
    pub fn record(&mut self, target: SocketAddr, check: Check, now_ms: u64) -> Option<Event> {
        let id = *self.index.get(&target)?;
        self.record_id(id, check, now_ms)
    }

    /// [`Fleet::record`] for the target of a [`Due`]'s `id` (the hot path of a large fleet:
    /// no hashing of the address).
    pub fn record_id(&mut self, id: u32, check: Check, now_ms: u64) -> Option<Event> {
        let w = self.slab.get_mut(id as usize)?.as_mut()?;
        let target = w.target;
        let transition = w.tracker.record(&self.config, check, now_ms);
        if let Some(slot) = w.last_slot_ms {
            // Entering or leaving a transition switches between interval and fast interval.
            self.schedule
                .set(id, slot + w.tracker.period_ms(&self.config));
        }
        transition.map(|transition| Event { target, transition })
    }

    /// The earliest slot, for the caller to sleep until.
    pub fn next_due_ms(&mut self) -> Option<u64> {
        self.schedule.next_due_ms()
    }

    /// When `target` is checked next.
    pub fn due_ms(&self, target: SocketAddr) -> Option<u64> {
        self.schedule.due_ms(*self.index.get(&target)?)
    }

    pub fn get(&self, target: SocketAddr) -> Option<&Tracker> {
        let id = *self.index.get(&target)?;
        self.slab[id as usize].as_ref().map(|w| &w.tracker)
    }

    /// Every target and its tracker, in no particular order (a snapshot sorts).
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &Tracker)> {
        self.slab.iter().flatten().map(|w| (w.target, &w.tracker))
    }

    /// How many targets are in each health: (initial, healthy, unhealthy).
    pub fn counts(&self) -> (usize, usize, usize) {
        self.iter()
            .fold((0, 0, 0), |(i, h, u), (_, t)| match t.health() {
                Health::Initial => (i + 1, h, u),
                Health::Healthy => (i, h + 1, u),
                Health::Unhealthy => (i, h, u + 1),
            })
    }

    /// Checks run late so far.
    pub fn late(&self) -> u64 {
        self.schedule.late()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::config::Settings;
    use crate::probe::Reason;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    fn addr(i: u32) -> SocketAddr {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i);
        SocketAddr::new(IpAddr::V4(ip), 80)
    }

    fn settings(interval_s: u64, fast_s: u64, healthy: u32, unhealthy: u32) -> Config {
        Settings {
            interval: Duration::from_secs(interval_s),
            timeout: Duration::from_secs(1),
            fast_interval: Some(Duration::from_secs(fast_s)),
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
        }
        .validate()
        .unwrap()
    }

    fn ok() -> Check {
        Check::pass(Duration::from_millis(1))
    }

    /// Pops the one due target at its slot and records `check` a few ms later.
    fn check_once(f: &mut Fleet, check: Check) -> (u64, Option<Event>) {
        let now = f.next_due_ms().unwrap();
        let due = f.pop_due(now).unwrap();
        (now, f.record(due.target, check, now + 5))
    }

    #[test]
    fn a_target_goes_through_every_state_with_fast_checks_in_between() {
        let mut f = Fleet::new(settings(10, 2, 3, 2), 0);
        assert_eq!(
            f.reload([addr(0)], 1_000),
            Reloaded {
                kept: 0,
                added: 1,
                removed: 0
            }
        );
        let mut slots = Vec::new();
        let mut events = Vec::new();
        let script = [ok(), ok(), ok(), ok()]
            .into_iter()
            .chain([Check::fail(Reason::Rst); 3])
            .chain([ok(); 3]);
        for c in script {
            let (slot, ev) = check_once(&mut f, c);
            slots.push(slot);
            events.extend(ev.map(|e| (e.transition.from, e.transition.to, e.transition.at_ms)));
        }
        // initial: fast (2 s) until healthy at the third pass; then 10 s; the first fail
        // puts it in transition (fast); unhealthy: 10 s; the first pass: fast again.
        let t0 = slots[0];
        assert!(
            (1_000..11_000).contains(&t0),
            "first slot within one interval: {t0}"
        );
        let offsets: Vec<u64> = slots.iter().map(|s| s - t0).collect();
        assert_eq!(
            offsets,
            vec![
                0, 2_000, 4_000, 14_000, 24_000, 26_000, 36_000, 46_000, 48_000, 50_000
            ]
        );
        assert_eq!(
            events,
            vec![
                (Health::Initial, Health::Healthy, t0 + 4_005),
                (Health::Healthy, Health::Unhealthy, t0 + 26_005),
                (Health::Unhealthy, Health::Healthy, t0 + 50_005),
            ]
        );
        assert_eq!(f.late(), 0);
    }

    #[test]
    fn a_check_without_result_keeps_its_next_slot() {
        let mut f = Fleet::new(settings(10, 2, 3, 2), 0);
        f.reload([addr(0)], 0);
        let t0 = f.due_ms(addr(0)).unwrap();
        assert_eq!(f.pop_due(t0).map(|d| d.slot_ms), Some(t0));
        assert_eq!(f.due_ms(addr(0)), Some(t0 + 2_000), "initial: fast");
        assert_eq!(f.pop_due(t0 + 1_999), None);
        assert_eq!(f.pop_due(t0 + 2_000).map(|d| d.slot_ms), Some(t0 + 2_000));
    }

    #[test]
    fn reload_keeps_state_adds_initial_drops_removed() {
        let mut f = Fleet::new(settings(10, 10, 2, 2), 7);
        f.reload([addr(0), addr(1)], 0);
        for now in (0..30_000).step_by(100) {
            while let Some(d) = f.pop_due(now) {
                let c = if d.target == addr(0) {
                    ok()
                } else {
                    Check::fail(Reason::NoResponse)
                };
                f.record(d.target, c, now);
            }
        }
        let a = *f.get(addr(0)).unwrap();
        assert_eq!((a.health(), a.passes()), (Health::Healthy, 3));
        let a_due = f.due_ms(addr(0));

        let r = f.reload([addr(0), addr(2), addr(2)], 30_000);
        assert_eq!(
            r,
            Reloaded {
                kept: 1,
                added: 1,
                removed: 1
            }
        );
        assert_eq!(f.len(), 2);
        assert_eq!(f.get(addr(0)), Some(&a), "kept: state and counts");
        assert_eq!(f.due_ms(addr(0)), a_due, "kept: its slot");
        assert_eq!(f.get(addr(1)), None);
        assert_eq!(f.due_ms(addr(1)), None);
        assert_eq!(
            f.record(addr(1), ok(), 30_010),
            None,
            "a late reply of a removed target"
        );
        assert_eq!(f.get(addr(2)).unwrap().health(), Health::Initial);
        let due2 = f.due_ms(addr(2)).unwrap();
        assert!((30_000..40_000).contains(&due2), "{due2}");
        assert_eq!(f.counts(), (1, 1, 0));
        // The removed target never comes up again; the others do, once per interval.
        let mut seen = Vec::new();
        for now in 30_000..50_000 {
            while let Some(d) = f.pop_due(now) {
                seen.push(d.target);
            }
        }
        seen.sort();
        assert_eq!(seen, vec![addr(0), addr(0), addr(2), addr(2)]);
    }

    #[test]
    fn late_checks_are_counted() {
        let mut f = Fleet::new(settings(10, 10, 2, 2), 0);
        f.reload([addr(0), addr(1)], 0);
        // Both slots are in [0, 10 s); run them 1.5 s after the interval began.
        let a = f.pop_due(10_000).unwrap();
        let b = f.pop_due(10_000).unwrap();
        assert!(a.late && b.late, "{a:?} {b:?}");
        assert_eq!(f.late(), 2);
        let slot = f.next_due_ms().unwrap();
        assert!(
            !f.pop_due(slot + 1_000).unwrap().late,
            "10 % is still on time"
        );
        assert_eq!(f.late(), 2);
    }

    #[test]
    fn first_slots_of_a_fleet_are_distinct_and_within_one_interval() {
        let mut f = Fleet::new(settings(30, 30, 5, 2), 42);
        f.reload((0..300).map(addr), 5_000);
        let mut dues: Vec<u64> = (0..300).map(|i| f.due_ms(addr(i)).unwrap()).collect();
        dues.sort();
        dues.dedup();
        assert_eq!(dues.len(), 300);
        assert!(dues[0] >= 5_000 && dues[299] < 35_000);
    }

    /// 100,000 targets at a 10 s interval for one simulated minute, stepped a millisecond
    /// at a time: each is due exactly 6 times, none late, and no millisecond carries more
    /// than its share (10 checks).
    #[test]
    fn hundred_thousand_targets_each_checked_once_per_interval() {
        const N: u32 = 100_000;
        let mut f = Fleet::new(settings(10, 10, 5, 2), 9);
        f.reload((0..N).map(addr), 0);
        let mut times = vec![0u8; N as usize];
        let mut busiest = 0;
        for now in 0..60_000 {
            let mut this_ms = 0;
            while let Some(d) = f.pop_due(now) {
                let IpAddr::V4(ip) = d.target.ip() else {
                    unreachable!()
                };
                times[(u32::from(ip) - u32::from(Ipv4Addr::new(198, 18, 0, 0))) as usize] += 1;
                f.record(d.target, ok(), now);
                this_ms += 1;
            }
            busiest = busiest.max(this_ms);
        }
        let wrong: Vec<(usize, u8)> = times
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, n)| n != 6)
            .take(5)
            .collect();
        assert_eq!(wrong, vec![], "targets not due exactly 6 times");
        assert_eq!(f.late(), 0);
        assert_eq!(busiest, 10);
        assert_eq!(f.counts(), (0, N as usize, 0), "5 passes made all healthy");
    }
}
