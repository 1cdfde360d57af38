//! The result printers: text for people, JSON Lines and CSV for programs.

use std::io::{self, Write};
use std::net::IpAddr;

use super::Sink;
use super::hosts::{HostNames, csv_field, json_escaped};
use crate::probe::ProbeResult;

/// The CSV column line. `host` came last (after the six columns of earlier builds), so
/// that a reader indexing columns by position reads the older columns where they always
/// were; it is always present, empty for an address not typed as a name.
pub const CSV_COLUMNS: &str = "ip,port,state,reason,ttl,rtt_ms,host";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Jsonl,
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            _ => Err(format!("invalid format '{s}': expected text, jsonl or csv")),
        }
    }
}

/// Writes results in one format to any writer (buffered by the caller).
pub struct Printer<W: Write> {
    format: Format,
    out: W,
    header_done: bool,
    /// The names typed for the scanned addresses (empty: none typed).
    hosts: HostNames,
}

impl<W: Write> Printer<W> {
    pub fn new(format: Format, out: W) -> Self {
        Printer {
            format,
            out,
            header_done: false,
            hosts: HostNames::default(),
        }
    }

    /// Results of these addresses carry the name typed for them.
    pub fn with_hosts(mut self, hosts: HostNames) -> Self {
        self.hosts = hosts;
        self
    }

    /// A printer that continues a file already begun: no CSV column line again.
    pub fn continuing(mut self) -> Self {
        self.header_done = true;
        self
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// `198.18.0.7:80`, `[2001:db8::1]:80`.
pub fn endpoint(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

fn rtt_ms(r: &ProbeResult) -> Option<f64> {
    r.rtt.map(|d| d.as_secs_f64() * 1000.0)
}

impl<W: Write> Printer<W> {
    /// One result, with `host` the name the user typed for its address (or none): for
    /// records read back (`merge`), where the name comes with the record.
    pub fn result_named(&mut self, r: &ProbeResult, host: Option<&str>) -> io::Result<()> {
        write_one(self.format, &mut self.out, &mut self.header_done, r, host)
    }
}

/// The printer's one line (after the CSV column line, the first time).
fn write_one(
    format: Format,
    out: &mut impl Write,
    header_done: &mut bool,
    r: &ProbeResult,
    host: Option<&str>,
) -> io::Result<()> {
    let (state, reason) = (r.state().as_str(), r.reason.as_str());
    match format {
        Format::Text => {
            // As `check` shows a name: "web-1:80 (198.18.0.1) open syn-ack".
            match host {
                Some(h) => write!(out, "{h}:{} ({}) {state} {reason}", r.port, r.ip)?,
                None => write!(out, "{} {state} {reason}", endpoint(r.ip, r.port))?,
            }
            if let Some(ttl) = r.ttl {
                write!(out, " ttl={ttl}")?;
            }
            if let Some(ms) = rtt_ms(r) {
                write!(out, " rtt={ms:.2}ms")?;
            }
            writeln!(out)
        }
        Format::Jsonl => {
            // Every field but the name is a number, an address or a fixed word: only
            // the name needs escaping.
            write!(
                out,
                "{{\"ip\":\"{}\",\"port\":{},\"state\":\"{state}\",\"reason\":\"{reason}\",",
                r.ip, r.port
            )?;
            match r.ttl {
                Some(t) => write!(out, "\"ttl\":{t},")?,
                None => write!(out, "\"ttl\":null,")?,
            }
            match rtt_ms(r) {
                Some(ms) => write!(out, "\"rtt_ms\":{ms:.3}")?,
                None => write!(out, "\"rtt_ms\":null")?,
            }
            // Only for an address that came from a name: the other records keep
            // their six fields.
            match host {
                Some(h) => writeln!(out, ",\"host\":\"{}\"}}", json_escaped(h)),
                None => writeln!(out, "}}"),
            }
        }
        Format::Csv => {
            if !*header_done {
                writeln!(out, "{CSV_COLUMNS}")?;
                *header_done = true;
            }
            write!(out, "{},{},{state},{reason},", r.ip, r.port)?;
            if let Some(t) = r.ttl {
                write!(out, "{t}")?;
            }
            write!(out, ",")?;
            if let Some(ms) = rtt_ms(r) {
                write!(out, "{ms:.3}")?;
            }
            match host {
                Some(h) => writeln!(out, ",{}", csv_field(h)),
                None => writeln!(out, ","),
            }
        }
    }
}

impl<W: Write> Sink for Printer<W> {
    fn result(&mut self, r: &ProbeResult) -> io::Result<()> {
        // No names typed (addresses, CIDRs): `get` is one test of an empty table.
        let host = self.hosts.get(r.ip);
        write_one(self.format, &mut self.out, &mut self.header_done, r, host)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::Csv && !self.header_done {
            writeln!(self.out, "{CSV_COLUMNS}")?;
            self.header_done = true;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Reason, Unreachable};
    use std::time::Duration;

    fn sample() -> Vec<ProbeResult> {
        vec![
            ProbeResult {
                ip: "198.18.0.7".parse().unwrap(),
                port: 80,
                reason: Reason::SynAck,
                ttl: Some(64),
                rtt: Some(Duration::from_micros(410)),
            },
            ProbeResult {
                ip: "2001:db8::1".parse().unwrap(),
                port: 85,
                reason: Reason::Icmp(Unreachable::Port),
                ttl: Some(63),
                rtt: None,
            },
            ProbeResult {
                ip: "198.18.0.9".parse().unwrap(),
                port: 84,
                reason: Reason::NoResponse,
                ttl: None,
                rtt: None,
            },
        ]
    }

    fn render(format: Format) -> String {
        let mut p = Printer::new(format, Vec::new());
        for r in sample() {
            p.result(&r).unwrap();
        }
        p.finish().unwrap();
        String::from_utf8(p.into_inner()).unwrap()
    }

    #[test]
    fn jsonl_is_one_valid_object_per_line_with_fixed_keys() {
        let out = render(Format::Jsonl);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"ip":"198.18.0.7","port":80,"state":"open","reason":"syn-ack","ttl":64,"rtt_ms":0.410}"#
        );
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v.get("ttl").is_some() && v.get("rtt_ms").is_some());
        }
        assert_eq!(
            lines[2],
            r#"{"ip":"198.18.0.9","port":84,"state":"filtered","reason":"no-response","ttl":null,"rtt_ms":null}"#
        );
    }

    #[test]
    fn text_brackets_ipv6_and_omits_unknowns() {
        let out = render(Format::Text);
        assert_eq!(
            out,
            "198.18.0.7:80 open syn-ack ttl=64 rtt=0.41ms\n\
             [2001:db8::1]:85 filtered icmp-port-unreachable ttl=63\n\
             198.18.0.9:84 filtered no-response\n"
        );
    }

    #[test]
    fn csv_has_header_even_when_empty() {
        let out = render(Format::Csv);
        assert!(out.starts_with(
            "ip,port,state,reason,ttl,rtt_ms,host\n198.18.0.7,80,open,syn-ack,64,0.410,\n"
        ));
        let mut p = Printer::new(Format::Csv, Vec::new());
        p.finish().unwrap();
        assert_eq!(
            String::from_utf8(p.into_inner()).unwrap(),
            "ip,port,state,reason,ttl,rtt_ms,host\n"
        );
    }

    /// The sample scanned as `web-1` (198.18.0.7 and 2001:db8::1) plus 198.18.0.9 typed
    /// as an address.
    fn render_named(format: Format) -> String {
        let hosts = HostNames::new(&[(
            "web-1".into(),
            vec![
                "198.18.0.7".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            ],
        )]);
        let mut p = Printer::new(format, Vec::new()).with_hosts(hosts);
        for r in sample() {
            p.result(&r).unwrap();
        }
        p.finish().unwrap();
        String::from_utf8(p.into_inner()).unwrap()
    }

    #[test]
    fn a_named_address_carries_its_name_in_every_format() {
        assert_eq!(
            render_named(Format::Text),
            "web-1:80 (198.18.0.7) open syn-ack ttl=64 rtt=0.41ms\n\
             web-1:85 (2001:db8::1) filtered icmp-port-unreachable ttl=63\n\
             198.18.0.9:84 filtered no-response\n"
        );
        let jsonl = render_named(Format::Jsonl);
        let lines: Vec<&str> = jsonl.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"ip":"198.18.0.7","port":80,"state":"open","reason":"syn-ack","ttl":64,"rtt_ms":0.410,"host":"web-1"}"#
        );
        assert!(
            lines[1].ends_with(r#""rtt_ms":null,"host":"web-1"}"#),
            "{}",
            lines[1]
        );
        // An address typed as one: no "host" key at all.
        assert_eq!(
            lines[2],
            r#"{"ip":"198.18.0.9","port":84,"state":"filtered","reason":"no-response","ttl":null,"rtt_ms":null}"#
        );
        assert_eq!(
            render_named(Format::Csv),
            "ip,port,state,reason,ttl,rtt_ms,host\n\
             198.18.0.7,80,open,syn-ack,64,0.410,web-1\n\
             2001:db8::1,85,filtered,icmp-port-unreachable,63,,web-1\n\
             198.18.0.9,84,filtered,no-response,,,\n"
        );
    }

    #[test]
    fn a_name_is_escaped_where_the_format_needs_it() {
        let r = sample()[0];
        let mut p = Printer::new(Format::Jsonl, Vec::new());
        p.result_named(&r, Some("we\"ird")).unwrap();
        let line = String::from_utf8(p.into_inner()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["host"], "we\"ird");
        let mut p = Printer::new(Format::Csv, Vec::new()).continuing();
        p.result_named(&r, Some("a,\"b")).unwrap();
        assert_eq!(
            String::from_utf8(p.into_inner()).unwrap(),
            "198.18.0.7,80,open,syn-ack,64,0.410,\"a,\"\"b\"\n"
        );
    }

    #[test]
    fn format_names() {
        assert_eq!(Format::parse("jsonl"), Ok(Format::Jsonl));
        assert!(Format::parse("xml").unwrap_err().contains("'xml'"));
    }
}
