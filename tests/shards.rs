//! Four shards of one scan, run in parallel on the testbed, against the same scan
//! unsharded: together they probe every pair exactly once, and `synprobe merge` of their
//! outputs is the unsharded result, in merge's order (address, then port). A merge with
//! one shard left out names the missing one.
mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// A /20 inside the testbed's 198.18.0.0/16 x one open, one closed, one dropped port.
const NET: &str = "198.18.32.0/20";
const HOSTS: u32 = 4096;
const FIRST: Ipv4Addr = Ipv4Addr::new(198, 18, 32, 0);
const PORTS: &str = "80,81,82";
const SEED: &str = "4242";
const SHARDS: usize = 4;
const LIMIT: Duration = Duration::from_secs(60);

/// (ip, port) -> (state, reason, ttl): everything but the RTT, which differs run to run.
type Pair = (Ipv4Addr, u16);
type Verdict = (String, String, Option<u64>);

fn verdicts(rows: &[Row]) -> Vec<(Pair, Verdict)> {
    rows.iter()
        .map(|r| {
            let ip: Ipv4Addr = r.ip.parse().unwrap_or_else(|_| panic!("ip {:?}", r.ip));
            ((ip, r.port), (r.state.clone(), r.reason.clone(), r.ttl))
        })
        .collect()
}

/// The header line and the result rows of a `--header` jsonl output.
fn split_header(text: &str) -> (serde_json::Value, Vec<Row>) {
    let (first, rest) = text.split_once('\n').expect("a header line, then results");
    let header: serde_json::Value = serde_json::from_str(first).expect("header is JSON");
    assert_eq!(header["synprobe"], "header", "first line: {first}");
    (header, parse_jsonl(rest))
}

fn scan_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "scan",
        NET,
        "-p",
        PORTS,
        "--seed",
        SEED,
        "--states",
        "all",
        "--format",
        "jsonl",
        "--rate",
        "20000",
        "--wait",
        "1s",
        "--no-progress",
    ];
    v.extend_from_slice(extra);
    v
}

fn merge(files: &[String]) -> Output {
    let mut cmd = Command::new(synprobe_bin());
    cmd.arg("merge").args(files);
    run_bounded(&mut cmd, LIMIT)
}

/// Every pair exactly once with the testbed's ground truth: 80 open, 81 closed, 82 dropped.
fn assert_ground_truth(map: &BTreeMap<Pair, Verdict>, out: &Output) {
    assert_eq!(map.len() as u32, HOSTS * 3, "pairs; {}", describe(out));
    for ((ip, port), (state, reason, _)) in map {
        let off = u32::from(*ip).wrapping_sub(u32::from(FIRST));
        assert!(off < HOSTS, "{ip} outside {NET}");
        let want = match port {
            80 => ("open", "syn-ack"),
            81 => ("closed", "rst"),
            82 => ("filtered", "no-response"),
            p => panic!("port {p} not scanned"),
        };
        assert_eq!(
            (state.as_str(), reason.as_str()),
            want,
            "{ip}:{port}; stderr: {}",
            stderr_of(out)
        );
    }
}

#[test]
fn four_parallel_shards_cover_the_scan_once_and_merge_into_it() {
    if !require_root() {
        return;
    }
    let tmp = TempDir::new("shards");
    let tb = Testbed::up();
    tb.listen(80);
    tb.iptables_tgt(&[
        "-I", "INPUT", "1", "-p", "tcp", "--dport", "82", "-j", "DROP",
    ]);
    tb.ip6tables_tgt(&[
        "-I", "INPUT", "1", "-p", "tcp", "--dport", "82", "-j", "DROP",
    ]);

    // The whole scan in one run, with its header (shard 1/1).
    let whole = tb.synprobe_within(&scan_args(&["--header"]), LIMIT);
    assert_eq!(whole.status.code(), Some(0), "{}", describe(&whole));
    let (whole_header, whole_rows) = split_header(&stdout_of(&whole));
    assert_eq!(whole_header["shard"], serde_json::json!([1, 1]));
    let whole_list = verdicts(&whole_rows);
    let whole_map: BTreeMap<Pair, Verdict> = whole_list.iter().cloned().collect();
    assert_eq!(
        whole_map.len(),
        whole_list.len(),
        "a pair twice in the unsharded run"
    );
    assert_ground_truth(&whole_map, &whole);

    // The same scan as four shards, all at once.
    let files: Vec<String> = (1..=SHARDS)
        .map(|i| tmp.file(&format!("shard-{i}.jsonl")))
        .collect();
    let outs: Vec<Output> = std::thread::scope(|s| {
        let runs: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let shard = format!("{}/{SHARDS}", i + 1);
                let tb = &tb;
                s.spawn(move || {
                    tb.synprobe_within(
                        &scan_args(&["--shard", &shard, "--header", "-o", file]),
                        LIMIT,
                    )
                })
            })
            .collect();
        runs.into_iter()
            .map(|h| h.join().expect("shard thread"))
            .collect()
    });
    let mut shard_maps = Vec::new();
    for (i, (out, file)) in outs.iter().zip(&files).enumerate() {
        assert_eq!(
            out.status.code(),
            Some(0),
            "shard {}: {}",
            i + 1,
            describe(out)
        );
        let text = std::fs::read_to_string(file).expect("shard output");
        let (header, rows) = split_header(&text);
        // One scan: the same id as the unsharded run; each file says which shard it is.
        assert_eq!(header["scan_id"], whole_header["scan_id"], "{header}");
        assert_eq!(header["seed"], serde_json::json!(4242u64));
        assert_eq!(header["shard"], serde_json::json!([i + 1, SHARDS]));
        let list = verdicts(&rows);
        let map: BTreeMap<Pair, Verdict> = list.iter().cloned().collect();
        assert_eq!(map.len(), list.len(), "a pair twice in shard {}", i + 1);
        assert!(!map.is_empty(), "shard {} found nothing", i + 1);
        shard_maps.push(map);
    }
    // Pairwise disjoint, and together exactly the unsharded result.
    for a in 0..SHARDS {
        for b in a + 1..SHARDS {
            let ka: BTreeSet<&Pair> = shard_maps[a].keys().collect();
            let both = shard_maps[b].keys().filter(|k| ka.contains(k)).count();
            assert_eq!(both, 0, "shards {} and {} share pairs", a + 1, b + 1);
        }
    }
    let union: BTreeMap<Pair, Verdict> = shard_maps
        .iter()
        .flatten()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    assert_eq!(
        union, whole_map,
        "union of the shards != the unsharded scan"
    );

    // merge of the four == the unsharded result, in address-then-port order.
    let merged = merge(&files);
    assert_eq!(merged.status.code(), Some(0), "{}", describe(&merged));
    let merged_list = verdicts(&parse_jsonl(&stdout_of(&merged)));
    let mut whole_sorted = whole_list.clone();
    whole_sorted.sort_by_key(|(pair, _)| *pair);
    assert_eq!(merged_list, whole_sorted, "merge != unsharded (sorted)");
    let err = stderr_of(&merged);
    let id = whole_header["scan_id"].as_str().expect("scan id");
    assert!(
        err.contains(&format!("scan {id} (seed 4242, targets {NET}, ports {PORTS}): shards present: 1,2,3,4 of 4; none missing")),
        "stderr: {err}"
    );

    // One shard left out: named, and the rest merged.
    let three = [files[0].clone(), files[1].clone(), files[3].clone()];
    let partial = merge(&three);
    assert_eq!(partial.status.code(), Some(0), "{}", describe(&partial));
    let err = stderr_of(&partial);
    assert!(
        err.contains("shards present: 1,2,4 of 4; missing: 3"),
        "stderr: {err}"
    );
    let partial_list = verdicts(&parse_jsonl(&stdout_of(&partial)));
    let mut want: Vec<(Pair, Verdict)> = [0, 1, 3]
        .iter()
        .flat_map(|&i| shard_maps[i].iter().map(|(k, v)| (*k, v.clone())))
        .collect();
    want.sort_by_key(|(pair, _)| *pair);
    assert_eq!(partial_list, want);
    assert!(Path::new(&files[2]).exists());
}
