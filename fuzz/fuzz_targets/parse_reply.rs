//! Every byte string is a possible frame from the network: parse_reply must never panic, and
//! whatever it accepts must hold together.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synprobe::classify::parse_reply;
use synprobe::probe::Reason;

fuzz_target!(|frame: &[u8]| {
    if let Some(r) = parse_reply(frame) {
        assert_eq!(r.target.is_ipv4(), r.local.is_ipv4());
        match r.reason {
            Reason::SynAck => assert_eq!(r.echoed_seq, Some(r.ack.wrapping_sub(1))),
            Reason::Syn => assert_eq!(r.echoed_seq, None),
            Reason::Icmp(_) => assert!(r.echoed_seq.is_some() && r.tsecr.is_none()),
            Reason::Rst => {}
            Reason::NoResponse => panic!("parse_reply never says no-response"),
        }
    }
});
