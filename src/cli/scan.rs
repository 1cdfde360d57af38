//! `synprobe scan`: sweep targets x ports in a keyed random order at a set rate.

use std::cell::Cell;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;

use super::net::{self, NetArgs};
use super::{CliError, dry_run, estimate, resumed, values};
use crate::engine::{self, EngineConfig, Schedule};
use crate::merge::Header;
use crate::output::{
    Ending, Filtered, Format, HostNames, Printer, Progress, RunInfo, SUMMARY_MARK, Sink,
    StateFilter, Summary, TRAILER_MARK, WholeLines,
};
use crate::probe::ProbeResult;
use crate::resume;
use crate::target::reserved::{self, Reserved};
use crate::target::{PairSpace, PortList, TargetSet};

/// What every sweep probes (scan and bench): the targets and the ports.
#[derive(Args, Debug)]
pub struct Sweep {
    /// Targets: addresses, CIDR blocks (198.18.0.0/16), ranges (198.18.0.1-198.18.0.9),
    /// nmap octet ranges (198.18.0-3.1-20, 198.18.*.1), host names (resolved once), or
    /// @FILE with one target per line (# comments).
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Ports to probe: 22,80,8000-8100; open ends as in nmap: -1024, 60000-, - (all).
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "PORTS",
        required = true,
        allow_hyphen_values = true
    )]
    pub ports: String,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Every target leaves as the kernel routes it (ip rule and policy tables included): through
its interface and source address, to its gateway, or, on the link, to its own MAC, asked by
ARP / NDP during the scan. On-link addresses that answer no request are reported
`no-neighbour`, targets with no route `no-route` (both filtered, never probed).

Examples:
  synprobe scan 198.18.0.0/16 -p 80,443 --rate 100k
  synprobe scan @fleet.txt -p 22,80,8000-8100 --states all --format jsonl -o out.jsonl
  synprobe scan 198.18.0.0/15 -p 443 --exclude 198.18.7.0/24 --rate max
  synprobe scan 198.18.0.0/16 -p 80 --seed 7 --shard 1/2   # on machine one
  synprobe scan 198.18.0.0/16 -p 80 --seed 7 --shard 2/2   # on machine two")]
pub struct ScanArgs {
    /// Targets: addresses, CIDR blocks (198.18.0.0/16), ranges (198.18.0.1-198.18.0.9),
    /// nmap octet ranges (198.18.0-3.1-20, 198.18.*.1), host names (resolved once), or
    /// @FILE with one target per line (# comments). Taken from the file with --resume.
    #[arg(value_name = "TARGET", required_unless_present = "resume")]
    pub targets: Vec<String>,
    /// Ports to probe: 22,80,8000-8100; open ends as in nmap: -1024, 60000-, - (all).
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "PORTS",
        required_unless_present = "resume",
        allow_hyphen_values = true
    )]
    pub ports: Option<String>,
    /// Probes per second over all send threads (suffixes k, M), or max; or auto (auto:MAX
    /// for a ceiling): find the fastest rate the path answers without loss, from canaries
    /// [default: 10000; a resumed scan keeps its own unless given].
    #[arg(long, value_name = "PPS|max|auto[:MAX]", allow_hyphen_values = true)]
    pub rate: Option<String>,
    /// The least rate --rate auto may fall to (a resumed scan keeps its own unless --rate is
    /// given).
    #[arg(long, value_name = "PPS")]
    pub rate_min: Option<String>,
    /// Write the rate and the canaries' loss every 100 ms to FILE (JSON Lines), for plots.
    #[arg(long, value_name = "FILE", hide = true)]
    pub rate_trace: Option<String>,
    /// Extra rounds for pairs that have not answered yet, 0 to 20 [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(..=values::MAX_RETRIES))]
    pub retries: Option<u32>,
    /// How long to listen after the last probe of a round (500ms, 2s, 1m) [default: 1s; a
    /// resumed scan keeps its own unless given].
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub wait: Option<String>,
    /// Output format: text, jsonl or csv [default: text].
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Write results to FILE instead of stdout (`-`: stdout).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<String>,
    /// Which states to report: a list of open, closed, filtered, or all [default: open].
    #[arg(long, value_name = "STATES")]
    pub states: Option<String>,
    /// Seed of the probe order: the same seed gives the same order (needed with --shard).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Addresses, CIDR blocks or ranges never to probe (comma-separated, repeatable).
    #[arg(long, value_name = "SPEC,...", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// File of addresses, CIDR blocks or ranges never to probe (# comments).
    #[arg(long, value_name = "FILE")]
    pub exclude_file: Option<String>,
    /// Send threads (default: 1 up to 500k probes/s, else one per core, at most 4).
    #[arg(long, value_name = "N")]
    pub send_threads: Option<usize>,
    /// Probe only shard I of N (1-based) of the permutation; every machine uses the same --seed.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Never draw the progress line (it is drawn only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// First write a header record (jsonl only): scan id, seed, shard, targets, ports, start
    /// time; `synprobe merge` reads it to tell which shards of which scan it has.
    #[arg(long)]
    pub header: bool,
    /// Close the results with a trailer record (jsonl only): the run's summary as JSON
    /// (see --summary-json); `synprobe merge` skips it.
    #[arg(long)]
    pub trailer: bool,
    /// Write the run's summary as one JSON object to FILE, or to stdout with - (after the
    /// results): probes, replies, states, reasons, rates, seconds, how it ended.
    #[arg(long, value_name = "FILE|-")]
    pub summary_json: Option<String>,
    /// Probe 0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/4 and 240.0.0.0/4 even when the IPv4
    /// targets number more than a /8 (they are skipped then by default).
    #[arg(long, conflicts_with = "exclude_reserved")]
    pub include_reserved: bool,
    /// Skip every block of IANA's IPv4 and IPv6 special-purpose registries (private,
    /// documentation, benchmarking, ...) and multicast, whatever the scan's size.
    #[arg(long)]
    pub exclude_reserved: bool,
    /// Continue the scan a resume file describes (written when a scan is stopped): its
    /// targets, ports, seed, shard and retries come from the file; results are appended to
    /// its output (or to -o).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<String>,
    /// Where to keep the resume file [default: synprobe.resume beside the output file, in
    /// the current directory for stdout; the --resume FILE itself when resuming].
    #[arg(long, value_name = "PATH")]
    pub resume_file: Option<String>,
    /// Stop as Ctrl-C does (listen for the rest of --wait, write the resume file) once the
    /// scan has run this long (30s, 10m, 2h).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub max_runtime: Option<String>,
    /// Stop as Ctrl-C does once N results have been reported (the answers already on their
    /// way are still written).
    #[arg(long, value_name = "N")]
    pub max_results: Option<u64>,
    /// Send nothing: print the pair count, each group of targets with the way its probes
    /// would leave, and the estimated duration at --rate; needs no privilege.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Send threads for a rate: one keeps up to about half a million probes/s; beyond that,
/// one per core, at most 4 (zmap's cap).
pub fn default_send_threads(rate: Option<f64>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match rate {
        Some(r) if r <= 500_000.0 => 1,
        _ => cores.clamp(1, 4),
    }
}

/// IPv4 target sets this large need an explicit exclude list.
const WHOLE_INTERNET: u64 = 1 << 31;

/// Parse targets, ports and excludes into the pair space, without the reserved blocks
/// `reserved` skips (said on stderr).
pub fn pair_space(
    targets: &[String],
    ports: &str,
    exclude: &[String],
    exclude_file: Option<&str>,
    reserved: Reserved,
) -> Result<PairSpace, CliError> {
    let ports = PortList::parse(ports)?;
    let mut excludes = exclude.to_vec();
    if let Some(f) = exclude_file {
        excludes.extend(TargetSet::read_exclude_file(f)?);
    }
    let targets = TargetSet::parse(targets, &excludes)?;
    // Like masscan: half the IPv4 internet or more is never a typo we should act on.
    if targets.v4_len() >= WHOLE_INTERNET && exclude.is_empty() && exclude_file.is_none() {
        return Err(CliError::Input(format!(
            "refusing to probe {} IPv4 addresses (half the internet or more) without --exclude or --exclude-file; \
             give one (an empty file will do) to confirm",
            targets.v4_len()
        )));
    }
    let (targets, skipped) = reserved::apply(targets, reserved)?;
    if let Some(line) = reserved::skipped_line(&skipped, reserved) {
        say!("synprobe: {line}");
    }
    // No memory check by the size of the space: what a scan remembers per pair follows
    // its answers (engine/tracker.rs), not the number of pairs.
    Ok(PairSpace::new(targets, ports)?)
}

/// On-link targets' neighbour table (12 bytes a target, allocated up front) must fit in
/// half of the memory the kernel says is available: the allocation would fail, or the OOM
/// killer end the scan half-way.
fn neighbours_fit(targets: u64, bytes: u64, available: Option<u64>) -> Result<(), CliError> {
    match available {
        Some(avail) if bytes > avail / 2 => Err(CliError::Input(format!(
            "{targets} on-link targets need {} MiB for their neighbour table (12 bytes each), more than half of the {} MiB this machine has available; \
             narrow the targets, or scan them in parts",
            bytes >> 20,
            avail >> 20
        ))),
        _ => Ok(()),
    }
}

/// Every target's route; the ones without are named on stderr, and a scan where none has
/// one is refused (exit 1). On-link targets' MACs take memory too: checked here.
fn routes_for(plan: &net::NetPlan, space: &PairSpace) -> Result<net::Routes, CliError> {
    let routes = net::resolve(plan, &space.targets)?;
    if let Some(line) = net::no_route_line(&routes.no_route) {
        say!("synprobe: {line}");
    }
    if !routes.paths.any_route() {
        return Err(CliError::Runtime(
            "no route to any target: nothing to probe".into(),
        ));
    }
    let on_link: u64 = routes
        .paths
        .on_link(space.targets.len())
        .map(|r| r.end - r.start)
        .sum();
    neighbours_fit(
        on_link,
        crate::engine::Neighbours::bytes_for(on_link),
        crate::io::mem_available(),
    )?;
    Ok(routes)
}

fn open_output(path: &str) -> Result<File, CliError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| CliError::Input(format!("cannot write output file '{path}': {e}")))
}

/// Empties a regular file before the first row (a FIFO or a device is left as it is).
fn start_output(f: File, path: &str) -> Result<File, CliError> {
    let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
    if regular {
        f.set_len(0)
            .map_err(|e| CliError::Runtime(format!("cannot empty output file '{path}': {e}")))?;
    }
    Ok(f)
}

pub fn run(mut a: ScanArgs) -> Result<i32, CliError> {
    a.output = values::output_path(a.output.take());
    // Everything the user typed is checked before a socket is opened.
    let earlier = a.resume.as_deref().map(resumed::read).transpose()?;
    // Rate and wait: as given, else the resumed scan's own (a scan started gently must not
    // resume at the default), else the defaults.
    let kept = |given: &Option<String>, of: fn(&resume::ScanSpec) -> &String, default: &str| {
        given
            .clone()
            .or_else(|| earlier.as_ref().map(|st| of(&st.scan).clone()))
            .unwrap_or_else(|| default.into())
    };
    let rate_given = kept(&a.rate, |s| &s.rate, DEFAULT_RATE);
    let wait_given = kept(&a.wait, |s| &s.wait, DEFAULT_WAIT);
    // The resumed scan's floor goes with its rate: a new --rate drops it.
    let rate_min_given = a
        .rate_min
        .clone()
        .or_else(|| {
            earlier
                .as_ref()
                .filter(|_| a.rate.is_none())
                .map(|st| st.scan.rate_min.clone())
                .filter(|m| !m.is_empty())
        })
        .unwrap_or_default();
    let rate_arg = super::rate_arg::parse(
        &rate_given,
        (!rate_min_given.is_empty()).then_some(rate_min_given.as_str()),
    )
    .map_err(CliError::Input)?;
    let rate = rate_arg.rate;
    let wait = values::duration("--wait", &wait_given).map_err(CliError::Input)?;
    let max_runtime = a
        .max_runtime
        .as_deref()
        .map(|d| values::duration("--max-runtime", d))
        .transpose()
        .map_err(CliError::Input)?;
    let given_shard = a
        .shard
        .as_deref()
        .map(values::shard)
        .transpose()
        .map_err(CliError::Input)?;
    let send_threads = values::send_threads(a.send_threads).map_err(CliError::Input)?;
    let mut exclude = a.exclude.clone();
    if let Some(f) = &a.exclude_file {
        exclude.extend(TargetSet::read_exclude_file(f)?);
    }
    let reserved = match (a.include_reserved, a.exclude_reserved) {
        (true, _) => Reserved::Include,
        (_, true) => Reserved::ExcludeAll,
        _ => Reserved::Guard,
    };
    let spec = match &earlier {
        Some(st) => {
            let given = resume::Given {
                targets: (!a.targets.is_empty()).then(|| a.targets.clone()),
                ports: a.ports.clone(),
                excludes: (!exclude.is_empty()).then(|| exclude.clone()),
                seed: a.seed,
                shard: given_shard,
                retries: a.retries,
                send_threads: send_threads.map(|n| n as u32),
                states: a.states.clone(),
                format: a.format.clone(),
                header: a.header,
            };
            st.check(env!("CARGO_PKG_VERSION"), &given).map_err(|e| {
                CliError::Input(format!(
                    "cannot resume from '{}': {e}",
                    a.resume.as_deref().unwrap_or_default()
                ))
            })?;
            resume::ScanSpec {
                rate: rate_given,
                wait: wait_given,
                rate_min: rate_min_given,
                ..st.scan.clone()
            }
        }
        None => resume::ScanSpec {
            rate: rate_given,
            wait: wait_given,
            rate_min: rate_min_given,
            ..fresh_spec(&a, exclude, reserved, given_shard, send_threads, rate)?
        },
    };
    let shard = spec.shard;
    let format = Format::parse(&spec.format).map_err(CliError::Input)?;
    let states = StateFilter::parse(&spec.states).map_err(CliError::Input)?;
    if spec.header && format != Format::Jsonl {
        // A CSV file's first line is its column names, which readers rely on; a comment
        // line before it is not CSV. The header record is JSON Lines only.
        return Err(CliError::Input(format!(
            "--header needs --format jsonl (not '{}'): the header record is a JSON object",
            spec.format
        )));
    }
    if a.trailer && format != Format::Jsonl {
        return Err(CliError::Input(format!(
            "--trailer needs --format jsonl (not '{}'): the trailer record is a JSON object",
            spec.format
        )));
    }
    if let Some(p) = &a.summary_json {
        super::summary_out::check_path(p)?;
    }
    let plan = a.net.plan()?;
    let space = pair_space(
        &spec.targets,
        &spec.ports,
        &spec.excludes,
        None,
        resumed::reserved_of(spec.reserved),
    )?;
    let fingerprint = resume::fingerprint(
        env!("CARGO_PKG_VERSION"),
        &crate::merge::scan_id(&space, spec.seed),
        &spec,
    );
    if let Some(st) = &earlier {
        st.check_fingerprint(fingerprint)
            .and_then(|()| {
                let (i, n) = spec.shard;
                st.runs_within(crate::permute::Slice::of(space.len(), i, n).len())
                    .then_some(())
                    .ok_or_else(|| "damaged: it names pairs outside the scan".to_string())
            })
            .map_err(|e| {
                CliError::Input(format!(
                    "cannot resume from '{}': {e}",
                    a.resume.as_deref().unwrap_or_default()
                ))
            })?;
    }
    plan.check_source_family(space.targets.has_v4(), space.targets.has_v6())?;
    if a.dry_run {
        let (paths, no_route) = net::quiet_routes(&plan, &space.targets)?;
        let pace = dry_run::Pace {
            rate,
            retries: spec.retries,
            wait,
            shard,
        };
        return super::print_result(dry_run::report(&space, &paths, &no_route, &pace).trim_end())
            .map(|_| 0);
    }
    if earlier.is_none()
        && let Some(line) =
            estimate::long_scan_warning(space.len() / shard.1, rate, spec.retries, wait)
    {
        say!("synprobe: {line}");
    }
    let output = a
        .output
        .clone()
        .or_else(|| earlier.as_ref().and_then(|st| st.scan.output.clone()));
    // The next checkpoint speaks of the file this run writes.
    let spec = resume::ScanSpec {
        output: output.clone(),
        ..spec
    };
    let resume_path = a
        .resume_file
        .clone()
        .or_else(|| a.resume.clone())
        .unwrap_or_else(|| resumed::default_path(output.as_deref()));
    // Opened now, so a bad path is bad input; emptied only once the run is sure to start,
    // so a run refused for a privilege or a route leaves an earlier results file intact.
    let existed = output
        .as_deref()
        .is_some_and(|p| std::path::Path::new(p).exists());
    let file = output.as_deref().map(open_output).transpose()?;
    let routes = match routes_for(&plan, &space) {
        Ok(r) => r,
        Err(e) => {
            // Nor does it leave a new empty file behind.
            if let (Some(path), false) = (&output, existed) {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
    };
    // A resumed run appends to what the output holds up to the checkpoint.
    let (out, already): (Box<dyn Write>, u64) = match (file, &output) {
        (Some(f), Some(path)) => match &earlier {
            Some(st) => {
                let (f, len) = resumed::continue_output(f, path, st)?;
                (Box::new(f), len)
            }
            None => (Box::new(start_output(f, path)?), 0),
        },
        _ => (Box::new(std::io::stdout().lock()), 0),
    };
    let schedule = Schedule::Rounds {
        retries: spec.retries,
        round_wait: wait,
        final_wait: wait,
    };
    let base = EngineConfig::new(space, routes.paths, plan.source_ports, rate, schedule);
    let cfg = EngineConfig {
        known_macs: routes.known_macs,
        shield: plan.shield,
        seed: spec.seed,
        shard,
        send_threads: spec.send_threads as usize,
        auto: rate_arg.auto,
        rate_trace: a.rate_trace.clone().map(Into::into),
        ..base
    };
    let count = Rc::new(Cell::new(already));
    let mut out = WholeLines::new(out, count.clone());
    if spec.header && already == 0 {
        // Buffered with the results: a reader gone already shows up at their first flush.
        let header = header_record(&spec, &cfg.space);
        writeln!(out, "{}", header.render())
            .map_err(|e| CliError::Runtime(format!("writing results: {e}")))?;
    }
    // Results of an address that came from a host name carry the name typed.
    let printer = Printer::new(format, out).with_hosts(HostNames::new(cfg.space.targets.names()));
    let stop = crate::io::interrupt_flag();
    let mut sink = Limited {
        inner: Filtered {
            filter: states,
            inner: if already > 0 {
                printer.continuing()
            } else {
                printer
            },
        },
        filter: states,
        reported: 0,
        max: a.max_results,
        stop,
        hit: false,
    };
    let mut progress = Progress::new(!a.no_progress && std::io::stderr().is_terminal())
        .sharing_screen(output.is_none() && std::io::stdout().is_terminal());
    let answered = earlier.as_ref().map_or(&[][..], |st| &st.runs[..]);
    let mut saver = resumed::Saver::new(&resume_path, fingerprint, spec.clone(), count);
    let mut save = |at: &resume::Position, written: &engine::Tracker, last: bool| {
        saver.save(at, written, last)
    };
    let mut hooks = engine::Resumable {
        from: earlier.as_ref().map(|st| st.at.clone()),
        answered,
        settle: wait + SETTLE_MARGIN,
        max_runtime,
        save: &mut save,
        timed_out: false,
    };
    let summary = engine::run_real_resumable(&cfg, &mut sink, &mut progress, stop, &mut hooks)?;
    let timed_out = hooks.timed_out;
    say!("{summary}");
    let (ending, code) = ending(&summary, timed_out, sink.hit);
    let info = RunInfo {
        command: "scan",
        seed: spec.seed,
        shard: (shard.0 + 1, shard.1),
        ending,
        exit_code: code,
    };
    // After the last checkpoint: a resumed run cuts the output back to it, trailer and all.
    let mut out = sink.inner.inner.into_inner();
    if a.trailer && !summary.output_closed {
        let record = summary.render_json(TRAILER_MARK, &info);
        if let Err(e) = writeln!(out, "{record}").and_then(|()| out.flush())
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            return Err(CliError::Runtime(format!("writing results: {e}")));
        }
    }
    drop(out);
    if let Some(path) = &a.summary_json {
        super::summary_out::write(path, &summary.render_json(SUMMARY_MARK, &info))?;
    }
    if summary.interrupted {
        say!(
            "synprobe: stopped{}; continue with: synprobe scan --resume {resume_path}",
            match ending {
                Ending::MaxRuntime => " at --max-runtime",
                Ending::MaxResults => " at --max-results",
                _ => "",
            }
        );
        return Ok(code);
    }
    // Done (or the reader went away): nothing to continue.
    let _ = std::fs::remove_file(&resume_path);
    Ok(code)
}

/// How the run ended, and its exit code: 130 for a signal, 3 for a limit, else 0.
fn ending(summary: &Summary, timed_out: bool, hit_max_results: bool) -> (Ending, i32) {
    if summary.interrupted {
        if timed_out {
            (Ending::MaxRuntime, 3)
        } else if hit_max_results {
            (Ending::MaxResults, 3)
        } else {
            (Ending::Interrupted, 130)
        }
    } else if summary.output_closed {
        (Ending::OutputClosed, 0)
    } else {
        (Ending::Completed, 0)
    }
}

/// Time past `--wait` before a sent pair counts as done in a checkpoint: a reply's way from
/// the ring through the receiver to the output.
const SETTLE_MARGIN: Duration = Duration::from_millis(500);

/// A new scan's spec, from its flags and their defaults.
/// `--rate` and `--wait` when neither the command line nor a resume file says.
const DEFAULT_RATE: &str = "10000";
const DEFAULT_WAIT: &str = "1s";

fn fresh_spec(
    a: &ScanArgs,
    excludes: Vec<String>,
    reserved: Reserved,
    shard: Option<(u64, u64)>,
    send_threads: Option<usize>,
    rate: Option<f64>,
) -> Result<resume::ScanSpec, CliError> {
    let shard = shard.unwrap_or((0, 1));
    if shard.1 > 1 && a.seed.is_none() {
        return Err(CliError::Input(format!(
            "--shard '{}' needs --seed N, the same on every machine, so that the shards cover the permutation exactly",
            a.shard.as_deref().unwrap_or_default()
        )));
    }
    let format = a.format.clone().unwrap_or_else(|| "text".into());
    Format::parse(&format).map_err(CliError::Input)?;
    Ok(resume::ScanSpec {
        version: env!("CARGO_PKG_VERSION").into(),
        targets: a.targets.clone(),
        ports: a.ports.clone().unwrap_or_default(),
        excludes,
        reserved: resumed::reserved_code(reserved),
        // Drawn now when not given, so that a resumed run walks the same permutation.
        seed: a
            .seed
            .unwrap_or_else(|| crate::cookie::CookieKey::random().k0),
        shard,
        retries: a.retries.unwrap_or(1),
        send_threads: send_threads.unwrap_or_else(|| default_send_threads(rate)) as u32,
        states: a.states.clone().unwrap_or_else(|| "open".into()),
        format,
        output: a.output.clone(),
        header: a.header,
        rate: DEFAULT_RATE.into(), // the caller's
        wait: DEFAULT_WAIT.into(),
        rate_min: String::new(),
    })
}

/// Counts the results reported (after `--states`) and stops the scan at `--max-results`.
struct Limited<'a, S> {
    inner: S,
    filter: StateFilter,
    reported: u64,
    max: Option<u64>,
    stop: &'a AtomicBool,
    hit: bool,
}

impl<S: Sink> Sink for Limited<'_, S> {
    fn result(&mut self, r: &ProbeResult) -> std::io::Result<()> {
        self.inner.result(r)?;
        if self.filter.wants(r.state()) {
            self.reported += 1;
            if self.max.is_some_and(|m| self.reported >= m) && !self.hit {
                self.hit = true;
                self.stop.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.inner.finish()
    }
}

/// The `--header` record of this run.
fn header_record(spec: &resume::ScanSpec, space: &PairSpace) -> Header {
    let (seed, shard) = (spec.seed, spec.shard);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Header {
        version: env!("CARGO_PKG_VERSION").to_string(),
        scan_id: crate::merge::scan_id(space, seed),
        seed,
        shard: (shard.0 + 1, shard.1),
        targets: spec.targets.join(" "),
        ports: spec.ports.clone(),
        started: crate::merge::utc(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_space_skips_the_guarded_blocks_above_a_slash8_unless_told() {
        let specs = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // 0.0.0.0/7 is two /8s; nothing here is sent, only counted.
        let space = pair_space(&specs(&["0.0.0.0/7"]), "80", &[], None, Reserved::Guard).unwrap();
        assert_eq!(space.targets.len(), 1 << 24);
        assert!(!space.targets.contains("0.1.2.3".parse().unwrap()));
        let space = pair_space(&specs(&["0.0.0.0/7"]), "80", &[], None, Reserved::Include).unwrap();
        assert_eq!(space.targets.len(), 1 << 25);
        // The test range is left alone by default, and all gone with --exclude-reserved.
        let space =
            pair_space(&specs(&["198.18.0.0/20"]), "80", &[], None, Reserved::Guard).unwrap();
        assert_eq!(space.targets.len(), 4096);
        let e = pair_space(
            &specs(&["198.18.0.0/20"]),
            "80",
            &[],
            None,
            Reserved::ExcludeAll,
        )
        .unwrap_err();
        assert!(
            matches!(&e, CliError::Input(m) if m.contains("no targets left")),
            "{e}"
        );
    }

    #[test]
    fn the_neighbour_table_must_fit_in_half_the_available_memory() {
        const GIB: u64 = 1 << 30;
        assert!(neighbours_fit(1 << 26, GIB, Some(2 * GIB)).is_ok());
        let err = neighbours_fit(1 << 26, GIB + 1, Some(2 * GIB)).unwrap_err();
        assert!(
            matches!(&err, CliError::Input(m) if m.contains("1024 MiB") && m.contains("2048 MiB")),
            "{err}"
        );
        // Unknown memory: no guess, no refusal.
        assert!(neighbours_fit(1 << 32, 48 * GIB, None).is_ok());
    }

    #[test]
    fn big_spaces_are_not_refused_for_their_size() {
        // A /16 x all ports and an IPv6 /96 x 1 port (refused on a small machine before,
        // for a bitmap of 512 MiB), and 2^40 pairs: nothing in a scan grows with the space.
        for (t, p, n) in [
            ("198.18.0.0/16", "-", 65536 * 65535),
            ("2001:db8::/96", "80", 1 << 32),
            ("2001:db8::/104", "-", (1 << 24) * 65535),
        ] {
            let space = pair_space(&[t.to_string()], p, &[], None, Reserved::Guard).expect(t);
            assert_eq!(space.len(), n, "{t}");
        }
    }
}
