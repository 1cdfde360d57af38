//! How big a scan's answered set gets (engine/tracker.rs), by what answers, without a
//! network: the sweep probes positions in order, each answering pair's reply lands a
//! random 0..WINDOW probes later (the probes in flight, so replies come out of order), a
//! fraction of the pairs answers, the rest is silent.
//!
//!   cargo run --release --example answered_set_size [LOG2_POSITIONS]
//!
//! Prints, per answer pattern, the set's peak and final heap bytes over 2^LOG2_POSITIONS
//! positions (default 24), and the final size scaled to 2^32 positions (a /16 x all
//! ports): spans behind the sweep cost the same everywhere, the window's spans (the peak's
//! extra) do not grow with the space. A shard of 1/N walks 1/N of the positions, so its
//! set behind the sweep is 1/N of these.
use synprobe::engine::Tracker;

/// Probes in flight when replies come back: 2^20 (0.3 s at 3.4 M probes/s).
const WINDOW: u64 = 1 << 20;

fn splitmix(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn main() {
    let log2: u32 = std::env::args()
        .nth(1)
        .map_or(24, |a| a.parse().expect("LOG2_POSITIONS"));
    let n = 1u64 << log2;
    let scale = (1u64 << 32) as f64 / n as f64;
    println!("| who answers | peak KiB | final KiB | final, scaled to 2^32 pairs: MiB |");
    println!("|---|---:|---:|---:|");
    for (what, per_million) in [
        (
            "everyone (a testbed, a firewall answering RST)",
            1_000_000u64,
        ),
        ("95 % (5 % of replies lost)", 950_000),
        ("1 % (internet-like)", 10_000),
        ("nobody", 0),
    ] {
        let t = Tracker::new(n);
        let mut rng = 7u64;
        let (mut peak, mut next_check) = (0usize, 0u64);
        // Replies due at step s wait in bucket s % WINDOW.
        let mut due: Vec<Vec<u64>> = vec![Vec::new(); WINDOW as usize];
        for sent in 0..n + WINDOW {
            if sent < n && splitmix(&mut rng) % 1_000_000 < per_million {
                let at = sent + splitmix(&mut rng) % WINDOW;
                due[(at % WINDOW) as usize].push(sent);
            }
            for key in std::mem::take(&mut due[(sent % WINDOW) as usize]) {
                t.test_and_set_key(key);
            }
            if sent >= next_check {
                peak = peak.max(t.heap_bytes());
                next_check += 1 << 16;
            }
        }
        let fin = t.heap_bytes();
        peak = peak.max(fin);
        println!(
            "| {what} | {:.0} | {:.0} | {:.1} |",
            peak as f64 / 1024.0,
            fin as f64 / 1024.0,
            fin as f64 * scale / (1 << 20) as f64
        );
    }
}
