//! What the watch driver pays per observer call, and what one scrape of a 100,000-target
//! fleet costs. The goal: 100,000 targets every 10 s is 10,000 checks a second, so a
//! check's metrics must cost well under a microsecond.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use synprobe::health::{Check, Health, Observer};
use synprobe::metrics::{Format, Metrics};
use synprobe::probe::Reason;

fn target(i: u32) -> SocketAddr {
    let [_, _, a, b] = i.to_be_bytes();
    SocketAddr::from(([198, 18, a, b], 80))
}

fn fleet(n: u32) -> Metrics {
    let m = Metrics::new();
    for i in 0..n {
        let h = match i % 10 {
            0 => Health::Unhealthy,
            1 => Health::Initial,
            _ => Health::Healthy,
        };
        m.health(target(i), h);
    }
    m
}

fn per_call(c: &mut Criterion) {
    let m = fleet(100_000);
    let pass = Check::pass(Duration::from_micros(420));
    let rst = Check::fail(Reason::Rst);
    let mut g = c.benchmark_group("metrics_call");
    g.throughput(Throughput::Elements(1));
    g.bench_function("checked_syn_ack_rtt", |b| {
        b.iter(|| m.checked(black_box(target(7)), black_box(&pass)))
    });
    g.bench_function("checked_rst", |b| {
        b.iter(|| m.checked(black_box(target(7)), black_box(&rst)))
    });
    g.bench_function("probes_sent", |b| b.iter(|| m.probes_sent(black_box(1))));
    let mut i = 0u32;
    g.bench_function("health_100k_fleet", |b| {
        b.iter(|| {
            i = (i + 1) % 100_000;
            m.health(black_box(target(i)), Health::Healthy)
        })
    });
    g.finish();
}

/// This process's resident set, from /proc/self/status (kB).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        })
        .unwrap_or(0)
}

fn scrape(c: &mut Criterion) {
    let before = rss_kb();
    let m = fleet(100_000);
    eprintln!(
        "100k targets' series state: {} kB resident",
        rss_kb().saturating_sub(before)
    );
    let mut g = c.benchmark_group("metrics_render_100k_targets");
    g.sample_size(10);
    g.bench_function("prometheus_text", |b| {
        b.iter(|| black_box(m.render_as(Format::Text)).len())
    });
    g.bench_function("openmetrics", |b| b.iter(|| black_box(m.render()).len()));
    g.finish();
    eprintln!(
        "one 100k-target scrape: {} bytes (text format)",
        m.render_as(Format::Text).len()
    );
}

criterion_group!(benches, per_call, scrape);
criterion_main!(benches);
