//! Without CAP_NET_RAW synprobe stops with exit 1 and says how to grant it.
mod common;

use common::*;

/// As root: a public copy of the binary run as nobody with no capabilities, in a testbed's
/// prober namespace. Without root the test is already unprivileged: the binary runs as it
/// is (it cannot send), so this test needs no root.
fn unprivileged_run(sub: &[&str]) {
    let out = if is_root() {
        if !require_root() {
            return;
        }
        // The build tree may not be traversable by nobody: run a public copy.
        let copy = PublicCopy::of(synprobe_bin());
        let tb = Testbed::up();
        let mut args: Vec<&str> = UNPRIVILEGED.to_vec();
        args.push(copy.bin.to_str().expect("utf-8 temp path"));
        args.extend_from_slice(sub);
        tb.in_scan(&args)
    } else {
        run_bounded(
            std::process::Command::new(synprobe_bin()).args(sub),
            std::time::Duration::from_secs(30),
        )
    };
    assert_eq!(out.status.code(), Some(1), "{sub:?}: {}", describe(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("CAP_NET_RAW"),
        "{sub:?}: stderr should name CAP_NET_RAW: {err}"
    );
    assert!(
        err.contains("setcap"),
        "{sub:?}: stderr should suggest setcap: {err}"
    );
    assert!(
        out.stdout.is_empty(),
        "{sub:?}: no result without privilege: {}",
        describe(&out)
    );
}

#[test]
fn scan_without_cap_net_raw_exits_1_naming_setcap() {
    unprivileged_run(&["scan", "127.0.0.1", "-p", "80"]);
}

#[test]
fn check_without_cap_net_raw_exits_1_naming_setcap() {
    unprivileged_run(&["check", "127.0.0.1:80"]);
}
