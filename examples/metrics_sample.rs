//! Prints what `/metrics` serves for a small known fleet, for checking the exposition with
//! other tools: `cargo run -q --example metrics_sample | promtool check metrics`.
//! `--openmetrics` prints the OpenMetrics format instead of the Prometheus text format;
//! `--serve ADDR` serves it on ADDR instead (printing the bound address), for at most five
//! minutes, so a real Prometheus can scrape it (scripts/check-deploy.sh).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use synprobe::health::{Check, Event, Health, Observer, Transition};
use synprobe::metrics::{Format, Metrics, serve};
use synprobe::probe::{Reason, Unreachable};

fn main() {
    let m = Metrics::new();
    let targets: Vec<SocketAddr> = ["198.18.0.1:80", "198.18.0.2:443", "[2001:db8::1]:80"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    for t in &targets {
        m.health(*t, Health::Initial);
    }
    m.probes_sent(6);
    for _ in 0..2 {
        m.checked(targets[0], &Check::pass(Duration::from_micros(350)));
        m.checked(targets[1], &Check::fail(Reason::Rst));
        m.checked(targets[2], &Check::fail(Reason::Icmp(Unreachable::Port)));
    }
    let moved = |t: SocketAddr, to: Health, reason: Reason| {
        m.transition(&Event {
            target: t,
            transition: Transition {
                from: Health::Initial,
                to,
                reason,
                consecutive: 2,
                rtt: None,
                at_ms: 2_000,
            },
        });
        m.health(t, to);
    };
    moved(targets[0], Health::Healthy, Reason::SynAck);
    moved(targets[1], Health::Unhealthy, Reason::Rst);
    m.late_total(1);

    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--serve") {
        let addr: SocketAddr = args.get(at + 1).expect("--serve ADDR").parse().unwrap();
        let server = serve(addr, Arc::new(m)).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
        println!("{}", server.local_addr());
        std::thread::sleep(Duration::from_secs(300));
        return;
    }
    let format = if args.iter().any(|a| a == "--openmetrics") {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    print!("{}", m.render_as(format));
}
