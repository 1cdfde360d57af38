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

/// What `bench` prints on stdout, one JSON object (the schema is in README, "bench").
struct BenchReport<'a> {
    summary: &'a crate::output::Summary,
    send_threads: usize,
    cpu_user_s: f64,
    cpu_sys_s: f64,
    peak_rss_kib: u64,
}

impl BenchReport<'_> {
    /// CPU seconds (user + system) per million probes sent; `None` when none was sent.
    fn cpu_per_million(&self) -> Option<f64> {
        let sent = self.summary.sent;
        (sent > 0).then(|| (self.cpu_user_s + self.cpu_sys_s) * 1e6 / sent as f64)
    }

    /// Every value a number (null where there is none): counts as integers, seconds as
    /// seconds. `matched` counts pairs (the first reply of each), `duplicates` the
    /// further replies for them; `replies` is every frame the receiver judged: matched +
    /// duplicates + ignored + unverified_syns + bad_checksums.
    fn to_json(&self) -> serde_json::Value {
        let s = self.summary;
        let round = |x: f64, digits: i32| {
            let m = 10f64.powi(digits);
            (x * m).round() / m
        };
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "probes_sent": s.sent,
            "seconds": round(s.send_secs, 6),
            "probes_per_sec": s.achieved_rate.map(|r| r.round() as u64),
            "send_threads": self.send_threads,
            "replies": s.matched + s.duplicates + s.ignored + s.unverified_syns + s.bad_checksums,
            "matched": s.matched,
            "duplicates": s.duplicates,
            "ignored": s.ignored,
            "unverified_syns": s.unverified_syns,
            "bad_checksums": s.bad_checksums,
            "rx_drops": s.rx_drops,
            "cpu_user_s": round(self.cpu_user_s, 6),
            "cpu_sys_s": round(self.cpu_sys_s, 6),
            "cpu_s_per_million_probes": self.cpu_per_million().map(|c| round(c, 4)),
            "peak_rss_kib": self.peak_rss_kib,
        })
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
    let report = BenchReport {
        summary: &s,
        send_threads: cfg.send_threads,
        cpu_user_s: user,
        cpu_sys_s: sys,
        peak_rss_kib: after.max_rss().max(0) as u64,
    };
    let per_million = report.cpu_per_million();
    say!(
        "synprobe: bench: {} with {}; {}",
        s.achieved_rate
            .map_or("no rate (sent for under 10 ms)".to_string(), |r| format!(
                "{r:.0} probes/s"
            )),
        crate::output::plural(cfg.send_threads as u64, "send thread", "send threads"),
        per_million.map_or(
            "no CPU cost per probe (nothing sent)".to_string(),
            |c| format!("{c:.2} CPU s per million probes")
        )
    );
    let line = report.to_json().to_string();
    super::print_result(&line)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Summary;

    #[test]
    fn bench_json_counts_pairs_once_and_gives_seconds_as_numbers() {
        let s = Summary {
            sent: 2_000_000,
            matched: 1000,
            duplicates: 250,
            ignored: 3,
            unverified_syns: 2,
            bad_checksums: 1,
            send_secs: 1.0000004,
            achieved_rate: Some(1_999_999.6),
            ..Default::default()
        };
        let r = BenchReport {
            summary: &s,
            send_threads: 2,
            cpu_user_s: 0.5,
            cpu_sys_s: 0.75,
            peak_rss_kib: 40_000,
        };
        let v = r.to_json();
        assert_eq!(v["matched"], 1000);
        assert_eq!(v["duplicates"], 250);
        assert_eq!(v["replies"], 1256);
        assert!(v["seconds"].is_f64(), "{v}");
        assert_eq!(v["seconds"], 1.0);
        assert_eq!(v["probes_per_sec"], 2_000_000);
        assert_eq!(v["cpu_s_per_million_probes"], 0.625);
        let idle = Summary::default();
        let v = BenchReport {
            summary: &idle,
            ..r
        }
        .to_json();
        assert!(v["probes_per_sec"].is_null() && v["cpu_s_per_million_probes"].is_null());
        assert_eq!(v["seconds"], 0.0);
    }
}
