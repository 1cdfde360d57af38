//! The kernel's rtnetlink answers are trusted more than the network's bytes, but a parser
//! that panics on a malformed one would take the whole run down: every parser over them
//! must return an error instead.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synprobe::path::netlink_msg::{messages, parse_get_reply, parse_route, parse_rule_dst};

fuzz_target!(|buf: &[u8]| {
    let _ = parse_get_reply(buf, 1);
    for m in messages(buf).flatten() {
        let _ = parse_route(&m);
        let _ = parse_rule_dst(&m);
        let _ = synprobe::path::neigh_msg::parse_neigh(&m);
    }
});
