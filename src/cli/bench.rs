//! `synprobe bench`: send for a fixed time, cycling the permutation, and report the rate
//! and its cost as one JSON line.

use clap::Args;
use nix::sys::resource::{UsageWho, getrusage};

use super::net::{self, NetArgs};
use super::scan::{Sweep, default_send_threads, pair_space};
use super::{CliError, values};
use crate::engine::{self, EngineConfig, Schedule};
use crate::output::{Progress, Sink};
use crate::probe::ProbeResult;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples (on a test network only: bench sends as fast as it can):
  synprobe bench 198.18.0.0/16 -p 80 --duration 10s --gateway-mac 02:00:00:00:00:01
  synprobe bench 198.18.0.0/16 -p 80,443 --rate 200k --send-threads 1")]
pub struct BenchArgs {
    #[command(flatten)]
    pub sweep: Sweep,
    /// How long to send.
    #[arg(
        long,
        value_name = "DURATION",
        allow_hyphen_values = true,
        default_value = "10s"
    )]
    pub duration: String,
    /// Probes per second, or max.
    #[arg(
        long,
        value_name = "PPS|max",
        allow_hyphen_values = true,
        default_value = "max"
    )]
    pub rate: String,
    /// Send threads (default: 1 up to 500k probes/s, else one per core, at most 4).
    #[arg(long, value_name = "N")]
    pub send_threads: Option<usize>,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Bench keeps no results: it counts.
struct Discard;

impl Sink for Discard {
    fn result(&mut self, _: &ProbeResult) -> std::io::Result<()> {
        Ok(())
    }
}

fn cpu_secs(t: nix::sys::time::TimeVal) -> f64 {
    t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6
}

pub fn run(a: BenchArgs) -> Result<i32, CliError> {
    let rate = values::rate(&a.rate).map_err(CliError::Input)?;
    let duration = values::duration("--duration", &a.duration).map_err(CliError::Input)?;
    if duration.is_zero() {
        return Err(CliError::Input(format!(
            "invalid --duration '{}': must be above zero",
            a.duration
        )));
    }
    let send_threads = values::send_threads(a.send_threads).map_err(CliError::Input)?;
    let plan = a.net.plan()?;
    let space = pair_space(
        &a.sweep.targets,
        &a.sweep.ports,
        &[],
        None,
        crate::target::reserved::Reserved::Guard,
    )?;
    plan.check_source_family(space.targets.has_v4(), space.targets.has_v6())?;
    let mut routes = net::resolve(&plan, &space.targets)?;
    if !routes.paths.any_route() {
        return Err(CliError::Runtime(
            "no route to any target: nothing to probe".into(),
        ));
    }
    let cfg = EngineConfig {
        send_threads: send_threads.unwrap_or_else(|| default_send_threads(rate)),
        known_macs: std::mem::take(&mut routes.known_macs),
        shield: plan.shield,
        ..EngineConfig::new(
            space,
            routes.paths,
            plan.source_ports,
            rate,
            Schedule::Cycle { duration },
        )
    };
    let before = getrusage(UsageWho::RUSAGE_SELF)
        .map_err(|e| CliError::Runtime(format!("getrusage: {e}")))?;
    let stop = crate::io::interrupt_flag();
    let s = engine::run(&cfg, &mut Discard, &mut Progress::new(false), stop)?;
    let after = getrusage(UsageWho::RUSAGE_SELF)
        .map_err(|e| CliError::Runtime(format!("getrusage: {e}")))?;
    let user = cpu_secs(after.user_time()) - cpu_secs(before.user_time());
    let sys = cpu_secs(after.system_time()) - cpu_secs(before.system_time());
    say!("{s}");
    say!(
        "synprobe: bench: {:.0} probes/s with {} send thread(s); {:.2} CPU s per million probes",
        s.achieved_rate,
        cfg.send_threads,
        if s.sent > 0 {
            (user + sys) * 1e6 / s.sent as f64
        } else {
            0.0
        }
    );
    let line = format!(
        "{{\"probes_sent\":{},\"seconds\":{:.3},\"probes_per_sec\":{:.0},\"send_threads\":{},\"replies\":{},\"matched\":{},\"ignored\":{},\"rx_drops\":{},\"cpu_user_s\":{:.3},\"cpu_sys_s\":{:.3},\"peak_rss_kib\":{}}}",
        s.sent,
        s.send_secs,
        s.achieved_rate,
        cfg.send_threads,
        s.matched + s.duplicates + s.ignored,
        s.matched + s.duplicates,
        s.ignored,
        s.rx_drops,
        user,
        sys,
        after.max_rss()
    );
    super::print_result(&line)?;
    Ok(0)
}
