//! The end-of-run summary printed on stderr: what was sent, what came back, what it means.

use std::fmt;

use crate::probe::{ProbeResult, Reason, State};

/// The shortest time a rate is computed over: below it a handful of probes, or one clock
/// tick, makes any number (a rate "over 0.00 s").
pub const MIN_RATE_SECS: f64 = 0.010;

/// `n` and the noun, singular for 1: "1 probe", "2 probes".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Counters of one engine run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Pairs this run was responsible for (this shard's share).
    pub pairs: u64,
    /// SYNs handed to the kernel, retries included.
    pub sent: u64,
    /// Replies that carried our cookie, each pair counted once.
    pub matched: u64,
    /// Further replies for pairs already decided (retransmitted SYN-ACKs, answers to retries).
    pub duplicates: u64,
    /// Frames that reached us but were not answers to our probes (wrong cookie, stray).
    pub ignored: u64,
    /// Bare SYNs: proof of nothing on their own (a split handshake must complete).
    pub unverified_syns: u64,
    /// Replies whose IP, TCP or ICMP checksum was wrong.
    pub bad_checksums: u64,
    /// SYN-ACKs sent in answer to bare SYNs (the split-handshake check).
    pub challenges: u64,
    pub open: u64,
    pub closed: u64,
    pub filtered: u64,
    /// Of the filtered: targets without a route, never probed.
    pub no_route: u64,
    /// Of the filtered: on-link targets that answered no ARP / NDP, never probed.
    pub no_neighbour: u64,
    /// RSTs sent to tear down half-open connections.
    pub teardown_rsts: u64,
    /// Frames the kernel dropped because the receive ring was full.
    pub rx_drops: u64,
    /// Seconds spent sending, summed over the rounds (the waits between them excluded).
    pub send_secs: f64,
    /// Seconds of the whole run, waits included.
    pub total_secs: f64,
    /// The asked rate in probes/s; `None` for `--rate max`.
    pub asked_rate: Option<f64>,
    /// The first-round sending rate (retry rounds are smaller and would distort it); `None`
    /// when that round sent for less than `MIN_RATE_SECS` (see `Summary::rate_over`).
    pub achieved_rate: Option<f64>,
    /// Verdicts by reason, in `Reason::ALL`'s order (the states split by why).
    pub by_reason: [u64; Reason::ALL.len()],
    pub interrupted: bool,
    /// The reader of the results went away (a closed pipe): the run stopped there.
    pub output_closed: bool,
    /// Re-probes of answered pairs that measured loss on the path (`engine::canaries`).
    pub canaries: crate::rate::CanaryTotals,
    /// Under `--rate auto`: the rate the controller ended at.
    pub auto_rate: Option<f64>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Summary {
    /// `count` per second over `secs`, or `None` when `secs` is under `MIN_RATE_SECS`.
    pub fn rate_over(count: u64, secs: f64) -> Option<f64> {
        (secs >= MIN_RATE_SECS).then(|| count as f64 / secs)
    }

    /// Counts a verdict in its state and reason.
    pub fn count(&mut self, r: &ProbeResult) {
        match r.state() {
            State::Open => self.open += 1,
            State::Closed => self.closed += 1,
            State::Filtered => self.filtered += 1,
        }
        match r.reason {
            Reason::NoRoute => self.no_route += 1,
            Reason::NoNeighbour => self.no_neighbour += 1,
            _ => {}
        }
        if let Some(i) = Reason::ALL.iter().position(|&x| x == r.reason) {
            self.by_reason[i] += 1;
        }
    }

    /// True when the run sent visibly slower than asked (more than 2 % below). Runs of less
    /// than a second's worth of probes say nothing: a handful of probes has no meaningful
    /// rate (and the wait for an on-link target's ARP answer is no part of it).
    pub fn below_asked_rate(&self) -> bool {
        match self.asked_rate {
            Some(r) => self.sent as f64 >= r && self.achieved_rate.is_some_and(|a| a < r * 0.98),
            None => false,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "synprobe: sent {} for {} in {:.2} s",
            plural(self.sent, "probe", "probes"),
            plural(self.pairs, "pair", "pairs"),
            self.send_secs
        )?;
        match self.achieved_rate {
            Some(r) => write!(f, " at {}/s", thousands(r.round() as u64))?,
            None => write!(f, ", too short for a rate")?,
        }
        match self.asked_rate {
            Some(r) => write!(f, " (asked {}/s)", thousands(r.round() as u64))?,
            None => write!(f, " (asked max)")?,
        }
        if self.below_asked_rate() {
            write!(f, ", below the asked rate: this machine could not keep up")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "synprobe: replies: {} matched, {} duplicate, {} ignored, {}, {} bad checksum; \
             {} sent, {} sent; receive drops {}",
            self.matched,
            self.duplicates,
            self.ignored,
            plural(self.unverified_syns, "unverified SYN", "unverified SYNs"),
            self.bad_checksums,
            plural(
                self.challenges,
                "split-handshake SYN-ACK",
                "split-handshake SYN-ACKs"
            ),
            plural(self.teardown_rsts, "teardown RST", "teardown RSTs"),
            self.rx_drops
        )?;
        write!(
            f,
            "synprobe: open {}, closed {}, filtered {}",
            self.open, self.closed, self.filtered
        )?;
        if self.no_route + self.no_neighbour > 0 {
            write!(
                f,
                " ({} no route, {} no neighbour)",
                self.no_route, self.no_neighbour
            )?;
        }
        write!(f, "; finished in {:.2} s", self.total_secs)?;
        if self.interrupted {
            write!(f, " (interrupted: unprobed pairs are not reported)")?;
        } else if self.output_closed {
            write!(
                f,
                " (stopped: the output was closed; unprobed pairs are not reported)"
            )?;
        }
        super::rate_report::write(f, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn summary_names_counts_and_flags_slow_rates() {
        let s = Summary {
            pairs: 10,
            sent: 100_000,
            open: 3,
            closed: 7,
            asked_rate: Some(100_000.0),
            achieved_rate: Some(50_000.0),
            send_secs: 2.0,
            ..Default::default()
        };
        let text = s.to_string();
        assert!(text.contains("sent 100000 probes"), "{text}");
        assert!(text.contains("open 3, closed 7, filtered 0;"), "{text}");
        let unroutable = Summary {
            filtered: 5,
            no_route: 4,
            no_neighbour: 1,
            ..s.clone()
        };
        let text = unroutable.to_string();
        assert!(
            text.contains("filtered 5 (4 no route, 1 no neighbour);"),
            "{text}"
        );
        assert!(text.contains("could not keep up"), "{text}");
        let ok = Summary {
            achieved_rate: Some(99_500.0),
            ..s
        };
        assert!(!ok.to_string().contains("could not keep up"));
        // Two probes to on-link targets, most of the round spent waiting for ARP answers.
        let few = Summary {
            sent: 2,
            achieved_rate: Some(266.0),
            asked_rate: Some(10_000.0),
            send_secs: 1.03,
            ..Default::default()
        };
        assert!(!few.to_string().contains("could not keep up"));
    }

    #[test]
    fn one_is_singular_and_a_rate_needs_ten_milliseconds() {
        let one = Summary {
            pairs: 1,
            sent: 1,
            challenges: 1,
            teardown_rsts: 1,
            unverified_syns: 1,
            send_secs: 0.004,
            achieved_rate: Summary::rate_over(1, 0.004),
            asked_rate: Some(10_000.0),
            ..Default::default()
        };
        let text = one.to_string();
        assert!(
            text.contains("sent 1 probe for 1 pair in 0.00 s, too short for a rate (asked"),
            "{text}"
        );
        assert!(
            text.contains("1 unverified SYN, ")
                && text.contains("1 split-handshake SYN-ACK sent, 1 teardown RST sent;"),
            "{text}"
        );
        assert_eq!(Summary::rate_over(1, 0.0099), None);
        assert_eq!(Summary::rate_over(100, 0.010), Some(10_000.0));
        let two = Summary {
            pairs: 2,
            sent: 2,
            ..one
        };
        assert!(two.to_string().contains("sent 2 probes for 2 pairs"));
    }
}
