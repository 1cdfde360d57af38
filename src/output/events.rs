//! `watch`'s output: one line per transition (JSON Lines or text), flushed at once so a
//! reader of the pipe sees each change when it happens, and the snapshot of every target's
//! state that SIGUSR1 and the end of a watch print on stderr.

use std::io::{self, Write};
use std::net::SocketAddr;

use crate::health::{Event, Fleet, Tracker};

/// `--format` of `watch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFormat {
    Jsonl,
    Text,
}

impl EventFormat {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "jsonl" => Ok(EventFormat::Jsonl),
            "text" => Ok(EventFormat::Text),
            _ => Err(format!("invalid --format '{s}': expected jsonl or text")),
        }
    }
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Milliseconds since the Unix epoch as UTC with milliseconds: `2026-12-02T14:00:03.120Z`.
pub fn utc_ms(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        unix_ms % 1000
    )
}

/// Writes events; `wall_ms_at_zero` is the Unix time (ms) of the watch clock's zero, so an
/// event's `at_ms` becomes its wall-clock time.
pub struct EventPrinter<W: Write> {
    pub format: EventFormat,
    pub out: W,
    pub wall_ms_at_zero: u64,
}

impl<W: Write> EventPrinter<W> {
    pub fn line(&self, e: &Event) -> String {
        let t = &e.transition;
        let ts = utc_ms(self.wall_ms_at_zero + t.at_ms);
        let rtt_ms = t.rtt.map(|d| d.as_secs_f64() * 1000.0);
        match self.format {
            EventFormat::Jsonl => format!(
                "{{\"ts\":\"{ts}\",\"target\":\"{}\",\"from\":\"{}\",\"to\":\"{}\",\"reason\":\"{}\",\"detail\":\"{}\",\"consecutive\":{},\"rtt_ms\":{}}}",
                e.target,
                t.from,
                t.to,
                t.reason,
                t.reason.meaning(),
                t.consecutive,
                rtt_ms.map_or("null".to_string(), |v| format!("{v:.3}"))
            ),
            EventFormat::Text => format!(
                "{ts} {} {} -> {}: {}{}, {} ({} in a row)",
                e.target,
                t.from,
                t.to,
                t.reason,
                rtt_ms.map_or(String::new(), |v| format!(" in {v:.2} ms")),
                t.reason.meaning(),
                t.consecutive
            ),
        }
    }

    /// One line, out at once.
    pub fn write(&mut self, e: &Event) -> io::Result<()> {
        let line = self.line(e);
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }
}

/// One snapshot line of a target: its health, the reason of its last check and how many
/// checks in a row agreed with it.
pub fn snapshot_line(target: SocketAddr, t: &Tracker) -> String {
    let last = t
        .last()
        .map_or("none".to_string(), |c| c.reason.to_string());
    let run = t.passes().max(t.fails());
    format!("{target} {} last={last} consecutive={run}", t.health())
}

/// Every target's state, sorted by target, after a count line.
pub fn snapshot(fleet: &Fleet) -> Vec<String> {
    let (initial, healthy, unhealthy) = fleet.counts();
    let mut rows: Vec<(SocketAddr, &Tracker)> = fleet.iter().collect();
    rows.sort_by_key(|(t, _)| *t);
    let mut out = vec![format!(
        "snapshot: {} targets: {healthy} healthy, {unhealthy} unhealthy, {initial} initial",
        rows.len()
    )];
    out.extend(rows.into_iter().map(|(t, tr)| snapshot_line(t, tr)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{Check, Health, Settings, Transition};
    use crate::probe::Reason;
    use std::time::Duration;

    #[test]
    fn civil_dates_around_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(
            civil_from_days(11_016),
            (2000, 2, 29),
            "a leap day of a /400 year"
        );
        assert_eq!(civil_from_days(47_083), (2098, 11, 28));
        assert_eq!(civil_from_days(20_789), (2026, 12, 2));
        // Every day for 800 years follows the one before it.
        let mut prev = civil_from_days(-1);
        for day in 0..292_194 {
            let (y, m, d) = civil_from_days(day);
            let next_day = (prev.0, prev.1, prev.2 + 1) == (y, m, d);
            let next_month = (prev.0, prev.1 + 1, 1) == (y, m, d);
            let next_year = (prev.0 + 1, 1, 1) == (y, m, d) && prev.1 == 12;
            assert!(
                next_day || next_month || next_year,
                "{prev:?} -> {y}-{m}-{d}"
            );
            prev = (y, m, d);
        }
    }

    #[test]
    fn utc_with_milliseconds() {
        assert_eq!(utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_ms(1_796_220_003_120), "2026-12-02T14:00:03.120Z");
    }

    fn event(to: Health, reason: Reason, rtt: Option<Duration>) -> Event {
        Event {
            target: "198.18.0.1:80".parse().unwrap(),
            transition: Transition {
                from: Health::Healthy,
                to,
                reason,
                consecutive: 2,
                rtt,
                at_ms: 3_120,
            },
        }
    }

    #[test]
    fn jsonl_is_the_documented_line() {
        let p = EventPrinter {
            format: EventFormat::Jsonl,
            out: Vec::new(),
            wall_ms_at_zero: 1_796_220_000_000,
        };
        assert_eq!(
            p.line(&event(Health::Unhealthy, Reason::Rst, None)),
            r#"{"ts":"2026-12-02T14:00:03.120Z","target":"198.18.0.1:80","from":"healthy","to":"unhealthy","reason":"rst","detail":"nothing is listening","consecutive":2,"rtt_ms":null}"#
        );
        let up = p.line(&event(
            Health::Healthy,
            Reason::SynAck,
            Some(Duration::from_micros(410)),
        ));
        let v: serde_json::Value = serde_json::from_str(&up).unwrap();
        assert_eq!(v["rtt_ms"], 0.41);
        assert_eq!(v["detail"], "something is listening");
    }

    #[test]
    fn text_is_one_readable_line_and_each_write_is_flushed() {
        let mut p = EventPrinter {
            format: EventFormat::Text,
            out: io::BufWriter::with_capacity(1 << 16, Vec::new()),
            wall_ms_at_zero: 1_796_220_000_000,
        };
        p.write(&event(Health::Unhealthy, Reason::NoResponse, None))
            .unwrap();
        let written = String::from_utf8(p.out.get_ref().clone()).unwrap();
        assert_eq!(
            written,
            "2026-12-02T14:00:03.120Z 198.18.0.1:80 healthy -> unhealthy: no-response, a filter drops the SYN (2 in a row)\n"
        );
        assert!(EventFormat::parse("csv").is_err());
    }

    #[test]
    fn a_snapshot_counts_and_sorts_the_targets() {
        let c = Settings {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            fast_interval: None,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        }
        .validate()
        .unwrap();
        let mut f = Fleet::new(c, 1);
        let (a, b): (SocketAddr, SocketAddr) = (
            "198.18.0.2:80".parse().unwrap(),
            "198.18.0.1:81".parse().unwrap(),
        );
        f.reload([a, b], 0);
        f.record(b, Check::fail(Reason::Rst), 10);
        f.record(b, Check::fail(Reason::Rst), 20);
        assert_eq!(
            snapshot(&f),
            vec![
                "snapshot: 2 targets: 0 healthy, 1 unhealthy, 1 initial",
                "198.18.0.1:81 unhealthy last=rst consecutive=2",
                "198.18.0.2:80 initial last=none consecutive=0",
            ]
        );
    }
}
