//! ARP replies and Neighbor Advertisements come from anyone on the link: the answer parser
//! must never panic, and what it accepts must hold together.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synprobe::wire::neighbour::parse_answer;

fuzz_target!(|frame: &[u8]| {
    if let Some((ip, _mac)) = parse_answer(frame) {
        // An ARP answer names an IPv4 address, an advertisement an IPv6 one.
        assert_eq!(ip.is_ipv4(), frame[12..14] == [0x08, 0x06]);
    }
});
