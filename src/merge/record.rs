//! One line of a results file read back: a JSON Lines result or header, or a CSV row.
//! Files are input, so every field is checked and a bad line is an error naming why.
//! A result may carry the host name typed for its address (`host`); it is read apart from
//! the verdict, which alone decides conflicts.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Map, Value};

use super::header::{Header, MARK};
use crate::probe::{ProbeResult, Reason, State};

/// The first line of `scan --format csv`.
pub use crate::output::CSV_COLUMNS as CSV_HEADER;

/// The first line of a CSV file written before the `host` column (six columns): read too,
/// its rows without a name.
pub const CSV_HEADER_UNNAMED: &str = "ip,port,state,reason,ttl,rtt_ms";

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
    /// A result, and the name typed for its address if the file gives one.
    Result(Record, Option<String>),
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
    } else if t == CSV_HEADER || t == CSV_HEADER_UNNAMED {
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
    let host = match obj.get("host") {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) => checked_host(h)?,
        Some(_) => return Err("'host' is not a string".into()),
    };
    jsonl_result(obj).map(|r| Line::Result(r, host))
}

/// Longest host name read back: a DNS name is at most 253 characters; room for more, and
/// a bound on what one record may hold.
const MAX_HOST: usize = 1024;

/// A name read from a file: none when empty; refused when it holds a control character
/// (no name a resolver answered does, and a line break would cut a CSV row) or is too long.
fn checked_host(h: &str) -> Result<Option<String>, String> {
    if h.len() > MAX_HOST {
        return Err(format!("host longer than {MAX_HOST} bytes"));
    }
    if h.chars().any(char::is_control) {
        return Err(format!("host {h:?} holds a control character"));
    }
    Ok((!h.is_empty()).then(|| h.to_string()))
}

/// The `host` CSV field as written (quoted as RFC 4180 says when it holds a comma or a
/// quote), read back.
fn csv_host(raw: &str) -> Result<Option<String>, String> {
    let text = match raw.strip_prefix('"') {
        Some(rest) => {
            let inner = rest
                .strip_suffix('"')
                .ok_or_else(|| format!("host {raw:?}: an unclosed quote"))?;
            if inner.replace("\"\"", "").contains('"') {
                return Err(format!("host {raw:?}: a quote not doubled"));
            }
            inner.replace("\"\"", "\"")
        }
        None if raw.contains(['"', ',']) => {
            return Err(format!("host {raw:?}: a quote or comma outside quotes"));
        }
        None => raw.to_string(),
    };
    checked_host(&text)
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

/// A CSV row after the header: `ip,port,state,reason,ttl,rtt_ms,host` (the last three may
/// be empty; a row of a file from before the `host` column has six fields).
pub fn parse_csv(line: &str) -> Result<Line, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(Line::Blank);
    }
    // Only the last field may hold a comma (quoted): the first six never do.
    let f: Vec<&str> = line.splitn(7, ',').collect();
    let (ip, port, state, reason, t, rtt, host) = match f.as_slice() {
        [ip, port, state, reason, t, rtt] => (ip, port, state, reason, t, rtt, None),
        [ip, port, state, reason, t, rtt, host] => {
            (ip, port, state, reason, t, rtt, csv_host(host)?)
        }
        _ => return Err(format!("{} fields, expected 7 ({CSV_HEADER})", f.len())),
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
    Ok(Line::Result(
        Record {
            ip,
            port,
            reason,
            ttl,
            rtt_us,
        },
        host,
    ))
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
            recs.iter()
                .map(|r| Line::Result(*r, None))
                .collect::<Vec<_>>()
        );
        let csv = print(Format::Csv, &recs);
        let mut lines = csv.lines();
        assert_eq!(detect(lines.next().unwrap()), Some(Kind::Csv));
        let back: Vec<Line> = lines.map(|l| parse_csv(l).unwrap()).collect();
        assert_eq!(
            back,
            recs.iter()
                .map(|r| Line::Result(*r, None))
                .collect::<Vec<_>>()
        );
        // And printing what was read gives the same bytes.
        assert_eq!(print(Format::Jsonl, &recs), jsonl);
    }

    #[test]
    fn a_host_name_reads_back_from_both_formats_and_older_csv_too() {
        let r = rec("198.18.0.7", 80, Reason::SynAck, Some(64), Some(410));
        for name in ["web-1.internal", "we\"i,rd"] {
            for format in [Format::Jsonl, Format::Csv] {
                let mut p = Printer::new(format, Vec::new()).continuing();
                p.result_named(&r.to_result(), Some(name)).unwrap();
                let line = String::from_utf8(p.into_inner()).unwrap();
                let back = match format {
                    Format::Csv => parse_csv(&line),
                    _ => parse_jsonl(&line),
                };
                assert_eq!(back, Ok(Line::Result(r, Some(name.into()))), "{line}");
            }
        }
        // Written with no name: none read (the empty CSV field, the absent JSON key).
        assert_eq!(
            parse_csv("198.18.0.7,80,open,syn-ack,64,0.410,"),
            Ok(Line::Result(r, None))
        );
        assert_eq!(
            detect("ip,port,state,reason,ttl,rtt_ms\n"),
            Some(Kind::Csv),
            "a file from before the host column"
        );
        assert_eq!(
            parse_csv("198.18.0.7,80,open,syn-ack,64,0.410"),
            Ok(Line::Result(r, None))
        );
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
            Ok(Line::Result(
                Record {
                    rtt_us: Some(500),
                    ..
                },
                None
            ))
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
            (
                r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"syn-ack","host":7}"#,
                "'host' is not a string",
            ),
            (
                r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"syn-ack","host":"a\nb"}"#,
                "control character",
            ),
        ];
        for (line, want) in cases {
            let e = parse_jsonl(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
        let cases: &[(&str, &str)] = &[
            ("198.18.0.1,80,open,syn-ack,64", "5 fields"),
            (
                "198.18.0.1,80,open,syn-ack,64,1,web,2",
                "comma outside quotes",
            ),
            ("198.18.0.1,80,open,syn-ack,64,1,\"web", "unclosed quote"),
            ("198.18.0.1,80,open,syn-ack,64,1,\"w\"eb\"", "not doubled"),
            ("198.18.0.1,80,open,syn-ack,64,1,w\"eb", "outside quotes"),
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
