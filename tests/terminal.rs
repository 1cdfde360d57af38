//! On a terminal that shows both the results and the progress line, no result lands at
//! the end of a progress line: the line is taken off while results are written and put
//! back after. `script` gives synprobe a terminal for stdout and stderr at once.
mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn results_and_progress_share_a_terminal_without_mixing() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    // 16,384 open pairs at 5k/s: about 3 s, so the progress line is drawn a few times.
    let inner = format!(
        "ip netns exec {} {} scan 198.18.0.0/18 -p 80 --rate 5k --retries 0 --wait 500ms",
        tb.scan_ns,
        synprobe_bin()
    );
    let out = run_bounded(
        Command::new("script").args(["-qec", &inner, "/dev/null"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", describe(&out));
    // Carriage returns start a new screen line; the erase-line codes print nothing.
    let screen = String::from_utf8_lossy(&out.stdout)
        .replace('\r', "\n")
        .replace("\x1b[K", "");
    let progress: Vec<&str> = screen.lines().filter(|l| l.contains(" elapsed")).collect();
    assert!(!progress.is_empty(), "a progress line was drawn: {screen}");
    for line in &progress {
        assert!(
            line.trim_end().ends_with("elapsed"),
            "a result was written onto the progress line: {line:?}"
        );
    }
    let results = screen
        .lines()
        .filter(|l| l.starts_with("198.18.") && l.contains(":80 open syn-ack"))
        .count();
    assert_eq!(results, 16_384, "every result on a line of its own");
}
