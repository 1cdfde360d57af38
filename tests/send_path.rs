//! The send path loses nothing at full speed: on the discard testbed (an ifb device that
//! counts and frees every frame it is given, so nothing but the sender runs), every probe
//! synprobe counts as sent is a frame the device got, in both send modes, both families,
//! and for a scan each pair exactly once. No rates or times are asserted.
mod common;

use common::*;

const FAKE_MAC: &str = "02:00:00:00:00:01";

/// Frames the ifb device has been handed so far (it counts them as received).
fn device_frames(tb: &Testbed) -> u64 {
    let path = format!("/sys/class/net/{}-s/statistics/rx_packets", tb.name);
    let out = tb.in_scan(&["cat", &path]);
    stdout_of(&out)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("read {path}: {}", describe(&out)))
}

/// `synprobe bench` at max rate for a second; returns (probes it says it sent, frames the
/// device got meanwhile).
fn bench(tb: &Testbed, env: &[&str], target: &str, threads: &str) -> (u64, u64) {
    let before = device_frames(tb);
    let bin = synprobe_bin();
    let mut args: Vec<&str> = vec!["env"];
    args.extend_from_slice(env);
    args.extend_from_slice(&[
        &bin,
        "bench",
        target,
        "-p",
        "1-1000",
        "--duration",
        "1s",
        "--rate",
        "max",
        "--send-threads",
        threads,
        "--gateway-mac",
        FAKE_MAC,
    ]);
    let out = tb.in_scan(&args);
    assert_eq!(code(out.status), Some(0), "{}", describe(&out));
    let line = stdout_of(&out);
    let json: serde_json::Value = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("bench JSON ({e}): {}", describe(&out)));
    let sent = json["probes_sent"].as_u64().expect("probes_sent");
    assert!(sent > 0, "{}", describe(&out));
    (sent, device_frames(tb) - before)
}

#[test]
fn every_probe_counted_as_sent_reaches_the_device() {
    if !require_root() {
        return;
    }
    let _heavy = heavy_lock();
    let tb = Testbed::up_mode("discard");
    for (env, label) in [
        (&[][..], "tx ring"),
        (&["SYNPROBE_SEND_MODE=mmsg"][..], "sendmmsg"),
    ] {
        for (target, threads) in [
            ("198.18.0.0/16", "2"),
            ("198.18.0.0/16", "1"),
            ("2001:db8:1::/112", "2"),
        ] {
            let (sent, frames) = bench(&tb, env, target, threads);
            assert_eq!(
                frames, sent,
                "{label}, {target}, {threads} thread(s): the device got {frames} frames for {sent} probes"
            );
        }
    }
}

#[test]
fn a_max_rate_scan_sends_each_pair_exactly_once() {
    if !require_root() {
        return;
    }
    let _heavy = heavy_lock();
    let tb = Testbed::up_mode("discard");
    let before = device_frames(&tb);
    // 65,536 pairs, no retries: exactly one frame per pair, none lost, none doubled.
    let out = tb.synprobe(&[
        "scan",
        "198.18.0.0/18",
        "-p",
        "80,443,8080,8443",
        "--rate",
        "max",
        "--retries",
        "0",
        "--wait",
        "0s",
        "--states",
        "open",
        "--no-progress",
        "--gateway-mac",
        FAKE_MAC,
    ]);
    // Nothing answers, so nothing is open: an empty stdout.
    assert_eq!(code(out.status), Some(0), "{}", describe(&out));
    assert_eq!(stdout_of(&out), "", "{}", describe(&out));
    let stderr = stderr_of(&out);
    assert_eq!(
        summary_count(&stderr, "sent"),
        Some(65_536),
        "{}",
        describe(&out)
    );
    assert_eq!(device_frames(&tb) - before, 65_536, "{}", describe(&out));
}
