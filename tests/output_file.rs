//! Results reach an `-o` file while the scan still runs (at most a second late), so
//! `tail -f` follows a long scan and a kill loses at most that second.
mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn results_reach_the_output_file_during_the_scan() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let dir = std::env::temp_dir().join(format!("synprobe-live-{}", tb.name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("out.txt");
    // 1,024 open pairs at 200/s: about 5 s of sending, and fewer bytes than the output
    // buffer holds, so only the periodic flush can show them before the end.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &tb.scan_ns, &synprobe_bin()])
        .args(["scan", "198.18.0.0/22", "-p", "80", "--rate", "200", "-o"])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn synprobe");
    // Wait (bounded) for the first results in the file while the scan is still running.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen_while_running = 0;
    while Instant::now() < deadline && child.try_wait().expect("wait").is_none() {
        let n = std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
        if n > 0 {
            seen_while_running = n;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let running = child.try_wait().expect("wait").is_none();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        running,
        "the scan ended before its output file showed a result"
    );
    assert!(seen_while_running > 0);
}
