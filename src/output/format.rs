//! The result printers: text for people, JSON Lines and CSV for programs.

use std::io::{self, Write};
use std::net::IpAddr;

use super::Sink;
use crate::probe::ProbeResult;

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
}

impl<W: Write> Printer<W> {
    pub fn new(format: Format, out: W) -> Self {
        Printer {
            format,
            out,
            header_done: false,
        }
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

impl<W: Write> Sink for Printer<W> {
    fn result(&mut self, r: &ProbeResult) -> io::Result<()> {
        let (state, reason) = (r.state().as_str(), r.reason.as_str());
        match self.format {
            Format::Text => {
                write!(self.out, "{} {state} {reason}", endpoint(r.ip, r.port))?;
                if let Some(ttl) = r.ttl {
                    write!(self.out, " ttl={ttl}")?;
                }
                if let Some(ms) = rtt_ms(r) {
                    write!(self.out, " rtt={ms:.2}ms")?;
                }
                writeln!(self.out)
            }
            Format::Jsonl => {
                // Every field is a number, an address or a fixed word: nothing needs escaping.
                write!(
                    self.out,
                    "{{\"ip\":\"{}\",\"port\":{},\"state\":\"{state}\",\"reason\":\"{reason}\",",
                    r.ip, r.port
                )?;
                match r.ttl {
                    Some(t) => write!(self.out, "\"ttl\":{t},")?,
                    None => write!(self.out, "\"ttl\":null,")?,
                }
                match rtt_ms(r) {
                    Some(ms) => writeln!(self.out, "\"rtt_ms\":{ms:.3}}}"),
                    None => writeln!(self.out, "\"rtt_ms\":null}}"),
                }
            }
            Format::Csv => {
                if !self.header_done {
                    writeln!(self.out, "ip,port,state,reason,ttl,rtt_ms")?;
                    self.header_done = true;
                }
                write!(self.out, "{},{},{state},{reason},", r.ip, r.port)?;
                if let Some(t) = r.ttl {
                    write!(self.out, "{t}")?;
                }
                write!(self.out, ",")?;
                if let Some(ms) = rtt_ms(r) {
                    write!(self.out, "{ms:.3}")?;
                }
                writeln!(self.out)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::Csv && !self.header_done {
            writeln!(self.out, "ip,port,state,reason,ttl,rtt_ms")?;
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
        assert!(
            out.starts_with(
                "ip,port,state,reason,ttl,rtt_ms\n198.18.0.7,80,open,syn-ack,64,0.410\n"
            )
        );
        let mut p = Printer::new(Format::Csv, Vec::new());
        p.finish().unwrap();
        assert_eq!(
            String::from_utf8(p.into_inner()).unwrap(),
            "ip,port,state,reason,ttl,rtt_ms\n"
        );
    }

    #[test]
    fn format_names() {
        assert_eq!(Format::parse("jsonl"), Ok(Format::Jsonl));
        assert!(Format::parse("xml").unwrap_err().contains("'xml'"));
    }
}
