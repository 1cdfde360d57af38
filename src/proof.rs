//! What a reply proves. A port is open, closed or filtered only on a reply that carries the
//! keyed cookie of our probe: a blind forger, who never saw the SYN, must guess its 32-bit
//! sequence number (and the cookie-chosen source port) to make one count.
//!
//! A bare SYN (a split handshake: the host answers our SYN with a SYN of its own) echoes no
//! sequence number, so on its own it proves nothing: the source-port check alone is passed
//! by one forged SYN in `SourcePorts::len()`. We answer it as a TCP stack in SYN-SENT
//! answers a simultaneous open, statelessly: a SYN-ACK whose sequence number is the pair's
//! cookie. A real host acknowledges it (an ACK, or a SYN-ACK) with cookie + 1, which is
//! checked exactly like a SYN-ACK's acknowledgement; only that makes the port open.

use crate::classify::Reply;
use crate::cookie::{CookieKey, SourcePorts};
use crate::probe::Reason;

/// What to do with a parsed reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It carries our cookie: the pair's state is `reason`'s. `teardown` is the sequence
    /// number of the RST that makes the target drop its half-open connection (open ports).
    Proven {
        reason: Reason,
        teardown: Option<u32>,
    },
    /// A bare SYN that passes the source-port check: answer it with a SYN-ACK carrying
    /// `seq` (the pair's cookie) and acknowledging `ack`. Proves nothing yet.
    Challenge { seq: u32, ack: u32 },
    /// A bare SYN that fails even the port check.
    UnverifiedSyn,
    /// Anything else that does not carry our cookie.
    Ignored,
}

impl Verdict {
    /// Whether the reply was a bare SYN (answered or not): the summary counts these apart.
    pub fn is_bare_syn(&self) -> bool {
        matches!(self, Verdict::Challenge { .. } | Verdict::UnverifiedSyn)
    }
}

/// Judge a reply against the run's key and source ports.
pub fn judge(r: &Reply, key: &CookieKey, ports: SourcePorts) -> Verdict {
    let cookie = key.cookie(r.local, r.target, r.target_port, ports);
    if r.local_port != cookie.sport {
        return if r.reason == Reason::Syn && r.echoed_seq.is_none() {
            Verdict::UnverifiedSyn
        } else {
            Verdict::Ignored
        };
    }
    let Some(echoed) = r.echoed_seq else {
        return match r.reason {
            Reason::Syn => Verdict::Challenge {
                seq: cookie.seq,
                ack: r.seq.wrapping_add(1),
            },
            // An RST without ACK echoes nothing.
            _ => Verdict::Ignored,
        };
    };
    // Some stacks (and middleboxes) reset with ack = our sequence number rather than + 1;
    // zmap accepts both. `echoed` is ack - 1, so ack itself is `echoed + 1`.
    let matches =
        echoed == cookie.seq || (r.reason == Reason::Rst && echoed.wrapping_add(1) == cookie.seq);
    if !matches {
        return Verdict::Ignored;
    }
    let teardown = (r.reason.state() == crate::probe::State::Open).then_some(r.ack);
    Verdict::Proven {
        reason: r.reason,
        teardown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::parse_reply;
    use crate::probe::Unreachable;
    use crate::wire::{ControlFields, FRAME_CAP, build_control, tcp};
    use std::net::IpAddr;

    const ME: &str = "198.19.0.1";
    const TARGET: &str = "198.18.7.9";
    const ME6: &str = "2001:db8:ff::1";
    const TARGET6: &str = "2001:db8:1::9";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn key() -> CookieKey {
        CookieKey::from_seed(42)
    }

    /// A segment from the target to us, as the wire would carry it.
    fn from_target(target: &str, me: &str, sport: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
        ControlFields {
            ack,
            flags,
            ..ControlFields::rst(([2; 6], [4; 6]), ip(target), ip(me), (7000, sport), seq, 64)
        }
        .to_frame()
    }

    fn judged(frame: &[u8]) -> Verdict {
        judge(&parse_reply(frame).unwrap(), &key(), SourcePorts::DEFAULT)
    }

    #[test]
    fn bare_syn_is_answered_with_the_cookie_never_opened() {
        for (me, target) in [(ME, TARGET), (ME6, TARGET6)] {
            let c = key().cookie(ip(me), ip(target), 7000, SourcePorts::DEFAULT);
            let syn = from_target(target, me, c.sport, 0x5555_0000, 0, tcp::FLAG_SYN);
            let v = judged(&syn);
            assert_eq!(
                v,
                Verdict::Challenge {
                    seq: c.seq,
                    ack: 0x5555_0001
                }
            );
            assert!(v.is_bare_syn());
            // The same SYN at any other source port proves nothing and gets no answer.
            let other = if c.sport == 65535 { 61001 } else { c.sport + 1 };
            let syn = from_target(target, me, other, 0x5555_0000, 0, tcp::FLAG_SYN);
            assert_eq!(judged(&syn), Verdict::UnverifiedSyn);
        }
    }

    /// The whole exchange, frame to frame: their SYN, our SYN-ACK, their ACK.
    #[test]
    fn split_handshake_round_trip() {
        for (me, target) in [(ME, TARGET), (ME6, TARGET6)] {
            let c = key().cookie(ip(me), ip(target), 7000, SourcePorts::DEFAULT);
            let their_seq = 0xffff_ffff; // wraps
            let syn = from_target(target, me, c.sport, their_seq, 0, tcp::FLAG_SYN);
            let Verdict::Challenge { seq, ack } = judged(&syn) else {
                panic!("no challenge");
            };
            // What we send: a SYN-ACK from us, parsed as the target would see it.
            let ours = ControlFields {
                ack,
                flags: tcp::FLAG_SYN | tcp::FLAG_ACK,
                ..ControlFields::rst(
                    ([4; 6], [2; 6]),
                    ip(me),
                    ip(target),
                    (c.sport, 7000),
                    seq,
                    64,
                )
            };
            let mut out = [0u8; FRAME_CAP];
            let n = build_control(&mut out, &ours);
            let seen = parse_reply(&out[..n]).unwrap();
            assert_eq!(
                (seen.reason, seen.seq, seen.ack),
                (Reason::SynAck, c.seq, 0)
            );
            // Their final ACK acknowledges cookie + 1: open, reason syn, torn down at that ack.
            let fin = from_target(target, me, c.sport, 0, c.seq.wrapping_add(1), tcp::FLAG_ACK);
            assert_eq!(
                judged(&fin),
                Verdict::Proven {
                    reason: Reason::Syn,
                    teardown: Some(c.seq.wrapping_add(1))
                }
            );
            // Any other acknowledgement is ignored.
            for wrong in [c.seq, c.seq.wrapping_add(2), c.seq ^ 0x8000_0000, 0] {
                let f = from_target(target, me, c.sport, 0, wrong, tcp::FLAG_ACK);
                assert_eq!(judged(&f), Verdict::Ignored, "ack {wrong:#x}");
            }
        }
    }

    #[test]
    fn syn_ack_and_rst_must_echo_the_cookie() {
        let c = key().cookie(ip(ME), ip(TARGET), 7000, SourcePorts::DEFAULT);
        let syn_ack = tcp::FLAG_SYN | tcp::FLAG_ACK;
        let rst_ack = tcp::FLAG_RST | tcp::FLAG_ACK;
        let seq1 = c.seq.wrapping_add(1);
        let cases = [
            (syn_ack, seq1, Some((Reason::SynAck, Some(seq1)))),
            (syn_ack, c.seq, None),
            (rst_ack, seq1, Some((Reason::Rst, None))),
            // zmap's rule: an RST acknowledging our sequence number itself counts too.
            (rst_ack, c.seq, Some((Reason::Rst, None))),
            (rst_ack, c.seq.wrapping_sub(1), None),
            (rst_ack, c.seq.wrapping_add(2), None),
            // An RST without ACK echoes nothing.
            (tcp::FLAG_RST, seq1, None),
        ];
        for (flags, ack, want) in cases {
            let f = from_target(TARGET, ME, c.sport, 9, ack, flags);
            let want = want.map_or(Verdict::Ignored, |(reason, teardown)| Verdict::Proven {
                reason,
                teardown,
            });
            assert_eq!(judged(&f), want, "flags {flags:#x} ack {ack:#x}");
            // Right numbers at the wrong port prove nothing either.
            let other = if c.sport == 65535 { 61001 } else { c.sport + 1 };
            let f = from_target(TARGET, ME, other, 9, ack, flags);
            assert_eq!(judged(&f), Verdict::Ignored);
        }
    }

    #[test]
    fn icmp_must_quote_the_cookie() {
        let c = key().cookie(ip(ME), ip(TARGET), 7000, SourcePorts::DEFAULT);
        let r = Reply {
            target: ip(TARGET),
            target_port: 7000,
            local: ip(ME),
            local_port: c.sport,
            echoed_seq: Some(c.seq),
            seq: 0,
            ack: 0,
            reason: Reason::Icmp(Unreachable::Port),
            ttl: 60,
            tsecr: None,
        };
        let proven = Verdict::Proven {
            reason: Reason::Icmp(Unreachable::Port),
            teardown: None,
        };
        assert_eq!(judge(&r, &key(), SourcePorts::DEFAULT), proven);
        // An ICMP error quoting our sequence number + 1 is not an RST's off-by-one.
        let r = Reply {
            echoed_seq: Some(c.seq.wrapping_sub(1)),
            ..r
        };
        assert_eq!(judge(&r, &key(), SourcePorts::DEFAULT), Verdict::Ignored);
    }

    /// A blind forger: random replies of every kind at the right ports never prove anything
    /// (each has a 2^-32 chance; 200,000 tries find none), and bare SYNs only get answered.
    #[test]
    fn random_forgeries_prove_nothing() {
        let mut r = crate::wire::testdata::Rng(0x1234_5678_9abc_def1);
        let kinds = [
            tcp::FLAG_SYN | tcp::FLAG_ACK,
            tcp::FLAG_RST | tcp::FLAG_ACK,
            tcp::FLAG_ACK,
            tcp::FLAG_SYN,
        ];
        for i in 0..200_000u64 {
            let target = format!("198.18.{}.{}", (i >> 8) & 0xff, i & 0xff);
            let c = key().cookie(ip(ME), ip(&target), 7000, SourcePorts::DEFAULT);
            let flags = kinds[(r.next() % 4) as usize];
            let f = from_target(
                &target,
                ME,
                c.sport,
                r.next() as u32,
                r.next() as u32,
                flags,
            );
            match judged(&f) {
                Verdict::Proven { .. } => panic!("forged {flags:#x} proved a state"),
                Verdict::Challenge { .. } => assert_eq!(flags, tcp::FLAG_SYN),
                _ => {}
            }
        }
    }
}
