//! `synprobe check`: would a load balancer's TCP health check pass, and why not?

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;

use super::net::{self, NetArgs};
use super::{CliError, EXIT_FAIL, values};
use crate::engine::{self, EngineConfig, Schedule};
use crate::output::endpoint;
use crate::output::{Collect, Ending, Progress, RunInfo, SUMMARY_MARK, Summary};
use crate::path::PathTable;
use crate::probe::{ProbeResult, Reason, State};
use crate::target::{Endpoint, Family, PairSpace, PortList, TargetSet, parse_endpoint_all};

#[derive(Debug, Args)]
#[command(after_help = "\
A TCP health check passes exactly when the three-way handshake can complete, that is when
some socket listens on the port: opening a firewall is not enough, and no application
protocol is involved. synprobe learns that from the SYN-ACK alone and then resets.

Examples:
  synprobe check 198.18.0.1:80
  synprobe check web-1:443 web-2:443 --timeout 1s --json
  synprobe check -6 web-1:443     # a name's IPv6 addresses only (default: all of them)

Stopped by Ctrl-C (SIGINT, SIGTERM, SIGHUP), it still prints every verdict it has, and
`interrupted` for the targets it had not decided.

Exit codes: 0 every target healthy, 1 any unhealthy, 2 bad input, 130 interrupted.")]
pub struct CheckArgs {
    /// Targets as HOST:PORT ([2001:db8::1]:80 for IPv6).
    #[arg(required = true, value_name = "HOST:PORT")]
    pub targets: Vec<String>,
    /// How long to wait for a reply to each attempt.
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "2s"
    )]
    pub timeout: String,
    /// Further attempts for targets that have not answered, 0 to 20.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(..=values::MAX_RETRIES))]
    pub retries: u32,
    /// One JSON object per target instead of a sentence.
    #[arg(long)]
    pub json: bool,
    /// Only IPv4: of a host name's addresses, check only the IPv4 ones (default: every
    /// address of the name, one verdict each, as a client may reach either).
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Only IPv6: of a host name's addresses, check only the IPv6 ones.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Write the run's summary as one JSON object to FILE, or to stdout with - (after the
    /// verdicts): probes, replies, states, reasons, rates, seconds, how it ended.
    #[arg(long, value_name = "FILE|-")]
    pub summary_json: Option<String>,
    #[command(flatten)]
    pub net: NetArgs,
}

/// How long a silent target was given: `attempts` SYNs, each waited on for `per_attempt`.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    pub per_attempt: Duration,
    pub attempts: u32,
}

impl Patience {
    fn silence(&self) -> String {
        let each = values::show_duration(self.per_attempt);
        match self.attempts {
            1 => format!("no reply within {each}"),
            n => format!("no reply to {n} SYNs, {each} each"),
        }
    }
}

/// The verdict in plain words.
pub fn detail(r: &ProbeResult, patience: Patience) -> String {
    let rtt = r.rtt.map(|d| {
        let ms = d.as_secs_f64() * 1000.0;
        if ms >= 10.0 {
            format!(" in {ms:.0} ms")
        } else if ms >= 1.0 {
            format!(" in {ms:.1} ms")
        } else {
            format!(" in {ms:.2} ms")
        }
    });
    let meaning = r.reason.meaning();
    match r.reason {
        Reason::SynAck => format!("SYN-ACK{}, {meaning}", rtt.unwrap_or_default()),
        Reason::Syn => format!(
            "SYN (split handshake){}, {meaning}",
            rtt.unwrap_or_default()
        ),
        Reason::Rst => format!("RST, {meaning} on port {}", r.port),
        Reason::Icmp(u) => u.plain().to_string(),
        Reason::NoResponse => format!("{}, {meaning}", patience.silence()),
        Reason::NoRoute => meaning.to_string(),
        Reason::NoNeighbour if r.ip.is_ipv4() => format!("no ARP reply: {meaning}"),
        Reason::NoNeighbour => format!("no NDP reply: {meaning}"),
    }
}

/// `s` is the user's text: escape it as a JSON string.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// How a target is shown: a name first, as typed, then the address it stood for
/// ("web-1:443 (198.18.0.1)"); an address alone as it is.
fn shown(host: Option<&str>, ip: IpAddr, port: u16) -> String {
    match host {
        Some(h) => format!("{h}:{port} ({ip})"),
        None => endpoint(ip, port),
    }
}

/// The line for a target the run was stopped before deciding.
fn interrupted_line(spec: &str, host: Option<&str>, ip: IpAddr, port: u16, json: bool) -> String {
    if json {
        let host = host.map_or(String::new(), |h| {
            format!("\"host\":\"{}\",", json_escape(h))
        });
        format!(
            "{{\"target\":\"{}\",{host}\"ip\":\"{ip}\",\"port\":{port},\"healthy\":null,\"state\":\"interrupted\",\"reason\":\"interrupted\",\"rtt_ms\":null,\"detail\":\"stopped before a verdict\"}}",
            json_escape(spec)
        )
    } else {
        format!(
            "{} interrupted: stopped before a verdict",
            shown(host, ip, port)
        )
    }
}

fn json_line(spec: &str, host: Option<&str>, r: &ProbeResult, patience: Patience) -> String {
    let rtt = r.rtt.map_or("null".to_string(), |d| {
        format!("{:.3}", d.as_secs_f64() * 1000.0)
    });
    let target = json_escape(spec);
    // The name the user typed, beside the address it stood for.
    let host = host.map_or(String::new(), |h| {
        format!("\"host\":\"{}\",", json_escape(h))
    });
    format!(
        "{{\"target\":\"{target}\",{host}\"ip\":\"{}\",\"port\":{},\"healthy\":{},\"state\":\"{}\",\"reason\":\"{}\",\"rtt_ms\":{rtt},\"detail\":\"{}\"}}",
        r.ip,
        r.port,
        r.state() == State::Open,
        r.state(),
        r.reason,
        detail(r, patience)
    )
}

pub fn run(a: CheckArgs) -> Result<i32, CliError> {
    if let Some(p) = &a.summary_json {
        super::summary_out::check_path(p)?;
    }
    let timeout = values::duration("--timeout", &a.timeout).map_err(CliError::Input)?;
    if timeout.is_zero() {
        return Err(CliError::Input(format!(
            "invalid --timeout '{}': must be above zero",
            a.timeout
        )));
    }
    let plan = a.net.plan()?;
    let family = match (a.ipv4, a.ipv6) {
        (true, _) => Some(Family::V4),
        (_, true) => Some(Family::V6),
        _ => None,
    };
    // Every (spec, name, address, port) checked: a dual-stack name is two of them.
    let asked: Vec<(&str, Endpoint)> = a
        .targets
        .iter()
        .map(|s| parse_endpoint_all(s, family).map(|e| (s.as_str(), e)))
        .collect::<Result<_, _>>()?;
    let checked: Vec<(&str, Option<&str>, IpAddr, u16)> = asked
        .iter()
        .flat_map(|(spec, e)| {
            e.ips
                .iter()
                .map(move |&ip| (*spec, e.host.as_deref(), ip, e.port))
        })
        .collect();
    let endpoints: Vec<(IpAddr, u16)> = checked.iter().map(|c| (c.2, c.3)).collect();
    plan.check_source_family(
        endpoints.iter().any(|(ip, _)| ip.is_ipv4()),
        endpoints.iter().any(|(ip, _)| ip.is_ipv6()),
    )?;

    // Each target gets its own route, as the kernel would send to it: an on-link target is
    // asked for its MAC by the run itself, and one with no route is a verdict, not an error.
    let space = pair_space(&endpoints)?;
    let mut routes = net::resolve(&plan, &space.targets)?;
    let routed: Vec<(IpAddr, u16)> = endpoints
        .iter()
        .copied()
        .filter(|&(ip, _)| {
            space
                .targets
                .index_of(ip)
                .is_some_and(|t| routes.paths.exit_of(t).is_some())
        })
        .collect();
    let (results, engine_summary, seed) = if routed.is_empty() {
        (Vec::new(), Summary::default(), 0)
    } else {
        let known = std::mem::take(&mut routes.known_macs);
        probe(&a, &plan, space, &routed, (routes.paths, known), timeout)?
    };
    let interrupted = engine_summary.interrupted;

    let patience = Patience {
        per_attempt: timeout,
        attempts: a.retries.saturating_add(1),
    };
    // The verdicts as printed (no-route ones included), for --summary-json.
    let mut verdicts = Summary::default();
    let mut all_healthy = true;
    let mut reader_there = true;
    for &(spec, host, ip, port) in &checked {
        let routed_here = routed.contains(&(ip, port));
        let found = results.iter().find(|r| r.ip == ip && r.port == port);
        let line = match found {
            // Stopped before its answer or its full wait: no verdict to give.
            None if interrupted && routed_here => {
                all_healthy = false;
                interrupted_line(spec, host, ip, port, a.json)
            }
            _ => {
                let r = found.copied().unwrap_or(ProbeResult {
                    ip,
                    port,
                    reason: if routed_here {
                        Reason::NoResponse
                    } else {
                        Reason::NoRoute
                    },
                    ttl: None,
                    rtt: None,
                });
                verdicts.count(&r);
                let healthy = r.state() == State::Open;
                all_healthy &= healthy;
                if a.json {
                    json_line(spec, host, &r, patience)
                } else {
                    let verdict = if healthy { "healthy" } else { "unhealthy" };
                    format!(
                        "{} {verdict}: {}",
                        shown(host, ip, port),
                        detail(&r, patience)
                    )
                }
            }
        };
        // A closed output ends the printing, not the verdict: the exit code still covers
        // every target.
        if reader_there {
            reader_there = super::print_result(&line)?;
        }
    }
    let (ending, code) = if interrupted {
        (Ending::Interrupted, 130)
    } else if all_healthy {
        (Ending::Completed, 0)
    } else {
        (Ending::Completed, EXIT_FAIL)
    };
    if interrupted {
        say!("synprobe: interrupted: the targets without a verdict are marked \"interrupted\"");
    }
    if let Some(path) = &a.summary_json {
        let summary = Summary {
            pairs: endpoints.len() as u64,
            open: verdicts.open,
            closed: verdicts.closed,
            filtered: verdicts.filtered,
            no_route: verdicts.no_route,
            no_neighbour: verdicts.no_neighbour,
            by_reason: verdicts.by_reason,
            ..engine_summary
        };
        let info = RunInfo {
            command: "check",
            seed,
            shard: (1, 1),
            ending,
            exit_code: code,
        };
        super::summary_out::write(path, &summary.render_json(SUMMARY_MARK, &info))?;
    }
    Ok(code)
}

/// The pair space of the endpoints: their addresses x their ports, of which only the asked
/// pairs are probed.
fn pair_space(endpoints: &[(IpAddr, u16)]) -> Result<PairSpace, CliError> {
    let ips: Vec<String> = endpoints.iter().map(|(ip, _)| ip.to_string()).collect();
    let ports: Vec<String> = endpoints.iter().map(|(_, p)| p.to_string()).collect();
    Ok(PairSpace::new(
        TargetSet::parse(&ips, &[])?,
        PortList::parse(&ports.join(","))?,
    )?)
}

/// Run the engine over the routed endpoints.
fn probe(
    a: &CheckArgs,
    plan: &net::NetPlan,
    space: PairSpace,
    endpoints: &[(IpAddr, u16)],
    (paths, known_macs): (PathTable, Vec<(u64, [u8; 6])>),
    timeout: Duration,
) -> Result<(Vec<ProbeResult>, Summary, u64), CliError> {
    let only = endpoints
        .iter()
        .filter_map(|&(ip, port)| space.index(ip, port))
        .collect();
    let schedule = Schedule::Rounds {
        retries: a.retries,
        round_wait: timeout,
        final_wait: timeout,
    };
    let cfg = EngineConfig {
        only: Some(only),
        known_macs,
        shield: plan.shield,
        ..EngineConfig::new(space, paths, plan.source_ports, Some(10_000.0), schedule)
    };
    let mut sink = Collect::default();
    let stop = crate::io::interrupt_flag();
    // Interrupted, the verdicts reached so far are printed (and the rest marked so).
    let summary = engine::run(&cfg, &mut sink, &mut Progress::new(false), stop)?;
    Ok((sink.0, summary, cfg.seed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Unreachable;

    fn r(reason: Reason, rtt_us: Option<u64>) -> ProbeResult {
        ProbeResult {
            ip: "198.18.0.1".parse().unwrap(),
            port: 81,
            reason,
            ttl: Some(64),
            rtt: rtt_us.map(Duration::from_micros),
        }
    }

    #[test]
    fn details_explain_the_verdict() {
        let t = Patience {
            per_attempt: Duration::from_secs(2),
            attempts: 1,
        };
        assert_eq!(
            detail(&r(Reason::SynAck, Some(300)), t),
            "SYN-ACK in 0.30 ms, something is listening"
        );
        assert_eq!(
            detail(&r(Reason::Rst, None), t),
            "RST, nothing is listening on port 81"
        );
        assert_eq!(
            detail(&r(Reason::NoResponse, None), t),
            "no reply within 2s, a filter drops the SYN"
        );
        assert_eq!(
            detail(&r(Reason::Icmp(Unreachable::Port), None), t),
            "ICMP port unreachable, a firewall rejects it"
        );
        let twice = Patience { attempts: 2, ..t };
        assert_eq!(
            detail(&r(Reason::NoResponse, None), twice),
            "no reply to 2 SYNs, 2s each, a filter drops the SYN"
        );
    }

    #[test]
    fn an_undecided_target_says_interrupted_and_is_neither_healthy_nor_not() {
        let ip: IpAddr = "198.18.0.1".parse().unwrap();
        assert_eq!(
            interrupted_line("198.18.0.1:84", None, ip, 84, false),
            "198.18.0.1:84 interrupted: stopped before a verdict"
        );
        assert_eq!(
            interrupted_line("web-1:84", Some("web-1"), ip, 84, false),
            "web-1:84 (198.18.0.1) interrupted: stopped before a verdict",
            "a name is shown as the verdicts show it"
        );
        let v: serde_json::Value =
            serde_json::from_str(&interrupted_line("we\"b:84", Some("we\"b"), ip, 84, true))
                .unwrap();
        assert_eq!(v["target"], "we\"b:84");
        assert_eq!(v["host"], "we\"b");
        assert_eq!(v["state"], "interrupted");
        assert!(v["healthy"].is_null() && v["rtt_ms"].is_null());
        assert_eq!(v["port"], 84);
    }

    #[test]
    fn json_is_valid_and_escapes_the_spec() {
        let line = json_line(
            "we\"ird:81",
            Some("we\"ird"),
            &r(Reason::Rst, None),
            Patience {
                per_attempt: Duration::from_secs(2),
                attempts: 1,
            },
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["target"], "we\"ird:81");
        assert_eq!(v["host"], "we\"ird");
        assert_eq!(v["healthy"], false);
        assert_eq!(v["reason"], "rst");
        assert!(v["rtt_ms"].is_null());
    }
}
