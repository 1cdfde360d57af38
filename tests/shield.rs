//! The SYN-ACK shield (src/io/shield.rs): while synprobe runs, the prober host's kernel
//! never sees the SYN-ACKs to its source ports, so the only RST a target gets is
//! synprobe's own teardown; with `--kernel-resets` the kernel answers each of them too.
//! The kernel run comes after the shielded ones, so it also shows that the program went
//! away with the process that attached it.
mod common;

use common::*;
use std::thread::sleep;
use std::time::Duration;

/// `N teardown RSTs sent` (`1 teardown RST sent`) from the summary.
fn teardown_rsts(stderr: &str) -> u64 {
    let words: Vec<&str> = stderr.split_whitespace().collect();
    words
        .windows(3)
        .filter(|w| w[1] == "teardown" && (w[2] == "RSTs" || w[2] == "RST"))
        .filter_map(|w| w[0].replace(',', "").parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no \"N teardown RSTs\" in the summary:\n{stderr}"))
}

#[test]
fn the_target_gets_only_our_rsts_unless_kernel_resets_is_asked() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    tb.count_at_tgt(
        "shield-rst",
        &["-p", "tcp", "--dport", "80", "--tcp-flags", "RST", "RST"],
    );
    let mut before = 0;
    let mut seen_since = |tb: &Testbed| {
        // The last RSTs of a run may still be on the veth when the scan exits.
        sleep(Duration::from_millis(300));
        let now = tb.counted_at_tgt("shield-rst");
        let seen = now - before;
        before = now;
        seen
    };
    for target in ["198.18.1.0/24", "2001:db8:1::100/120"] {
        let (out, rows) = tb.scan_every_state(target, "80");
        assert_eq!(rows.len(), 256, "{}", describe(&out));
        assert!(
            rows.iter().all(|r| r.contains(" open ")),
            "{}",
            describe(&out)
        );
        let sent = teardown_rsts(&stderr_of(&out));
        assert_eq!(sent, 256, "{}", describe(&out));
        assert_eq!(
            seen_since(&tb),
            256,
            "shielded: only our RSTs\n{}",
            describe(&out)
        );
    }
    for target in ["198.18.1.0/24", "2001:db8:1::100/120"] {
        let out = tb.synprobe(&[
            "scan",
            target,
            "-p",
            "80",
            "--kernel-resets",
            "--format",
            "jsonl",
            "--no-progress",
        ]);
        assert_eq!(
            parse_jsonl(&stdout_of(&out)).len(),
            256,
            "{}",
            describe(&out)
        );
        assert_eq!(teardown_rsts(&stderr_of(&out)), 256, "{}", describe(&out));
        assert_eq!(
            seen_since(&tb),
            512,
            "--kernel-resets: ours and the kernel's\n{}",
            describe(&out)
        );
    }
}
