//! The end-of-run summary as one JSON object, for programs: `--summary-json FILE|-`, and
//! the `--trailer` record that closes a scan's JSON Lines output. The same `Summary` the
//! text on stderr is made of, plus what the run was (command, version, seed, shard) and
//! how it ended. Keys are stable; new ones may be added, none renamed.

use serde_json::{Map, Value, json};

use super::Summary;
use crate::probe::Reason;

/// The `synprobe` key's value that marks the trailer record (the header's is `header`).
pub const TRAILER_MARK: &str = "trailer";
/// The `synprobe` key's value of a `--summary-json` object.
pub const SUMMARY_MARK: &str = "summary";

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every round and its wait ran.
    Completed,
    /// SIGINT, SIGTERM or SIGHUP.
    Interrupted,
    /// `--max-runtime` was reached.
    MaxRuntime,
    /// `--max-results` was reached.
    MaxResults,
    /// The reader of the results went away.
    OutputClosed,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Completed => "completed",
            Ending::Interrupted => "interrupted",
            Ending::MaxRuntime => "max-runtime",
            Ending::MaxResults => "max-results",
            Ending::OutputClosed => "output-closed",
        }
    }
}

/// What the run was and how it ended: the part of the record the counters do not hold.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// `scan` or `check`.
    pub command: &'static str,
    pub seed: u64,
    /// 1-based shard and shard count (`[1,1]` unsharded).
    pub shard: (u64, u64),
    pub ending: Ending,
    pub exit_code: i32,
}

/// A rate as a JSON number, or null when there is none (see `Summary::rate_over`).
fn rate(r: Option<f64>) -> Value {
    r.map_or(Value::Null, |r| json!((r * 10.0).round() / 10.0))
}

/// Seconds as a number, to the microsecond.
fn secs(s: f64) -> Value {
    json!((s * 1e6).round() / 1e6)
}

impl Summary {
    /// The record as one line, `synprobe` first as in the header record (serde_json's map
    /// sorts keys), so a reader tells it from a result at a glance.
    pub fn render_json(&self, mark: &str, info: &RunInfo) -> String {
        let mut v = self.to_json(mark, info);
        if let Some(o) = v.as_object_mut() {
            o.remove("synprobe");
        }
        let body = v.to_string();
        format!("{{\"synprobe\":{},{}", Value::from(mark), &body[1..])
    }

    /// The record, `{"synprobe":MARK,...}`; `mark` is `SUMMARY_MARK` or `TRAILER_MARK`.
    pub fn to_json(&self, mark: &str, info: &RunInfo) -> Value {
        let mut by_reason = Map::new();
        for (i, r) in Reason::ALL.iter().enumerate() {
            by_reason.insert(r.as_str().to_string(), json!(self.by_reason[i]));
        }
        json!({
            "synprobe": mark,
            "version": env!("CARGO_PKG_VERSION"),
            "command": info.command,
            "seed": info.seed,
            "shard": [info.shard.0, info.shard.1],
            "pairs": self.pairs,
            "probes": {
                "sent": self.sent,
                "split_handshake_syn_acks": self.challenges,
                "teardown_rsts": self.teardown_rsts,
            },
            "replies": {
                "matched": self.matched,
                "duplicate": self.duplicates,
                "ignored": self.ignored,
                "unverified_syn": self.unverified_syns,
                "bad_checksum": self.bad_checksums,
                "receive_drops": self.rx_drops,
            },
            "states": {
                "open": self.open,
                "closed": self.closed,
                "filtered": self.filtered,
            },
            "reasons": by_reason,
            "rate": {
                "asked": rate(self.asked_rate),
                "achieved": rate(self.achieved_rate),
                "below_asked": self.below_asked_rate(),
                // `--rate auto`: the controller's rate at the end; null at a fixed rate.
                "auto": rate(self.auto_rate),
                // Re-probes of answered pairs that measure loss on the path (never results).
                "canaries": {
                    "sent": self.canaries.sent,
                    "answered": self.canaries.answered,
                    "unanswered": self.canaries.lost,
                    "loss": self.canaries.loss(),
                    "lost_answers": super::lost_answers(self),
                },
            },
            "seconds": {
                "sending": secs(self.send_secs),
                "total": secs(self.total_secs),
            },
            "exit": {
                "reason": info.ending.as_str(),
                "code": info.exit_code,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_holds_every_count_as_a_number() {
        let mut s = Summary {
            pairs: 4,
            sent: 6,
            matched: 2,
            duplicates: 1,
            open: 1,
            closed: 1,
            filtered: 2,
            asked_rate: Some(10_000.0),
            achieved_rate: Some(9_876.54),
            send_secs: 0.0123456789,
            total_secs: 1.5,
            ..Default::default()
        };
        s.by_reason[0] = 1; // syn-ack
        s.by_reason[2] = 1; // rst
        let info = RunInfo {
            command: "scan",
            seed: 7,
            shard: (1, 1),
            ending: Ending::Completed,
            exit_code: 0,
        };
        let v = s.to_json(TRAILER_MARK, &info);
        assert_eq!(v["synprobe"], "trailer");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v["seed"], 7);
        assert_eq!(v["shard"], json!([1, 1]));
        assert_eq!(v["probes"]["sent"], 6);
        assert_eq!(v["replies"]["matched"], 2);
        assert_eq!(v["replies"]["duplicate"], 1);
        assert_eq!(v["states"], json!({"open": 1, "closed": 1, "filtered": 2}));
        assert_eq!(v["reasons"]["syn-ack"], 1);
        assert_eq!(v["reasons"]["rst"], 1);
        assert_eq!(v["reasons"]["no-response"], 0);
        assert_eq!(v["reasons"].as_object().unwrap().len(), Reason::ALL.len());
        assert_eq!(v["rate"]["asked"], 10_000.0);
        assert_eq!(v["rate"]["achieved"], 9_876.5);
        assert_eq!(v["seconds"]["sending"], 0.012346);
        assert_eq!(v["seconds"]["total"], 1.5);
        assert_eq!(v["exit"], json!({"reason": "completed", "code": 0}));
        assert!(v["rate"]["auto"].is_null(), "a fixed rate");
        assert_eq!(
            v["rate"]["canaries"],
            json!({"sent": 0, "answered": 0, "unanswered": 0, "loss": null, "lost_answers": false})
        );
        let canaried = Summary {
            canaries: crate::rate::CanaryTotals {
                sent: 100,
                answered: 40,
                lost: 60,
            },
            ..s.clone()
        };
        let v = canaried.to_json(SUMMARY_MARK, &info);
        assert_eq!(v["rate"]["canaries"]["loss"], 0.6);
        assert_eq!(
            v["rate"]["canaries"]["lost_answers"], true,
            "a fixed rate lost answers"
        );
        let auto = Summary {
            auto_rate: Some(20_000.0),
            ..canaried
        };
        let v = auto.to_json(SUMMARY_MARK, &info);
        assert_eq!(v["rate"]["auto"], 20_000.0);
        assert_eq!(
            v["rate"]["canaries"]["lost_answers"], false,
            "auto steers by them instead"
        );
        // `--rate max`, and a run too short to have a rate: null, never 0 or infinity.
        let none = Summary {
            asked_rate: None,
            achieved_rate: None,
            ..s
        };
        let v = none.to_json(SUMMARY_MARK, &info);
        assert!(v["rate"]["asked"].is_null() && v["rate"]["achieved"].is_null());
        assert_eq!(v["synprobe"], "summary");
        let line = none.render_json(TRAILER_MARK, &info);
        assert!(
            line.starts_with(r#"{"synprobe":"trailer","command":"scan","#),
            "{line}"
        );
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, none.to_json(TRAILER_MARK, &info));
    }
}
