//! deploy/synprobe-watch.service runs synprobe as a non-root user with only CAP_NET_RAW
//! and CAP_NET_ADMIN (ambient, and the whole bounding set) under no-new-privs. This runs
//! the same engine (`check`) with exactly that, in the testbed, and asserts the verdicts a
//! root run gives: the unit's capability set is enough.
mod common;

use common::*;

/// setpriv arguments matching the unit's User / AmbientCapabilities /
/// CapabilityBoundingSet / NoNewPrivileges lines.
const AS_THE_UNIT: [&str; 8] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all,+net_raw,+net_admin",
    "--ambient-caps=-all,+net_raw,+net_admin",
    "--bounding-set=-all,+net_raw,+net_admin",
    "--no-new-privs",
];

#[test]
fn the_units_capabilities_are_enough_to_check() {
    if !require_root() {
        return;
    }
    // The build tree may not be traversable by nobody: run a public copy.
    let copy = PublicCopy::of(synprobe_bin());
    let tb = Testbed::up();
    tb.listen(80);
    let mut args: Vec<&str> = AS_THE_UNIT.to_vec();
    args.push(copy.bin.to_str().expect("utf-8 temp path"));
    args.extend_from_slice(&["check", "198.18.0.1:80", "198.18.0.1:81", "--timeout", "1s"]);
    let out = tb.in_scan(&args);
    let lines = result_lines(&out, 1, 2);
    assert!(
        lines[0].starts_with("198.18.0.1:80 healthy: SYN-ACK in "),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "198.18.0.1:81 unhealthy: RST, nothing is listening on port 81",
        "{}",
        describe(&out)
    );
}
