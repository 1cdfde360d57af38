//! Hides our SYN-ACKs from this host's own TCP stack. The kernel owns no socket on the
//! ports probes leave from, so it answers every SYN-ACK with an RST of its own. That RST is
//! redundant (synprobe tears every open port down itself) and not free: on-link, each one
//! first needs the kernel's own ARP / NDP exchange with the target, against a neighbour
//! table of 1,024 entries, so an on-link sweep paid twice the packets of one behind a
//! gateway. masscan's documentation asks its users for a firewall rule; synprobe instead
//! attaches, for the run only, a tcx ingress program that drops SYN-ACKs to its source-port
//! range after the packet sockets have seen them (taps run before ingress) and before the
//! TCP stack does. The program lives as long as its link file descriptors: when synprobe
//! exits, however it exits (SIGKILL too), the kernel detaches it. Nothing on the host is
//! changed that could be left behind.
//!
//! Only SYN-ACKs are dropped: no local socket ever needs one on these ports (they lie outside
//! the ephemeral range by default, and a probe from a port a local client also uses would
//! collide anyway); a local server on a port in the range still gets its SYNs, ACKs and RSTs.

use std::os::fd::{FromRawFd, OwnedFd};

use crate::cookie::SourcePorts;
use crate::path::Link;

/// One eBPF instruction: opcode, registers (dst low nibble, src high), offset, immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    fn bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_ne_bytes());
        b[4..8].copy_from_slice(&self.imm.to_ne_bytes());
        b
    }
}

// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

// Opcodes (64-bit ALU, JMP, loads from memory).
const LDX_W: u8 = 0x61;
const LDX_B: u8 = 0x71;
const MOV_K: u8 = 0xb7;
const MOV_X: u8 = 0xbf;
const ADD_K: u8 = 0x07;
const ADD_X: u8 = 0x0f;
const AND_K: u8 = 0x57;
const OR_X: u8 = 0x4f;
const LSH_K: u8 = 0x67;
const JA: u8 = 0x05;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const JGT_K: u8 = 0x25;
const JLT_K: u8 = 0xa5;
const JGT_X: u8 = 0x2d;
const EXIT: u8 = 0x95;

/// `struct __sk_buff` offsets of the packet's first byte and its end.
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;
/// tcx verdicts: go on to the next program (as if we were not there), or drop.
const TCX_NEXT: i32 = -1;
const TCX_DROP: i32 = 2;
const TCP_SYN_ACK: i32 = 0x12;

/// The program as written, with jumps to labels resolved once the labels are placed.
struct Asm {
    insns: Vec<Insn>,
    /// (instruction index, label) of every jump to patch.
    fixups: Vec<(usize, Label)>,
    labels: [Option<usize>; 4],
}

#[derive(Clone, Copy, Debug)]
enum Label {
    Pass = 0,
    V4 = 1,
    Tcp = 2,
}

impl Asm {
    fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.insns.push(Insn {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        });
    }
    fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.op(code, dst, src, 0, imm);
    }
    fn label(&mut self, l: Label) {
        self.labels[l as usize] = Some(self.insns.len());
    }
    fn finish(mut self) -> Vec<Insn> {
        for (at, l) in self.fixups {
            let target = self.labels[l as usize].expect("every label is placed");
            self.insns[at].off = (target as isize - at as isize - 1) as i16;
        }
        self.insns
    }
}

/// The tcx ingress program: drop a TCP segment with SYN and ACK set whose destination port
/// lies in `ports`, over IPv4 (any options, first fragments only) or IPv6 (TCP right after
/// the fixed header); everything else goes on untouched. Every packet access is bounds
/// checked against the packet's end first, as the verifier demands.
fn program(ports: SourcePorts) -> Vec<Insn> {
    let mut a = Asm {
        insns: Vec::with_capacity(64),
        fixups: Vec::new(),
        labels: [None; 4],
    };
    a.op(LDX_W, R2, R1, SKB_DATA, 0);
    a.op(LDX_W, R3, R1, SKB_DATA_END, 0);
    // Ethernet: the type (the kernel has already taken any VLAN tag out of the frame).
    a.op(MOV_X, R4, R2, 0, 0);
    a.op(ADD_K, R4, 0, 0, 14);
    a.jump(JGT_X, R4, R3, 0, Label::Pass);
    a.op(LDX_B, R5, R2, 12, 0);
    a.op(LDX_B, R0, R2, 13, 0);
    a.op(LSH_K, R5, 0, 0, 8);
    a.op(OR_X, R5, R0, 0, 0);
    a.jump(JEQ_K, R5, 0, 0x0800, Label::V4);
    a.jump(JNE_K, R5, 0, 0x86dd, Label::Pass);
    // IPv6: next header TCP, TCP header at 54.
    a.op(MOV_X, R4, R2, 0, 0);
    a.op(ADD_K, R4, 0, 0, 14 + 40 + 20);
    a.jump(JGT_X, R4, R3, 0, Label::Pass);
    a.op(LDX_B, R5, R2, 14 + 6, 0);
    a.jump(JNE_K, R5, 0, 6, Label::Pass);
    a.op(MOV_X, R4, R2, 0, 0);
    a.op(ADD_K, R4, 0, 0, 14 + 40);
    a.jump(JA, 0, 0, 0, Label::Tcp);
    // IPv4: protocol TCP, not a later fragment, TCP header after the options.
    a.label(Label::V4);
    a.op(MOV_X, R4, R2, 0, 0);
    a.op(ADD_K, R4, 0, 0, 14 + 20);
    a.jump(JGT_X, R4, R3, 0, Label::Pass);
    a.op(LDX_B, R5, R2, 14 + 9, 0);
    a.jump(JNE_K, R5, 0, 6, Label::Pass);
    a.op(LDX_B, R5, R2, 14 + 6, 0);
    a.op(AND_K, R5, 0, 0, 0x1f);
    a.jump(JNE_K, R5, 0, 0, Label::Pass);
    a.op(LDX_B, R5, R2, 14 + 7, 0);
    a.jump(JNE_K, R5, 0, 0, Label::Pass);
    a.op(LDX_B, R5, R2, 14, 0);
    a.op(AND_K, R5, 0, 0, 0x0f);
    a.op(LSH_K, R5, 0, 0, 2);
    a.op(MOV_X, R4, R2, 0, 0);
    a.op(ADD_X, R4, R5, 0, 0);
    a.op(ADD_K, R4, 0, 0, 14);
    a.op(MOV_X, R0, R4, 0, 0);
    a.op(ADD_K, R0, 0, 0, 20);
    a.jump(JGT_X, R0, R3, 0, Label::Pass);
    // TCP (R4 points at its header, 20 bytes readable): destination port in our range and
    // both SYN and ACK set.
    a.label(Label::Tcp);
    a.op(LDX_B, R5, R4, 2, 0);
    a.op(LDX_B, R0, R4, 3, 0);
    a.op(LSH_K, R5, 0, 0, 8);
    a.op(OR_X, R5, R0, 0, 0);
    a.jump(JLT_K, R5, 0, i32::from(ports.first), Label::Pass);
    a.jump(
        JGT_K,
        R5,
        0,
        i32::from(ports.last.max(ports.first)),
        Label::Pass,
    );
    a.op(LDX_B, R5, R4, 13, 0);
    a.op(AND_K, R5, 0, 0, TCP_SYN_ACK);
    a.jump(JNE_K, R5, 0, TCP_SYN_ACK, Label::Pass);
    a.op(MOV_K, R0, 0, 0, TCX_DROP);
    a.op(EXIT, 0, 0, 0, 0);
    a.label(Label::Pass);
    a.op(MOV_K, R0, 0, 0, TCX_NEXT);
    a.op(EXIT, 0, 0, 0, 0);
    a.finish()
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_TCX_INGRESS: u32 = 46;
/// `union bpf_attr` is passed zero-padded; the kernel refuses non-zero bytes it does not know.
const ATTR_LEN: usize = 128;

fn bpf(cmd: libc::c_long, attr: &mut [u8; ATTR_LEN]) -> std::io::Result<OwnedFd> {
    // SAFETY: `attr` is a valid, initialised, zero-padded `union bpf_attr` of ATTR_LEN
    // bytes that outlives the call; every pointer inside it points at live buffers of the
    // caller. A non-negative result is a new file descriptor we own.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), ATTR_LEN as u32) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn put32(attr: &mut [u8; ATTR_LEN], at: usize, v: u32) {
    attr[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(attr: &mut [u8; ATTR_LEN], at: usize, v: u64) {
    attr[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// The attached program; dropping it detaches it from every link.
pub struct SynAckShield {
    _links: Vec<OwnedFd>,
}

impl SynAckShield {
    /// Load the program and attach it at tcx ingress of every link but loopback (whose
    /// RSTs cost no neighbour lookup). Fails on kernels without tcx (before 6.6) or without
    /// CAP_BPF / CAP_NET_ADMIN; the caller runs on unshielded then.
    pub fn attach(links: &[Link], ports: SourcePorts) -> std::io::Result<SynAckShield> {
        let code: Vec<u8> = program(ports).iter().flat_map(|i| i.bytes()).collect();
        let license = c"GPL";
        let name = b"synprobe_shield\0";
        let mut attr = [0u8; ATTR_LEN];
        put32(&mut attr, 0, BPF_PROG_TYPE_SCHED_CLS);
        put32(&mut attr, 4, (code.len() / 8) as u32);
        put64(&mut attr, 8, code.as_ptr() as u64);
        put64(&mut attr, 16, license.as_ptr() as u64);
        attr[48..48 + name.len()].copy_from_slice(name);
        put32(&mut attr, 68, BPF_TCX_INGRESS);
        let prog = bpf(BPF_PROG_LOAD, &mut attr)?;
        let mut held = Vec::new();
        for link in links.iter().filter(|l| !l.loopback) {
            let mut attr = [0u8; ATTR_LEN];
            put32(&mut attr, 0, std::os::fd::AsRawFd::as_raw_fd(&prog) as u32);
            put32(&mut attr, 4, link.index);
            put32(&mut attr, 8, BPF_TCX_INGRESS);
            held.push(bpf(BPF_LINK_CREATE, &mut attr)?);
        }
        // The links hold the program; its own descriptor is not needed past here.
        Ok(SynAckShield { _links: held })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the subset the program uses, so its decisions are tested on
    /// frames without root (the kernel's verifier and a real drop are tested in
    /// tests/shield.rs).
    fn run(prog: &[Insn], pkt: &[u8]) -> i32 {
        let mut r = [0i64; 11];
        // Packet pointers are offsets into `pkt`; data = 0, data_end = len.
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 1000, "no loops in the program");
            let i = prog[pc];
            let (d, s) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            let imm = i64::from(i.imm);
            match i.code {
                LDX_W => {
                    r[d] = match i.off {
                        SKB_DATA => 0,
                        SKB_DATA_END => pkt.len() as i64,
                        o => panic!("ctx load at {o}"),
                    }
                }
                LDX_B => {
                    let at = (r[s] + i64::from(i.off)) as usize;
                    r[d] = i64::from(pkt[at]); // the bounds checks must have made this safe
                }
                MOV_K => r[d] = imm,
                MOV_X => r[d] = r[s],
                ADD_K => r[d] += imm,
                ADD_X => r[d] += r[s],
                AND_K => r[d] &= imm,
                OR_X => r[d] |= r[s],
                LSH_K => r[d] <<= imm,
                EXIT => return r[0] as i32,
                _ => {
                    let taken = match i.code {
                        JA => true,
                        JEQ_K => r[d] == imm,
                        JNE_K => r[d] != imm,
                        JGT_K => r[d] > imm,
                        JLT_K => r[d] < imm,
                        JGT_X => r[d] > r[s],
                        c => panic!("opcode {c:#x}"),
                    };
                    if taken {
                        pc = (pc as isize + isize::from(i.off)) as usize;
                    }
                }
            }
        }
    }

    fn tcp(flags: u8, dport: u16) -> [u8; 20] {
        let mut t = [0u8; 20];
        t[0..2].copy_from_slice(&80u16.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags;
        t
    }

    fn v4(options: usize, frag: u16, proto: u8, seg: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0u8; 20 + options];
        ip[0] = 0x40 | ((20 + options) / 4) as u8;
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip[9] = proto;
        f.extend_from_slice(&ip);
        f.extend_from_slice(seg);
        f
    }

    fn v6(next: u8, seg: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x86, 0xdd]);
        let mut ip = vec![0u8; 40];
        ip[0] = 0x60;
        ip[6] = next;
        f.extend_from_slice(&ip);
        f.extend_from_slice(seg);
        f
    }

    const PORTS: SourcePorts = SourcePorts {
        first: 61001,
        last: 65535,
    };

    #[test]
    fn drops_syn_acks_to_our_ports_only() {
        let p = program(PORTS);
        let syn_ack = tcp(0x12, 62000);
        assert_eq!(run(&p, &v4(0, 0, 6, &syn_ack)), TCX_DROP);
        assert_eq!(run(&p, &v4(12, 0x4000, 6, &syn_ack)), TCX_DROP); // options, DF
        assert_eq!(run(&p, &v6(6, &syn_ack)), TCX_DROP);
        assert_eq!(run(&p, &v4(0, 0, 6, &tcp(0x12, 61001))), TCX_DROP);
        assert_eq!(run(&p, &v4(0, 0, 6, &tcp(0x12, 65535))), TCX_DROP);
        // Other ports, other flags, other protocols, later fragments: untouched.
        assert_eq!(run(&p, &v4(0, 0, 6, &tcp(0x12, 61000))), TCX_NEXT);
        assert_eq!(run(&p, &v4(0, 0, 6, &tcp(0x12, 443))), TCX_NEXT);
        for flags in [0x02, 0x10, 0x04, 0x14, 0x18, 0x11] {
            assert_eq!(run(&p, &v4(0, 0, 6, &tcp(flags, 62000))), TCX_NEXT);
            assert_eq!(run(&p, &v6(6, &tcp(flags, 62000))), TCX_NEXT);
        }
        assert_eq!(run(&p, &v4(0, 0, 17, &syn_ack)), TCX_NEXT);
        assert_eq!(run(&p, &v4(0, 0x0001, 6, &syn_ack)), TCX_NEXT);
        assert_eq!(run(&p, &v4(0, 0x2000 | 0x0100, 6, &syn_ack)), TCX_NEXT);
        assert_eq!(run(&p, &v6(0, &syn_ack)), TCX_NEXT); // extension header first
    }

    #[test]
    fn short_and_odd_frames_pass_without_reading_past_the_end() {
        let p = program(PORTS);
        let full = v4(0, 0, 6, &tcp(0x12, 62000));
        for n in 0..full.len() {
            assert_eq!(run(&p, &full[..n]), TCX_NEXT, "{n} bytes");
        }
        let full6 = v6(6, &tcp(0x12, 62000));
        for n in 0..full6.len() {
            assert_eq!(run(&p, &full6[..n]), TCX_NEXT, "{n} bytes");
        }
        // A header length claiming 60 bytes on a frame that does not have them.
        let mut lie = v4(0, 0, 6, &tcp(0x12, 62000));
        lie[14] = 0x4f;
        assert_eq!(run(&p, &lie), TCX_NEXT);
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(run(&p, &arp), TCX_NEXT);
    }

    #[test]
    fn a_single_source_port_is_a_range_of_one() {
        let p = program(SourcePorts {
            first: 40000,
            last: 40000,
        });
        assert_eq!(run(&p, &v4(0, 0, 6, &tcp(0x12, 40000))), TCX_DROP);
        assert_eq!(run(&p, &v4(0, 0, 6, &tcp(0x12, 40001))), TCX_NEXT);
        assert_eq!(run(&p, &v4(0, 0, 6, &tcp(0x12, 39999))), TCX_NEXT);
    }
}
