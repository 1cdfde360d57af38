//! `check` probes exactly the HOST:PORT pairs it is given, not the product of their
//! addresses and ports: a health checker must not touch ports nobody asked about.
mod common;

use common::*;

#[test]
fn check_sends_one_syn_per_asked_pair() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    tb.iptables_tgt(&[
        "-I",
        "INPUT",
        "1",
        "-p",
        "tcp",
        "--syn",
        "-m",
        "comment",
        "--comment",
        "syn-count",
    ]);
    // Two addresses and two ports, but only two of the four combinations asked; the
    // listener answers at once, so no retry is sent.
    let out = tb.synprobe(&[
        "check",
        "198.18.0.1:80",
        "198.18.0.2:80",
        "198.18.0.3:81",
        "--timeout",
        "1s",
    ]);
    assert_eq!(code(out.status), Some(1), "{}", describe(&out));
    let lines: Vec<String> = stdout_of(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{}", describe(&out));
    assert!(
        lines[0].starts_with("198.18.0.1:80 healthy: SYN-ACK"),
        "{}",
        describe(&out)
    );
    assert!(
        lines[1].starts_with("198.18.0.2:80 healthy: SYN-ACK"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        lines[2],
        "198.18.0.3:81 unhealthy: RST, nothing is listening on port 81"
    );
    assert_eq!(
        syns_seen(&tb),
        3,
        "one SYN per asked pair, none to 198.18.0.1:81 and the like"
    );
}

/// SYNs counted by the `syn-count` rule (`-S -v` prints `-c PACKETS BYTES`).
fn syns_seen(tb: &Testbed) -> u64 {
    let out = tb.in_tgt(&["iptables", "-w", "-S", "INPUT", "-v"]);
    let text = stdout_of(&out);
    let line = text
        .lines()
        .find(|l| l.contains("syn-count"))
        .expect("the counting rule");
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .position(|w| *w == "-c")
        .expect("-c in the rule listing");
    words[at + 1].parse().expect("a packet count")
}
