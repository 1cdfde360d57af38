//! Criterion benches for the functions every probe or reply passes through. Each reports
//! per-element throughput, so a regression shows up as a cost per probe.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use synprobe::classify::parse_reply;
use synprobe::cookie::{CookieKey, SourcePorts};
use synprobe::engine::Tracker;
use synprobe::pacer::Pacer;
use synprobe::permute::{Permutation, Slice};
use synprobe::wire::{FRAME_CAP, SynFields, SynParams, SynTemplate};

const N: u64 = 1024;

fn src() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 19, 0, 1))
}

fn template() -> SynTemplate {
    SynTemplate::new(&SynParams {
        src_mac: [2, 0, 0, 0, 0, 2],
        dst_mac: [2, 0, 0, 0, 0, 1],
        src_ip: src(),
        ttl: 64,
        window: 64240,
        mss: 1460,
        wscale: 7,
    })
}

fn dst(i: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xc612_0000u32 | (i as u32 & 0xffff)))
}

/// A SYN-ACK answering our SYN to `dst(i)`: our SYN with addresses and ports swapped and
/// the flags and ack set, checksums left as they are (the parser does not verify them).
fn syn_ack(t: &SynTemplate, key: &CookieKey, i: u64) -> Vec<u8> {
    let c = key.cookie(src(), dst(i), 80, SourcePorts::DEFAULT);
    let mut f = vec![0u8; FRAME_CAP];
    let len = t.fill(
        &mut f,
        &SynFields {
            dst: dst(i),
            sport: c.sport,
            dport: 80,
            seq: c.seq,
            ip_id: 1,
            tsval: 7,
        },
    );
    f.truncate(len);
    // Swap addresses and ports: the reply travels the other way.
    let (src, dst) = (f[26..30].to_vec(), f[30..34].to_vec());
    f[26..30].copy_from_slice(&dst);
    f[30..34].copy_from_slice(&src);
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    let (sport, dport) = (f[34..36].to_vec(), f[36..38].to_vec());
    f[34..36].copy_from_slice(&dport);
    f[36..38].copy_from_slice(&sport);
    f[42..46].copy_from_slice(&c.seq.wrapping_add(1).to_be_bytes());
    f[47] = 0x12; // SYN | ACK
    f
}

fn benches(c: &mut Criterion) {
    let t = template();
    let key = CookieKey { k0: 1, k1: 2 };
    let perm = Permutation::new(65536 * 4, 42);

    let mut g = c.benchmark_group("per_probe");
    g.throughput(Throughput::Elements(N));
    g.bench_function("permutation_at", |b| {
        b.iter(|| (0..N).fold(0u64, |acc, i| acc ^ perm.at(black_box(i))))
    });
    g.bench_function("cookie", |b| {
        b.iter(|| {
            (0..N).fold(0u32, |acc, i| {
                acc ^ key.cookie(src(), dst(i), 80, SourcePorts::DEFAULT).seq
            })
        })
    });
    let mut buf = [0u8; FRAME_CAP];
    g.bench_function("syn_fill", |b| {
        b.iter(|| {
            for i in 0..N {
                let f = SynFields {
                    dst: dst(i),
                    sport: 61001,
                    dport: 80,
                    seq: i as u32,
                    ip_id: i as u16,
                    tsval: 9,
                };
                black_box(t.fill(&mut buf, black_box(&f)));
            }
        })
    });
    g.bench_function("probe_build_total", |b| {
        b.iter(|| {
            for i in 0..N {
                let idx = perm.at(i);
                let d = dst(idx >> 2);
                let c = key.cookie(src(), d, 80, SourcePorts::DEFAULT);
                let f = SynFields {
                    dst: d,
                    sport: c.sport,
                    dport: 80,
                    seq: c.seq,
                    ip_id: c.seq as u16,
                    tsval: 9,
                };
                black_box(t.fill(&mut buf, &f));
            }
        })
    });
    g.finish();

    let replies: Vec<Vec<u8>> = (0..N).map(|i| syn_ack(&t, &key, i)).collect();
    let mut g = c.benchmark_group("per_reply");
    g.throughput(Throughput::Elements(N));
    g.bench_function("parse_reply", |b| {
        b.iter(|| {
            replies
                .iter()
                .filter(|f| parse_reply(black_box(f)).is_some())
                .count()
        })
    });
    g.bench_function("parse_and_verify", |b| {
        b.iter(|| {
            replies
                .iter()
                .filter_map(|f| parse_reply(f))
                .filter(|r| {
                    let c = key.cookie(r.local, r.target, r.target_port, SourcePorts::DEFAULT);
                    r.local_port == c.sport && r.echoed_seq == Some(c.seq)
                })
                .count()
        })
    });
    g.finish();

    // What a matched reply costs the answered set, and a retry round's read of it: the
    // compressed tracker (an inverse permutation, then a span under one lock) against the
    // one-bit-per-pair atomic bitmap it replaced, in a 2^32-pair walk (a /16 x all ports).
    let big = Permutation::new(1 << 32, 42);
    let mut g = c.benchmark_group("per_answer");
    g.throughput(Throughput::Elements(N));
    g.bench_function("position_of", |b| {
        let mut k = 0u64;
        b.iter(|| {
            (0..N).fold(0u64, |acc, _| {
                k += 1;
                acc ^ big.position_of(black_box(k)).unwrap_or(0)
            })
        })
    });
    g.bench_function("tracker_mark_total", |b| {
        let t = Tracker::for_walk(&big, Slice::all(1 << 32));
        let mut pos = 0u64;
        b.iter(|| {
            for _ in 0..N {
                pos += 1;
                black_box(t.test_and_set(big.at(pos)));
            }
        })
    });
    g.bench_function("tracker_mark_key", |b| {
        let t = Tracker::for_walk(&big, Slice::all(1 << 32));
        let mut k = 0u64;
        b.iter(|| {
            for _ in 0..N {
                k += 1;
                black_box(t.test_and_set_key(k));
            }
        })
    });
    g.bench_function("atomic_bitmap_mark_before", |b| {
        let words: Vec<AtomicU64> = (0..(1 << 20)).map(|_| AtomicU64::new(0)).collect();
        let mut pos = 0u64;
        b.iter(|| {
            for _ in 0..N {
                pos += 1;
                let idx = big.at(pos) % (1 << 26);
                let bit = 1u64 << (idx % 64);
                black_box(words[(idx / 64) as usize].fetch_or(bit, Ordering::Relaxed) & bit);
            }
        })
    });
    g.bench_function("tracker_retry_read", |b| {
        let t = Tracker::for_walk(&big, Slice::all(1 << 32));
        for k in (0..(1 << 20)).step_by(3) {
            t.test_and_set_key(k);
        }
        let mut r = t.reader();
        let mut k = 0u64;
        b.iter(|| {
            (0..N)
                .filter(|_| {
                    k = (k + 1) % (1 << 22);
                    r.is_set_key(black_box(k))
                })
                .count()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("pacer");
    g.throughput(Throughput::Elements(N));
    g.bench_function("permits", |b| {
        let mut p = Pacer::new(Some(1e6), 64, 0);
        let mut now = 0u64;
        let mut sent = 0u64;
        b.iter(|| {
            for _ in 0..N {
                now += 1000;
                sent += p.permits(black_box(now), sent).min(1);
            }
        })
    });
    g.finish();
}

criterion_group!(hot, benches);
criterion_main!(hot);
