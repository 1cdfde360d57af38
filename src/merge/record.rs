//! One line of a results file read back: a JSON Lines result or header, or a CSV row.
//! Files are input, so every field is checked and a bad line is an error naming why.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Map, Value};

use super::header::{Header, MARK};
use crate::probe::{ProbeResult, Reason, State};

/// The first line of `scan --format csv`.
pub const CSV_HEADER: &str = "ip,port,state,reason,ttl,rtt_ms";

/// The two formats `merge` reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Jsonl,
    Csv,
}

/// One result as a printer wrote it. RTTs are kept in whole microseconds: the printers
/// write milliseconds with three decimals, so nothing is lost and equal rows compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub ip: IpAddr,
    pub port: u16,
    pub reason: Reason,
    pub ttl: Option<u8>,
    pub rtt_us: Option<u64>,
}

impl Record {
    pub fn state(&self) -> State {
        self.reason.state()
    }

    /// The result again, for the printers.
    pub fn to_result(&self) -> ProbeResult {
        ProbeResult {
            ip: self.ip,
            port: self.port,
            reason: self.reason,
            ttl: self.ttl,
            rtt: self.rtt_us.map(Duration::from_micros),
        }
    }
}

/// What one line holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    Header(Header),
    Result(Record),
    /// `scan --trailer`'s closing record, the run's summary: not a result, skipped.
    Trailer,
    /// An empty line (a trailing newline too many): nothing.
    Blank,
}

/// The format of a file from its first non-empty line: a JSON object, or the CSV header.
pub fn detect(first: &str) -> Option<Kind> {
    let t = first.trim_end_matches(['\r', '\n']);
    if t.trim_start().starts_with('{') {
        Some(Kind::Jsonl)
    } else if t == CSV_HEADER {
        Some(Kind::Csv)
    } else {
        None
    }
}

/// Longest RTT read back: far above any `--wait`, and small enough to multiply safely.
const MAX_RTT_MS: f64 = 1e9;

fn rtt_us(ms: f64) -> Result<u64, String> {
    if ms.is_finite() && (0.0..=MAX_RTT_MS).contains(&ms) {
        Ok((ms * 1000.0).round() as u64)
    } else {
        Err(format!("rtt_ms {ms} out of range"))
    }
}

fn checked(
    ip: &str,
    port: u64,
    state: &str,
    reason: &str,
) -> Result<(IpAddr, u16, Reason), String> {
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("'{ip}' is not an IP address"))?;
    let port = u16::try_from(port)
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("port {port} is not 1-65535"))?;
    let reason = Reason::parse(reason).ok_or_else(|| format!("unknown reason '{reason}'"))?;
    if reason.state().as_str() != state {
        return Err(format!(
            "state '{state}' does not go with reason '{}' ({})",
            reason.as_str(),
            reason.state()
        ));
    }
    Ok((ip, port, reason))
}

fn ttl(v: Option<u64>) -> Result<Option<u8>, String> {
    v.map(|t| u8::try_from(t).map_err(|_| format!("ttl {t} is not 0-255")))
        .transpose()
}

/// A JSON Lines line: a header (`{"synprobe":"header",...}`), a trailer
/// (`{"synprobe":"trailer",...}`) or a result object.
pub fn parse_jsonl(line: &str) -> Result<Line, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(Line::Blank);
    }
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    if let Some(mark) = obj.get("synprobe") {
        return match mark.as_str() {
            Some(MARK) => Header::from_object(obj).map(Line::Header),
            Some(crate::output::TRAILER_MARK) => Ok(Line::Trailer),
            _ => Err("a 'synprobe' record that is neither a header nor a trailer".into()),
        };
    }
    jsonl_result(obj).map(Line::Result)
}

fn jsonl_result(obj: &Map<String, Value>) -> Result<Record, String> {
    let s = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no string '{k}'"))
    };
    let port = obj
        .get("port")
        .and_then(Value::as_u64)
        .ok_or("no number 'port'")?;
    let (ip, port, reason) = checked(s("ip")?, port, s("state")?, s("reason")?)?;
    let num = |k: &str| match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("'{k}' is not a number")),
    };
    let ttl = match num("ttl")? {
        None => None,
        Some(t) if t.fract() == 0.0 && (0.0..=255.0).contains(&t) => Some(t as u8),
        Some(t) => return Err(format!("ttl {t} is not 0-255")),
    };
    let rtt_us = num("rtt_ms")?.map(rtt_us).transpose()?;
    Ok(Record {
        ip,
        port,
        reason,
        ttl,
        rtt_us,
    })
}

/// A CSV row after the header: `ip,port,state,reason,ttl,rtt_ms` (the last two may be empty).
pub fn parse_csv(line: &str) -> Result<Line, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(Line::Blank);
    }
    let f: Vec<&str> = line.split(',').collect();
    let [ip, port, state, reason, t, rtt] = f.as_slice() else {
        return Err(format!("{} fields, expected 6 ({CSV_HEADER})", f.len()));
    };
    let port: u64 = port
        .parse()
        .map_err(|_| format!("port '{port}' is not a number"))?;
    let (ip, port, reason) = checked(ip, port, state, reason)?;
    let ttl = ttl(match *t {
        "" => None,
        t => Some(
            t.parse()
                .map_err(|_| format!("ttl '{t}' is not a number"))?,
        ),
    })?;
    let rtt_us = match *rtt {
        "" => None,
        r => Some(rtt_us(
            r.parse()
                .map_err(|_| format!("rtt_ms '{r}' is not a number"))?,
        )?),
    };
    Ok(Line::Result(Record {
        ip,
        port,
        reason,
        ttl,
        rtt_us,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{Format, Printer, Sink};
    use crate::probe::Unreachable;

    fn rec(ip: &str, port: u16, reason: Reason, ttl: Option<u8>, rtt_us: Option<u64>) -> Record {
        Record {
            ip: ip.parse().unwrap(),
            port,
            reason,
            ttl,
            rtt_us,
        }
    }

    fn samples() -> Vec<Record> {
        vec![
            rec("198.18.0.7", 80, Reason::SynAck, Some(64), Some(410)),
            rec(
                "2001:db8::1",
                85,
                Reason::Icmp(Unreachable::Port),
                Some(63),
                None,
            ),
            rec("198.18.0.9", 84, Reason::NoResponse, None, None),
            rec("198.18.0.9", 81, Reason::Rst, Some(64), Some(123_456_789)),
        ]
    }

    fn print(format: Format, recs: &[Record]) -> String {
        let mut p = Printer::new(format, Vec::new());
        for r in recs {
            p.result(&r.to_result()).unwrap();
        }
        p.finish().unwrap();
        String::from_utf8(p.into_inner()).unwrap()
    }

    #[test]
    fn what_the_printers_write_reads_back_unchanged() {
        let recs = samples();
        let jsonl = print(Format::Jsonl, &recs);
        assert_eq!(detect(jsonl.lines().next().unwrap()), Some(Kind::Jsonl));
        let back: Vec<Line> = jsonl.lines().map(|l| parse_jsonl(l).unwrap()).collect();
        assert_eq!(
            back,
            recs.iter().map(|r| Line::Result(*r)).collect::<Vec<_>>()
        );
        let csv = print(Format::Csv, &recs);
        let mut lines = csv.lines();
        assert_eq!(detect(lines.next().unwrap()), Some(Kind::Csv));
        let back: Vec<Line> = lines.map(|l| parse_csv(l).unwrap()).collect();
        assert_eq!(
            back,
            recs.iter().map(|r| Line::Result(*r)).collect::<Vec<_>>()
        );
        // And printing what was read gives the same bytes.
        assert_eq!(print(Format::Jsonl, &recs), jsonl);
    }

    #[test]
    fn blank_lines_and_crlf_are_tolerated() {
        assert_eq!(parse_jsonl(""), Ok(Line::Blank));
        assert_eq!(
            parse_jsonl(r#"{"synprobe":"trailer","probes":{"sent":3}}"#),
            Ok(Line::Trailer)
        );
        assert!(parse_jsonl(r#"{"synprobe":"footer"}"#).is_err());
        assert_eq!(parse_csv("\r\n"), Ok(Line::Blank));
        assert!(matches!(
            parse_csv("198.18.0.1,80,open,syn-ack,64,0.500\r\n"),
            Ok(Line::Result(Record {
                rtt_us: Some(500),
                ..
            }))
        ));
        assert_eq!(
            detect("ip,port,state,reason,ttl,rtt_ms\r\n"),
            Some(Kind::Csv)
        );
        assert_eq!(detect("198.18.0.1:80 open syn-ack"), None);
        assert_eq!(detect("ip,port"), None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"syn-ack""#,
                "not a JSON object",
            ),
            ("[1,2]", "not a JSON object"),
            (r#"{"port":80,"state":"open","reason":"syn-ack"}"#, "'ip'"),
            (
                r#"{"ip":"198.18.0.300","port":80,"state":"open","reason":"syn-ack"}"#,
                "not an IP address",
            ),
            (
                r#"{"ip":"198.18.0.1","port":70000,"state":"open","reason":"syn-ack"}"#,
                "port 70000",
            ),
            (
                r#"{"ip":"198.18.0.1","port":0,"state":"open","reason":"syn-ack"}"#,
                "port 0",
            ),
            (
                r#"{"ip":"198.18.0.1","port":"80","state":"open","reason":"syn-ack"}"#,
                "'port'",
            ),
            (
                r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"rst"}"#,
                "does not go with",
            ),
            (
                r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"magic"}"#,
                "unknown reason",
            ),
            (
                r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"syn-ack","ttl":300}"#,
                "ttl 300",
            ),
            (
                r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"syn-ack","ttl":"64"}"#,
                "'ttl'",
            ),
            (
                r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"syn-ack","rtt_ms":-1}"#,
                "rtt_ms -1",
            ),
            (r#"{"synprobe":"footer"}"#, "neither a header nor a trailer"),
        ];
        for (line, want) in cases {
            let e = parse_jsonl(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
        let cases: &[(&str, &str)] = &[
            ("198.18.0.1,80,open,syn-ack,64", "5 fields"),
            ("198.18.0.1,80,open,syn-ack,64,1,2", "7 fields"),
            ("198.18.0.1,http,open,syn-ack,64,1", "port 'http'"),
            ("198.18.0.1,80,closed,syn-ack,64,1", "does not go with"),
            ("198.18.0.1,80,open,syn-ack,-3,1", "ttl '-3'"),
            ("198.18.0.1,80,open,syn-ack,256,1", "ttl 256"),
            ("198.18.0.1,80,open,syn-ack,64,NaN", "rtt_ms NaN"),
            ("198.18.0.1,80,open,syn-ack,64,fast", "rtt_ms 'fast'"),
        ];
        for (line, want) in cases {
            let e = parse_csv(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        const CHARS: &[u8] = b"{}\":,[]0123456789.-eE ipnrtu\\";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(CHARS[(x % CHARS.len() as u64) as usize] as char);
            }
            let _ = parse_jsonl(&s);
            let _ = parse_csv(&s);
            let _ = detect(&s);
        }
    }
}
