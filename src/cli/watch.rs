//! `synprobe watch`: a load balancer's TCP health check of a whole fleet, run for good. One
//! engine probes every target on its schedule; a target changes health only after
//! consecutive results agree; each change is one line on stdout.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;

use super::net::{self, NetArgs};
use super::rate_arg::RateArg;
use super::watch_targets as targets;
use super::{CliError, values};
use crate::cookie::CookieKey;
use crate::engine::{self, Ended, EngineConfig, Schedule, WatchControl, WatchOutput};
use crate::health::{Event, Fleet, Health, NoObserver, Observer, Settings};
use crate::metrics::{Metrics, serve};
use crate::output::events::{self, EventFormat, EventPrinter};
use crate::target::{PairSpace, PortList, TargetSet};
use std::sync::Arc;

#[derive(Debug, Args)]
#[command(after_help = "\
Each target is checked once per --interval with a SYN: a SYN-ACK passes (something listens),
anything else fails (an RST, an ICMP error, no reply by --timeout, no route, no neighbour). As
a load balancer does (AWS NLB's TCP defaults), a target turns healthy after
--healthy-threshold passes in a row and unhealthy after --unhealthy-threshold fails in a row;
it starts `initial`. While initial or part-way to a change it is checked every
--fast-interval (HAProxy's fastinter). Checks are spread evenly over the interval, so the send
rate is flat.

Rate: the checks need (targets / interval) probes per second. With --rate below that, or
--rate auto on a path that cannot carry it (a SYN policer, a firewall's rate limit), checks
run late, counted in synprobe_checks_late_total and said on stderr once a minute; a check is
never failed for a probe that was not sent. --rate auto interleaves a few re-probes of
answering targets (canaries, about 1.5 % more probes) and holds the fastest rate at which
they come back, as `scan --rate auto` does.

Output: one line per change on stdout, flushed at once:
  {\"ts\":\"2026-12-02T14:00:03.120Z\",\"target\":\"198.18.0.1:80\",\"from\":\"healthy\",\"to\":\"unhealthy\",
   \"reason\":\"rst\",\"detail\":\"nothing is listening\",\"consecutive\":2,\"rtt_ms\":null}

Signals: SIGUSR1 prints every target's state on stderr; SIGHUP reads --targets FILE again
(kept targets keep their state, new ones start initial, removed ones go; a bad file keeps the
old list); SIGINT / SIGTERM end with a final snapshot and exit 0 (a second one ends at once).

Examples:
  synprobe watch 198.18.0.1:80 198.18.0.2:80
  synprobe watch --targets fleet.txt --interval 10s --timeout 2s --format text
  synprobe watch 198.18.0.0/24 -p 80,443 --interval 5s --timeout 1s
  synprobe watch --targets fleet.txt --rate auto --metrics-listen 127.0.0.1:9108")]
pub struct WatchArgs {
    /// Targets: HOST:PORT, [ADDR]:PORT, or an address, CIDR block or range with -p.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// File of targets, one per line (# comments); read again on SIGHUP.
    #[arg(long = "targets", value_name = "FILE")]
    pub targets_file: Option<String>,
    /// Ports for targets given without one (22,80,8000-8100).
    #[arg(short = 'p', long = "ports", value_name = "PORTS")]
    pub ports: Option<String>,
    /// Time between two checks of a target.
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "30s"
    )]
    pub interval: String,
    /// How long a check waits for its answer; shorter than the interval.
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "10s"
    )]
    pub timeout: String,
    /// Passes in a row that make a target healthy.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub healthy_threshold: u32,
    /// Fails in a row that make a target unhealthy.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub unhealthy_threshold: u32,
    /// Time between checks while a target is initial or part-way to a change (default: the interval).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub fast_interval: Option<String>,
    /// Event format: jsonl or text (default: text on a terminal, jsonl otherwise).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Cap on probes per second (suffixes k, M; the schedule already spreads them), or auto
    /// (auto:MAX for a ceiling): the fastest rate the path answers without loss [default: no
    /// cap].
    #[arg(long, value_name = "PPS|auto[:MAX]", allow_hyphen_values = true)]
    pub rate: Option<String>,
    /// The least rate --rate auto may fall to.
    #[arg(long, value_name = "PPS")]
    pub rate_min: Option<String>,
    /// Write the rate and the canaries' loss every 100 ms to FILE (JSON Lines), for plots.
    #[arg(long, value_name = "FILE", hide = true)]
    pub rate_trace: Option<String>,
    /// Serve Prometheus metrics on ADDR:PORT (off by default).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Events on stdout, snapshots on stderr.
struct Out<W: Write> {
    printer: EventPrinter<W>,
}

impl<W: Write> WatchOutput for Out<W> {
    fn event(&mut self, e: &Event) -> std::io::Result<()> {
        self.printer.write(e)
    }
    fn snapshot(&mut self, fleet: &Fleet) {
        for line in events::snapshot(fleet) {
            say!("{line}");
        }
    }
    fn note(&mut self, line: &str) {
        say!("synprobe: {line}");
    }
}

/// One engine's worth: its config and the routes it holds (the loopback settings, if any,
/// stay changed while it lives).
struct Built {
    cfg: EngineConfig,
    _routes_held: Option<crate::io::LoopbackGuard>,
}

/// The engine for `list`: a pair space of its addresses x ports of which only the listed
/// pairs are probed (as `check` builds it), every target routed as the kernel would.
fn build(
    plan: &net::NetPlan,
    list: &[SocketAddr],
    rate: RateArg,
    trace: Option<&str>,
) -> Result<Built, CliError> {
    let mut ips: Vec<IpAddr> = list.iter().map(SocketAddr::ip).collect();
    ips.sort();
    ips.dedup();
    let mut ports: Vec<u16> = list.iter().map(SocketAddr::port).collect();
    ports.sort();
    ports.dedup();
    let ips: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let space = PairSpace::new(
        TargetSet::parse(&ips, &[])?,
        PortList::parse(&ports.join(","))?,
    )?;
    plan.check_source_family(space.targets.has_v4(), space.targets.has_v6())?;
    let mut routes = net::resolve(plan, &space.targets)?;
    if let Some(line) = net::no_route_line(&routes.no_route) {
        say!("synprobe: {line}");
    }
    if !routes.paths.any_route() {
        return Err(CliError::Runtime(
            "no route to any target: nothing to watch".into(),
        ));
    }
    let only = list
        .iter()
        .filter_map(|t| space.index(t.ip(), t.port()))
        .collect();
    // The schedule is the fleet's, not the engine's: this one only sets the neighbour asks.
    let schedule = Schedule::Rounds {
        retries: 0,
        round_wait: Duration::ZERO,
        final_wait: Duration::ZERO,
    };
    let known_macs = std::mem::take(&mut routes.known_macs);
    let cfg = EngineConfig {
        only: Some(only),
        known_macs,
        shield: plan.shield,
        auto: rate.auto,
        rate_trace: trace.map(Into::into),
        ..EngineConfig::new(space, routes.paths, plan.source_ports, rate.rate, schedule)
    };
    Ok(Built {
        cfg,
        _routes_held: routes.loopback,
    })
}

/// The settings, from the flags.
fn settings(a: &WatchArgs) -> Result<crate::health::Config, CliError> {
    let d = |flag: &str, s: &str| values::duration(flag, s).map_err(CliError::Input);
    let s = Settings {
        interval: d("--interval", &a.interval)?,
        timeout: d("--timeout", &a.timeout)?,
        fast_interval: a
            .fast_interval
            .as_deref()
            .map(|f| d("--fast-interval", f))
            .transpose()?,
        healthy_threshold: a.healthy_threshold,
        unhealthy_threshold: a.unhealthy_threshold,
    };
    s.validate().map_err(|e| CliError::Input(e.to_string()))
}

/// The full list: the command line's targets, then the file's.
fn gather(
    a: &WatchArgs,
    ports: Option<&PortList>,
    from_args: &[SocketAddr],
) -> Result<Vec<SocketAddr>, String> {
    let mut list = from_args.to_vec();
    if let Some(f) = &a.targets_file {
        list.extend(targets::from_file(f, ports)?);
    }
    Ok(targets::dedup(list))
}

/// Makes `list` the fleet, tells the observer, and says what changed (on a reload).
fn apply(fleet: &mut Fleet, list: &[SocketAddr], now_ms: u64, observer: &dyn Observer, tell: bool) {
    let wanted: std::collections::HashSet<SocketAddr> = list.iter().copied().collect();
    let removed: Vec<SocketAddr> = fleet
        .iter()
        .map(|(t, _)| t)
        .filter(|t| !wanted.contains(t))
        .collect();
    let added: Vec<SocketAddr> = list
        .iter()
        .copied()
        .filter(|t| fleet.get(*t).is_none())
        .collect();
    let r = fleet.reload(list.iter().copied(), now_ms);
    for t in &removed {
        observer.removed(*t);
    }
    for t in &added {
        observer.health(*t, Health::Initial);
    }
    if tell {
        let names = |v: &[SocketAddr]| {
            let mut s: Vec<String> = v.iter().take(5).map(SocketAddr::to_string).collect();
            if v.len() > 5 {
                s.push(format!("and {} more", v.len() - 5));
            }
            s.join(", ")
        };
        let mut line = format!(
            "synprobe: reloaded: {} kept, {} added, {} removed",
            r.kept, r.added, r.removed
        );
        if !added.is_empty() {
            line.push_str(&format!("; added {}", names(&added)));
        }
        if !removed.is_empty() {
            line.push_str(&format!("; removed {}", names(&removed)));
        }
        say!("{line}");
    }
}

pub fn run(a: WatchArgs) -> Result<i32, CliError> {
    // Everything the user typed is checked before a socket is opened.
    let config = settings(&a)?;
    let format = match a.format.as_deref() {
        Some(f) => EventFormat::parse(f).map_err(CliError::Input)?,
        None if std::io::stdout().is_terminal() => EventFormat::Text,
        None => EventFormat::Jsonl,
    };
    let rate = super::rate_arg::parse(a.rate.as_deref().unwrap_or("max"), a.rate_min.as_deref())
        .map_err(CliError::Input)?;
    let ports = a.ports.as_deref().map(PortList::parse).transpose()?;
    let from_args = targets::from_args(&a.targets, ports.as_ref()).map_err(CliError::Input)?;
    let mut list = gather(&a, ports.as_ref(), &from_args).map_err(CliError::Input)?;
    if list.is_empty() {
        return Err(CliError::Input(
            "no targets: give HOST:PORT arguments or --targets FILE".into(),
        ));
    }
    let plan = a.net.plan()?;

    // The one place where watch's observer is chosen. The endpoint is up before the first
    // check, so a scrape never misses one; a port already taken ends the run here.
    let metrics = a.metrics_listen.map(|_| Arc::new(Metrics::new()));
    let _server = match (a.metrics_listen, &metrics) {
        (Some(addr), Some(m)) => {
            Some(serve(addr, Arc::clone(m)).map_err(|e| CliError::Runtime(e.to_string()))?)
        }
        _ => None,
    };
    let observer: &dyn Observer = match &metrics {
        Some(m) => m.as_ref(),
        None => &NoObserver,
    };

    let flags = crate::io::watch_flags();
    let ctl = WatchControl {
        stop: flags.stop,
        reload: flags.reload,
        snapshot: flags.snapshot,
    };
    let zero = Instant::now();
    let wall_ms_at_zero = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let now_ms = move || zero.elapsed().as_millis() as u64;
    let mut fleet = Fleet::new(config, CookieKey::random().k0);
    let mut built = build(&plan, &list, rate, a.rate_trace.as_deref())?;
    apply(&mut fleet, &list, now_ms(), observer, false);
    let mut out = Out {
        printer: EventPrinter {
            format,
            out: std::io::stdout().lock(),
            wall_ms_at_zero,
        },
    };
    say!(
        "synprobe: watching {} every {} (timeout {}, healthy after {}, unhealthy after {})",
        crate::output::plural(list.len() as u64, "target", "targets"),
        values::show_duration(Duration::from_millis(config.interval_ms())),
        values::show_duration(Duration::from_millis(config.timeout_ms())),
        config.healthy_threshold(),
        config.unhealthy_threshold()
    );
    let needed = list.len() as f64 * 1_000.0 / config.interval_ms().max(1) as f64;
    match (rate.rate, rate.auto) {
        (Some(r), None) if r < needed => say!(
            "synprobe: --rate {r:.0} is below the {needed:.0} probes/s these targets need every {}: checks will run late",
            values::show_duration(Duration::from_millis(config.interval_ms()))
        ),
        (_, Some(_)) => say!(
            "synprobe: --rate auto: starting slow, then the fastest rate the path answers ({needed:.0} probes/s needed)"
        ),
        _ => {}
    }
    loop {
        match engine::watch(&built.cfg, &mut fleet, &mut out, observer, &ctl, &now_ms)? {
            Ended::Stopped | Ended::OutputClosed => break,
            Ended::Reload => {}
        }
        if a.targets_file.is_none() {
            say!("synprobe: SIGHUP: no --targets file to read again; still watching");
            continue;
        }
        let new = match gather(&a, ports.as_ref(), &from_args) {
            Ok(n) if n.is_empty() => Err("it lists no target".to_string()),
            other => other,
        };
        let new = match new {
            Ok(n) => n,
            Err(e) => {
                say!(
                    "synprobe: reload refused, still watching the {} targets: {e}",
                    list.len()
                );
                continue;
            }
        };
        // The old engine's routes go first, so a loopback setting is put back before the new
        // routes change it again.
        drop(built);
        built = match build(&plan, &new, rate, a.rate_trace.as_deref()) {
            Ok(b) => {
                apply(&mut fleet, &new, now_ms(), observer, true);
                list = new;
                b
            }
            Err(e) => {
                say!(
                    "synprobe: reload refused, still watching the {} targets: {e}",
                    list.len()
                );
                build(&plan, &list, rate, a.rate_trace.as_deref())?
            }
        };
    }
    out.snapshot(&fleet);
    Ok(0)
}
