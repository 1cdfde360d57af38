//! Every byte string is a possible frame from the network: parse_reply, checksums_ok and the
//! proof check must never panic, and whatever they accept must hold together.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synprobe::classify::{checksums_ok, parse_reply};
use synprobe::cookie::{CookieKey, SourcePorts};
use synprobe::probe::Reason;
use synprobe::proof::{Verdict, judge};

fuzz_target!(|frame: &[u8]| {
    let _ = checksums_ok(frame);
    if let Some(r) = parse_reply(frame) {
        // A blind forger cannot make a frame prove anything (2^-32 a try); a bare SYN at most
        // earns an answer.
        match judge(&r, &CookieKey::from_seed(1), SourcePorts::DEFAULT) {
            Verdict::Proven { .. } => {}
            Verdict::Challenge { .. } | Verdict::UnverifiedSyn => {
                assert!(r.reason == Reason::Syn && r.echoed_seq.is_none())
            }
            Verdict::Ignored => {}
        }
        assert_eq!(r.target.is_ipv4(), r.local.is_ipv4());
        match r.reason {
            Reason::SynAck => assert_eq!(r.echoed_seq, Some(r.ack.wrapping_sub(1))),
            // A bare SYN echoes nothing; the ACK ending a split handshake echoes ack - 1.
            Reason::Syn => assert!(r.echoed_seq.is_none_or(|e| e == r.ack.wrapping_sub(1))),
            Reason::Icmp(_) => assert!(r.echoed_seq.is_some() && r.tsecr.is_none()),
            Reason::Rst => {}
            Reason::NoResponse | Reason::NoRoute | Reason::NoNeighbour => {
                panic!("parse_reply never says {}", r.reason)
            }
        }
    }
});
