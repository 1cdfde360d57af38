//! The classic BPF program the receive socket runs in the kernel, so only frames that can
//! be replies to our probes ever reach user space: TCP to our addresses and source-port
//! range, ICMP / ICMPv6 to our addresses, untagged or behind an 802.1Q tag, and IPv6 with
//! extension headers to our addresses. Everything else costs us nothing.
//!
//! Conditional jumps in classic BPF reach at most 255 instructions ahead. The builder
//! therefore compiles every "if cond goto L" as a short conditional skip over an
//! unconditional `ja L` (32-bit offset), so the program stays valid for any number of
//! local addresses.

use std::net::IpAddr;

use super::IoError;
use super::recv::RxFilter;

const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const IMM: u16 = 0x00;
const ADD: u16 = 0x00;
const LSH: u16 = 0x60;
const AND: u16 = 0x50;
const K: u16 = 0x00;
const X: u16 = 0x08;
const TAX: u16 = 0x00;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;

/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;
/// Bytes of an accepted frame handed to the socket: all of it.
const ACCEPT_LEN: u32 = 0x0004_0000;

// Offsets from the start of the IP header, which starts at 14, or at 18 behind an 802.1Q tag
// (when the kernel has not already moved the tag into the frame's metadata). The program
// keeps the tag's length (0 or 4) in X and loads relative to it, so every address is compared
// once for both layouts.
const ETHERTYPE: u32 = 12;
const IP: u32 = 14;
const VLAN_TAG_LEN: u32 = 4;
const IP4_FRAG: u32 = IP + 6;
const IP4_PROTO: u32 = IP + 9;
const IP4_DST: u32 = IP + 16;
const IP6_NEXT: u32 = IP + 6;
const IP6_DST: u32 = IP + 24;
const IP6_TCP_DPORT: u32 = IP + 40 + 2;
const TCP_DPORT: u32 = IP + 2;
const ARP_OPCODE: u32 = IP + 6;
/// IPv6 extension headers a reply may carry before its TCP or ICMPv6 header (hop-by-hop,
/// routing, fragment, destination options): classic BPF cannot walk the chain, so such a
/// frame to our address goes up and user space walks it.
const IP6_EXTENSIONS: [u32; 4] = [0, 43, 44, 60];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    Arp,
    Tagged,
    Ethertype,
    V4,
    V4Local,
    V4Tcp,
    V6,
    V6Local,
    V6Tcp,
    PortOk,
    Accept,
    Reject,
}

enum Op {
    Stmt(u16, u32),
    /// Goto `Label` when the condition holds, fall through otherwise.
    If(u16, u32, Label),
    Goto(Label),
    Mark(Label),
}

impl Op {
    fn size(&self) -> usize {
        match self {
            Op::Stmt(..) | Op::Goto(_) => 1,
            Op::If(..) => 2,
            Op::Mark(_) => 0,
        }
    }
}

/// Compile `filter` into a classic BPF program for SO_ATTACH_FILTER.
pub(crate) fn filter_program(filter: &RxFilter) -> Result<Vec<libc::sock_filter>, IoError> {
    let (first, last) = (u32::from(filter.ports.first), u32::from(filter.ports.last));
    let mut ops = Vec::new();
    ops.extend([
        Op::Stmt(LD | H | ABS, ETHERTYPE),
        Op::If(JMP | JEQ, 0x8100, Label::Tagged),
        Op::Stmt(LDX | IMM, 0),
        Op::Goto(Label::Ethertype),
        Op::Mark(Label::Tagged),
        Op::Stmt(LDX | IMM, VLAN_TAG_LEN),
        Op::Mark(Label::Ethertype),
        // Untagged: the ethertype again; tagged: the one behind the tag.
        Op::Stmt(LD | H | IND, ETHERTYPE),
        Op::If(JMP | JEQ, 0x0800, Label::V4),
        Op::If(JMP | JEQ, 0x86DD, Label::V6),
    ]);
    if filter.neighbours {
        // ARP replies (opcode 2); user space keeps those about its targets.
        ops.extend([
            Op::If(JMP | JEQ, 0x0806, Label::Arp),
            Op::Goto(Label::Reject),
            Op::Mark(Label::Arp),
            Op::Stmt(LD | H | IND, ARP_OPCODE),
            Op::If(JMP | JEQ, 2, Label::Accept),
        ]);
    }
    ops.extend([
        Op::Goto(Label::Reject),
        Op::Mark(Label::V4),
        Op::Stmt(LD | W | IND, IP4_DST),
    ]);
    for ip in &filter.local_ips {
        if let IpAddr::V4(a) = ip {
            ops.push(Op::If(JMP | JEQ, u32::from(*a), Label::V4Local));
        }
    }
    ops.extend([
        Op::Goto(Label::Reject),
        Op::Mark(Label::V4Local),
        // A non-first fragment carries no TCP / ICMP header where we would look.
        Op::Stmt(LD | H | IND, IP4_FRAG),
        Op::If(JMP | JSET, 0x1fff, Label::Reject),
        Op::Stmt(LD | B | IND, IP4_PROTO),
        Op::If(JMP | JEQ, 6, Label::V4Tcp),
        Op::If(JMP | JEQ, 1, Label::Accept),
        Op::Goto(Label::Reject),
        Op::Mark(Label::V4Tcp),
        // X += IPv4 header length, so options do not shift the port check.
        Op::Stmt(LD | B | IND, IP),
        Op::Stmt(ALU | AND | K, 0x0f),
        Op::Stmt(ALU | LSH | K, 2),
        Op::Stmt(ALU | ADD | X, 0),
        Op::Stmt(MISC | TAX, 0),
        Op::Stmt(LD | H | IND, TCP_DPORT),
        Op::If(JMP | JGE, first, Label::PortOk),
        Op::Goto(Label::Reject),
        Op::Mark(Label::V6),
    ]);
    for ip in &filter.local_ips {
        if let IpAddr::V6(a) = ip {
            let o = a.octets();
            // Four 32-bit compares; any mismatch moves on to the next address.
            for (i, w) in o.chunks_exact(4).enumerate() {
                let word = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
                ops.push(Op::Stmt(LD | W | IND, IP6_DST + 4 * i as u32));
                // "jne next" expressed as a raw skip: jeq word ? fall : skip rest of this address
                let rest = (3 - i) * 2 + 1; // remaining ld+jeq pairs, then the final goto
                ops.push(Op::Stmt(JMP | JEQ | (rest as u16) << 8, word));
            }
            ops.push(Op::Goto(Label::V6Local));
        }
    }
    ops.extend([
        Op::Goto(Label::Reject),
        Op::Mark(Label::V6Local),
        Op::Stmt(LD | B | IND, IP6_NEXT),
        Op::If(JMP | JEQ, 6, Label::V6Tcp),
        Op::If(JMP | JEQ, 58, Label::Accept),
    ]);
    for ext in IP6_EXTENSIONS {
        ops.push(Op::If(JMP | JEQ, ext, Label::Accept));
    }
    ops.extend([
        Op::Goto(Label::Reject),
        Op::Mark(Label::V6Tcp),
        Op::Stmt(LD | H | IND, IP6_TCP_DPORT),
        Op::If(JMP | JGE, first, Label::PortOk),
        Op::Goto(Label::Reject),
        Op::Mark(Label::PortOk),
        Op::If(JMP | JGT, last, Label::Reject),
        Op::Mark(Label::Accept),
        Op::Stmt(RET, ACCEPT_LEN),
        Op::Mark(Label::Reject),
        Op::Stmt(RET, 0),
    ]);
    assemble(&ops)
}

fn assemble(ops: &[Op]) -> Result<Vec<libc::sock_filter>, IoError> {
    let mut at = Vec::new();
    let mut pc = 0usize;
    for op in ops {
        if let Op::Mark(l) = op {
            at.push((*l, pc));
        }
        pc += op.size();
    }
    if pc > MAX_INSNS {
        return Err(IoError::os(
            format!("BPF filter for this many local addresses needs {pc} instructions"),
            std::io::Error::from_raw_os_error(libc::E2BIG),
        ));
    }
    let target = |l: Label| {
        at.iter()
            .find(|(m, _)| *m == l)
            .map(|(_, p)| *p)
            .unwrap_or(pc)
    };
    let ins = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let mut out = Vec::with_capacity(pc);
    for op in ops {
        match *op {
            Op::Stmt(code, k) if code & 0x07 == JMP => {
                // Raw conditional: jt = 0, jf encoded in the high byte of `code`.
                out.push(ins(code & 0xff, 0, (code >> 8) as u8, k))
            }
            Op::Stmt(code, k) => out.push(ins(code, 0, 0, k)),
            Op::If(code, k, l) => {
                out.push(ins(code, 0, 1, k));
                let here = out.len() + 1;
                out.push(ins(JMP | JA, 0, 0, (target(l) - here) as u32));
            }
            Op::Goto(l) => {
                let here = out.len() + 1;
                out.push(ins(JMP | JA, 0, 0, (target(l) - here) as u32));
            }
            Op::Mark(_) => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::SourcePorts;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A classic-BPF interpreter for the instructions the builder emits; out-of-range loads
    /// reject the frame, as in the kernel.
    fn run(prog: &[libc::sock_filter], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |off: usize, n: usize| -> Option<u32> {
            let b = pkt.get(off..off + n)?;
            Some(b.iter().fold(0u32, |v, &c| (v << 8) | u32::from(c)))
        };
        for _ in 0..10_000 {
            let i = prog[pc];
            pc += 1;
            let k = i.k;
            match i.code {
                c if c == LD | W | ABS => match load(k as usize, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == LD | H | ABS => match load(k as usize, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == LD | B | ABS => match load(k as usize, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == LD | W | IND => match load((x + k) as usize, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == LD | H | IND => match load((x + k) as usize, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == LD | B | IND => match load((x + k) as usize, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                c if c == LDX | IMM => x = k,
                c if c == ALU | AND | K => a &= k,
                c if c == ALU | LSH | K => a <<= k,
                c if c == ALU | ADD | X => a = a.wrapping_add(x),
                c if c == MISC | TAX => x = a,
                c if c == JMP | JA => pc += k as usize,
                c if c & 0x07 == JMP => {
                    let hit = match c & 0xf0 {
                        JEQ => a == k,
                        JGT => a > k,
                        JGE => a >= k,
                        JSET => a & k != 0,
                        other => panic!("unknown jump {other:#x}"),
                    };
                    pc += usize::from(if hit { i.jt } else { i.jf });
                }
                RET => return k,
                other => panic!("unknown opcode {other:#x}"),
            }
        }
        panic!("program did not terminate");
    }

    const ME4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const ME6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    fn filter() -> RxFilter {
        RxFilter {
            local_ips: vec![
                IpAddr::V4(Ipv4Addr::new(198, 18, 0, 9)),
                IpAddr::V4(ME4),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9)),
                IpAddr::V6(ME6),
            ],
            ports: SourcePorts {
                first: 61001,
                last: 62000,
            },
            neighbours: true,
        }
    }

    fn eth(ethertype: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }

    fn ipv4(dst: Ipv4Addr, proto: u8, options: usize, dport: u16, frag: u16) -> Vec<u8> {
        let mut f = eth(0x0800);
        let ihl = 5 + options / 4;
        let mut ip = vec![0u8; ihl * 4];
        ip[0] = 0x40 | ihl as u8;
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&[198, 18, 5, 5]);
        ip[16..20].copy_from_slice(&dst.octets());
        for b in ip.iter_mut().skip(20) {
            *b = 1; // NOP options
        }
        f.extend_from_slice(&ip);
        let mut l4 = vec![0u8; 20];
        l4[0..2].copy_from_slice(&80u16.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&l4);
        f
    }

    fn ipv6(dst: Ipv6Addr, next: u8, dport: u16) -> Vec<u8> {
        let mut f = eth(0x86DD);
        let mut ip = vec![0u8; 40];
        ip[0] = 0x60;
        ip[6] = next;
        ip[7] = 64;
        ip[24..40].copy_from_slice(&dst.octets());
        f.extend_from_slice(&ip);
        let mut l4 = vec![0u8; 20];
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&l4);
        f
    }

    fn accepts(pkt: &[u8]) -> bool {
        run(&filter_program(&filter()).unwrap(), pkt) != 0
    }

    #[test]
    fn accepts_tcp_to_us_in_port_range() {
        assert!(accepts(&ipv4(ME4, 6, 0, 61001, 0)));
        assert!(accepts(&ipv4(ME4, 6, 0, 62000, 0)));
        assert!(accepts(&ipv4(
            Ipv4Addr::new(198, 18, 0, 9),
            6,
            0,
            61500,
            0x4000
        )));
    }

    #[test]
    fn honours_ipv4_options_when_finding_the_port() {
        assert!(accepts(&ipv4(ME4, 6, 8, 61001, 0)));
        assert!(accepts(&ipv4(ME4, 6, 40, 61999, 0)));
        assert!(!accepts(&ipv4(ME4, 6, 8, 80, 0)));
    }

    #[test]
    fn rejects_wrong_port_ip_or_protocol() {
        assert!(!accepts(&ipv4(ME4, 6, 0, 61000, 0)));
        assert!(!accepts(&ipv4(ME4, 6, 0, 62001, 0)));
        assert!(!accepts(&ipv4(
            Ipv4Addr::new(198, 18, 0, 2),
            6,
            0,
            61001,
            0
        )));
        assert!(!accepts(&ipv4(ME4, 17, 0, 61001, 0)));
        assert!(!accepts(&ipv4(ME4, 6, 0, 61001, 0x0010))); // later fragment
        assert!(!accepts(&eth(0x0806)));
        assert!(!accepts(&[]));
    }

    #[test]
    fn accepts_icmp_to_us_only() {
        assert!(accepts(&ipv4(ME4, 1, 0, 0, 0)));
        assert!(!accepts(&ipv4(Ipv4Addr::new(198, 18, 0, 2), 1, 0, 0, 0)));
    }

    #[test]
    fn ipv6_tcp_and_icmpv6() {
        assert!(accepts(&ipv6(ME6, 6, 61001)));
        assert!(accepts(&ipv6(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9),
            6,
            61002
        )));
        assert!(accepts(&ipv6(ME6, 58, 0)));
        assert!(!accepts(&ipv6(ME6, 6, 443)));
        assert!(!accepts(&ipv6(ME6, 17, 61001)));
        assert!(!accepts(&ipv6(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, 1),
            6,
            61001
        )));
        // Differs from a local address only in the last word.
        assert!(!accepts(&ipv6(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
            58,
            0
        )));
        // Truncated IPv6 header.
        assert!(!accepts(&ipv6(ME6, 6, 61001)[..30]));
    }

    #[test]
    fn without_v6_addresses_ipv6_is_rejected() {
        let f = RxFilter {
            local_ips: vec![IpAddr::V4(ME4)],
            ports: SourcePorts::DEFAULT,
            neighbours: false,
        };
        let prog = filter_program(&f).unwrap();
        assert_eq!(run(&prog, &ipv6(ME6, 58, 0)), 0);
        assert_ne!(run(&prog, &ipv4(ME4, 6, 0, 65535, 0)), 0);
    }

    #[test]
    fn many_addresses_still_assemble() {
        let mut f = filter();
        for i in 0..300u16 {
            f.local_ips
                .push(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i)));
        }
        let prog = filter_program(&f).unwrap();
        assert!(prog.len() <= MAX_INSNS);
        assert_ne!(
            run(
                &prog,
                &ipv6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 299), 6, 61001)
            ),
            0
        );
        assert_ne!(run(&prog, &ipv4(ME4, 6, 0, 61001, 0)), 0);
    }

    /// Insert an 802.1Q tag (VLAN 100) after the MAC addresses.
    fn tagged(untagged: &[u8]) -> Vec<u8> {
        let mut f = untagged[..12].to_vec();
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        f.extend_from_slice(&untagged[12..]);
        f
    }

    #[test]
    fn vlan_tagged_frames_get_the_same_checks() {
        assert!(accepts(&tagged(&ipv4(ME4, 6, 0, 61001, 0))));
        assert!(accepts(&tagged(&ipv4(ME4, 6, 8, 61999, 0))));
        assert!(accepts(&tagged(&ipv4(ME4, 1, 0, 0, 0))));
        assert!(accepts(&tagged(&ipv6(ME6, 6, 61001))));
        assert!(accepts(&tagged(&ipv6(ME6, 58, 0))));
        assert!(!accepts(&tagged(&ipv4(ME4, 6, 8, 80, 0))));
        assert!(!accepts(&tagged(&ipv4(
            Ipv4Addr::new(198, 18, 0, 2),
            6,
            0,
            61001,
            0
        ))));
        assert!(!accepts(&tagged(&ipv6(ME6, 6, 443))));
        assert!(!accepts(&tagged(&eth(0x0806))));
        // Truncated behind the tag.
        assert!(!accepts(&tagged(&ipv4(ME4, 6, 0, 61001, 0))[..30]));
    }

    #[test]
    fn ipv6_extension_headers_to_us_go_up() {
        for ext in IP6_EXTENSIONS {
            let ext = ext as u8;
            assert!(accepts(&ipv6(ME6, ext, 0)), "next header {ext}");
            assert!(accepts(&tagged(&ipv6(ME6, ext, 0))), "next header {ext}");
            let other = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
            assert!(!accepts(&ipv6(other, ext, 0)), "next header {ext}");
        }
        assert!(!accepts(&ipv6(ME6, 50, 0)), "ESP is not a reply");
    }

    /// ARP: replies (opcode 2), tagged or not, only when the run resolves neighbours.
    fn arp(opcode: u8) -> Vec<u8> {
        let mut f = eth(0x0806);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, opcode]);
        f.extend_from_slice(&[0; 20]);
        f
    }

    #[test]
    fn arp_replies_only_when_resolving() {
        assert!(accepts(&arp(2)));
        assert!(accepts(&tagged(&arp(2))));
        assert!(!accepts(&arp(1)), "a request is not for us to read");
        let f = RxFilter {
            neighbours: false,
            ..filter()
        };
        assert_eq!(run(&filter_program(&f).unwrap(), &arp(2)), 0);
    }
}
