//! Measure the packet socket path. Run only inside namespaces you created:
//!   io_send_rate send IFACE DST_MAC FRAMES BATCH   # SYNs 198.18.0.1 -> 198.18.0.2:61001..
//!   io_send_rate recv IFACE SECONDS [noring]        # count frames to 198.18.0.2:61001..61100
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use synprobe::cookie::SourcePorts;
use synprobe::io::{FrameBatch, Link, Receiver, RxFilter, Sender};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let link = Link::by_name(&a[2]).expect("interface");
    match a[1].as_str() {
        "send" => {
            let mac: Vec<u8> = a[3]
                .split(':')
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .collect();
            let total: usize = a[4].parse().unwrap();
            let bs: usize = a[5].parse().unwrap();
            let mut tx = Sender::open(&link).unwrap();
            let mut batch = FrameBatch::with_capacity(bs);
            let t = Instant::now();
            let mut sent = 0;
            while sent < total {
                while !batch.is_full() {
                    let i = sent + batch.len();
                    batch.push_with(|f| {
                        f[..54].fill(0);
                        f[..6].copy_from_slice(&mac);
                        f[6..12].copy_from_slice(&link.mac);
                        f[12..14].copy_from_slice(&[8, 0]);
                        f[14] = 0x45;
                        f[17] = 40;
                        f[22] = 64;
                        f[23] = 6;
                        f[26..30].copy_from_slice(&[198, 18, 0, 1]);
                        f[30..34].copy_from_slice(&[198, 18, 0, 2]);
                        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
                        f[36..38].copy_from_slice(&(61001 + (i % 100) as u16).to_be_bytes());
                        f[46] = 0x50;
                        f[47] = 0x02;
                        54
                    });
                }
                sent += tx.send(&mut batch).unwrap();
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "sent {sent} frames in {s:.3} s: {:.0} frames/s",
                sent as f64 / s
            );
        }
        "recv" => {
            let secs: u64 = a[3].parse().unwrap();
            let ring = a.get(4).map(|s| s != "noring").unwrap_or(true);
            let filter = RxFilter {
                local_ips: vec![IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2))],
                ports: SourcePorts {
                    first: 61001,
                    last: 61100,
                },
                neighbours: false,
            };
            let mut rx = Receiver::open_with(&link, &filter, ring).unwrap();
            let end = Instant::now() + Duration::from_secs(secs);
            let (mut n, mut first, mut last) = (0u64, None, Instant::now());
            while Instant::now() < end {
                let got = rx
                    .poll(Duration::from_millis(100), &mut |_, _| n += 1)
                    .unwrap();
                if got > 0 {
                    first.get_or_insert_with(Instant::now);
                    last = Instant::now();
                }
            }
            let span = first
                .map(|f| last.duration_since(f).as_secs_f64())
                .unwrap_or(0.0);
            let st = rx.stats();
            println!(
                "received {n} frames (ring: {ring}) over {span:.3} s: {:.0} frames/s; kernel packets {} drops {}",
                n as f64 / span.max(1e-9),
                st.packets,
                st.drops
            );
        }
        _ => eprintln!("usage: see source"),
    }
}
