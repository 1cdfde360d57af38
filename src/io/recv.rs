//! The receive side: a TPACKET_V3 ring mapped into our memory, behind the BPF filter, so
//! a million replies a second cost a handful of syscalls (one poll per retired block).

use std::net::IpAddr;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::bpf::filter_program;
use super::socket::{
    ETH_P_ALL, PACKET_IGNORE_OUTGOING, PACKET_OUTGOING, PACKET_RX_RING, PACKET_STATISTICS,
    PACKET_VERSION, PacketSocket, SOL_PACKET, TPACKET_V3, open_error,
};
use super::{IoError, Link};
use crate::cookie::SourcePorts;

/// What the kernel BPF filter lets through: TCP and ICMP/ICMPv6 addressed to our source
/// addresses, TCP only to our source-port range.
#[derive(Clone, Debug)]
pub struct RxFilter {
    pub local_ips: Vec<IpAddr>,
    pub ports: SourcePorts,
    /// Also let ARP replies through (IPv6's Neighbor Advertisements are ICMPv6 to us
    /// already): the run resolves on-link targets itself.
    pub neighbours: bool,
}

/// What the kernel says about a received frame besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxMeta {
    /// Receive time, CLOCK_REALTIME nanoseconds.
    pub ns: u64,
    /// The kernel vouches for the checksums: a NIC verified them, or the frame was built on
    /// this host and never crossed a wire, so its checksum is not filled in yet (veth, lo).
    /// Only frames without that word have their checksums checked.
    pub checksum_vouched: bool,
}

/// Counters the kernel keeps for the receive socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxStats {
    pub packets: u64,
    pub drops: u64,
}

/// Ring geometry. 32 MiB holds ~200 ms of replies at 1 M/s; the block timeout bounds the
/// latency of a lone reply.
const BLOCK_SIZE: u32 = 1 << 20;
const BLOCK_NR: u32 = 32;
const FRAME_SIZE: u32 = 2048;
const BLOCK_TIMEOUT_MS: u32 = 10;
const RCVBUF: libc::c_int = 32 << 20;
/// Frames read per `poll` in the fallback (no ring) path before returning to the caller.
const FALLBACK_BURST: usize = 4096;

const TP_STATUS_USER: u32 = 1;
const TP_STATUS_KERNEL: u32 = 0;
// Per-frame status bits: checksum not yet computed (built locally), or verified by the NIC.
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_CSUM_VALID: u32 = 1 << 7;
// Offsets inside a block descriptor (struct tpacket_block_desc / tpacket_hdr_v1).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
// Offsets inside a frame header (struct tpacket3_hdr), then the sockaddr_ll after it.
const FRAME_NEXT: usize = 0;
const FRAME_SEC: usize = 4;
const FRAME_NSEC: usize = 8;
const FRAME_SNAPLEN: usize = 12;
const FRAME_STATUS: usize = 20;
const FRAME_MAC: usize = 24;
const FRAME_PKTTYPE: usize = 48 + 10;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// The mmapped ring; unmapped on drop.
struct Ring {
    base: NonNull<u8>,
    block_size: usize,
    block_nr: usize,
    next: usize,
}

/// The receive side: a packet ring on one interface behind a BPF filter; outgoing frames
/// (our own SYNs) never show up.
pub struct Receiver {
    sock: PacketSocket,
    ring: Option<Ring>,
    buf: Vec<u8>,
    stats: RxStats,
}

// SAFETY: the ring mapping belongs to this Receiver alone and is only touched through
// `&mut self`; nothing about it is tied to the opening thread.
unsafe impl Send for Receiver {}

impl Receiver {
    pub fn open(link: &Link, filter: &RxFilter) -> Result<Self, IoError> {
        Self::open_with(link, filter, true)
    }

    /// One receive end for every interface (a run over several links).
    pub fn open_all(filter: &RxFilter) -> Result<Self, IoError> {
        Self::open_on(0, "every interface", filter, true)
    }

    /// `use_ring = false` forces the plain recvfrom path (the fallback when the ring cannot
    /// be set up); useful to compare the two.
    pub fn open_with(link: &Link, filter: &RxFilter, use_ring: bool) -> Result<Self, IoError> {
        Self::open_on(link.index, &format!("'{}'", link.name), filter, use_ring)
    }

    /// Open on interface `ifindex` (0: all), named `name` in errors.
    fn open_on(
        ifindex: u32,
        name: &str,
        filter: &RxFilter,
        use_ring: bool,
    ) -> Result<Self, IoError> {
        let what = |s: &str| format!("{s} on {name}");
        // Protocol 0 until bind: nothing is queued before the filter is in place.
        let sock = PacketSocket::open(0).map_err(open_error)?;
        let _ = sock.set_opt(SOL_PACKET, PACKET_IGNORE_OUTGOING, &1 as &libc::c_int);
        // Ask for precise software receive timestamps: without them the ring stamps frames
        // with the coarse clock (jiffies), useless for sub-millisecond round-trip times.
        let _ = sock.set_opt(libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1 as &libc::c_int);
        let prog = filter_program(filter)?;
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        sock.set_opt(libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
            .map_err(|e| IoError::os(what("attach BPF filter"), e))?;
        if sock
            .set_opt(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &RCVBUF)
            .is_err()
        {
            let _ = sock.set_opt(libc::SOL_SOCKET, libc::SO_RCVBUF, &RCVBUF);
        }
        let ring = if use_ring { Ring::setup(&sock) } else { None };
        sock.bind(ifindex, ETH_P_ALL)
            .map_err(|e| IoError::os(what("bind receive socket"), e))?;
        let mut rx = Receiver {
            sock,
            ring,
            buf: Vec::new(),
            stats: RxStats::default(),
        };
        if rx.ring.is_none() {
            rx.buf = vec![0u8; 65536];
            // Drain anything queued before the filter took effect.
            while let Ok(Some(_)) = rx.sock.recv(&mut rx.buf) {}
        }
        Ok(rx)
    }

    /// True when frames come through the mmapped ring (false: recvfrom fallback).
    pub fn uses_ring(&self) -> bool {
        self.ring.is_some()
    }

    /// Wait up to `timeout` for frames, calling `f` on each; returns how many were seen.
    pub fn poll(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(&[u8], RxMeta),
    ) -> Result<usize, IoError> {
        let deadline = Instant::now() + timeout;
        loop {
            let n = match &mut self.ring {
                Some(ring) => ring.drain(f),
                None => self.drain_socket(f)?,
            };
            if n > 0 {
                return Ok(n);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(0);
            }
            self.sock
                .wait(libc::POLLIN, left)
                .map_err(|e| IoError::os("wait for frames", e))?;
        }
    }

    fn drain_socket(&mut self, f: &mut dyn FnMut(&[u8], RxMeta)) -> Result<usize, IoError> {
        let mut n = 0;
        for _ in 0..FALLBACK_BURST {
            match self
                .sock
                .recv(&mut self.buf)
                .map_err(|e| IoError::os("receive frame", e))?
            {
                None => break,
                Some((_, PACKET_OUTGOING)) => {}
                Some((len, _)) => {
                    // recvfrom carries no status word: trust the kernel, as a socket would.
                    let meta = RxMeta {
                        ns: realtime_ns(),
                        checksum_vouched: true,
                    };
                    f(&self.buf[..len], meta);
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// Cumulative kernel counters (packets that passed the filter, ring drops).
    pub fn stats(&mut self) -> RxStats {
        // The kernel zeroes its counters on every read; we keep the running total.
        if let Ok(s) = self
            .sock
            .get_opt::<TpacketStatsV3>(SOL_PACKET, PACKET_STATISTICS)
        {
            self.stats.packets += u64::from(s.packets);
            self.stats.drops += u64::from(s.drops);
        }
        self.stats
    }
}

impl Ring {
    /// Switch the socket to TPACKET_V3 and map a ring; None if the kernel refuses.
    fn setup(sock: &PacketSocket) -> Option<Ring> {
        sock.set_opt(SOL_PACKET, PACKET_VERSION, &TPACKET_V3).ok()?;
        let req = TpacketReq3 {
            block_size: BLOCK_SIZE,
            block_nr: BLOCK_NR,
            frame_size: FRAME_SIZE,
            frame_nr: BLOCK_SIZE / FRAME_SIZE * BLOCK_NR,
            retire_blk_tov: BLOCK_TIMEOUT_MS,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        sock.set_opt(SOL_PACKET, PACKET_RX_RING, &req).ok()?;
        let len = BLOCK_SIZE as usize * BLOCK_NR as usize;
        // SAFETY: maps the ring the kernel just allocated for this fd; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                sock.raw(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            // Release the ring again: while one is configured the kernel queues frames only
            // there, and the recvfrom fallback would never see a reply.
            let _ = sock.set_opt(SOL_PACKET, PACKET_RX_RING, &TpacketReq3::default());
            return None;
        }
        Some(Ring {
            base: NonNull::new(p.cast())?,
            block_size: BLOCK_SIZE as usize,
            block_nr: BLOCK_NR as usize,
            next: 0,
        })
    }

    fn status(&self, block: usize) -> &AtomicU32 {
        // SAFETY: the offset lies inside the mapping (block < block_nr) and is 4-aligned
        // (blocks are page-aligned); the kernel and we hand the word back and forth, which
        // is exactly what an atomic is for.
        unsafe {
            AtomicU32::from_ptr(
                self.base
                    .as_ptr()
                    .add(block * self.block_size + BLOCK_STATUS)
                    .cast(),
            )
        }
    }

    /// Walk every block the kernel has handed to us, in order; give each back after use.
    fn drain(&mut self, f: &mut dyn FnMut(&[u8], RxMeta)) -> usize {
        let mut seen = 0;
        for _ in 0..self.block_nr {
            let b = self.next;
            if self.status(b).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                break;
            }
            // SAFETY: the block is ours while its status has TP_STATUS_USER, which we only
            // clear below, after the last use of this slice.
            let block = unsafe {
                std::slice::from_raw_parts(
                    self.base.as_ptr().add(b * self.block_size),
                    self.block_size,
                )
            };
            seen += walk_block(block, f);
            self.status(b).store(TP_STATUS_KERNEL, Ordering::Release);
            self.next = (b + 1) % self.block_nr;
        }
        seen
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region `setup` mapped; no slice into it outlives `drain`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.block_size * self.block_nr) };
    }
}

/// Now on the clock the kernel stamps frames with (CLOCK_REALTIME), in nanoseconds.
pub fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Call `f` on every frame of one retired block, with its kernel receive time; the kernel's
/// offsets are checked against the block bounds rather than trusted.
fn walk_block(block: &[u8], f: &mut dyn FnMut(&[u8], RxMeta)) -> usize {
    let rd32 = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(block.get(at..at + 4)?.try_into().ok()?))
    };
    let rd16 = |at: usize| -> Option<u16> {
        Some(u16::from_ne_bytes(block.get(at..at + 2)?.try_into().ok()?))
    };
    let (Some(num), Some(first)) = (rd32(BLOCK_NUM_PKTS), rd32(BLOCK_FIRST_PKT)) else {
        return 0;
    };
    let mut at = first as usize;
    let mut seen = 0;
    for _ in 0..num {
        let (
            Some(next),
            Some(sec),
            Some(nsec),
            Some(snap),
            Some(status),
            Some(mac),
            Some(&pkttype),
        ) = (
            rd32(at + FRAME_NEXT),
            rd32(at + FRAME_SEC),
            rd32(at + FRAME_NSEC),
            rd32(at + FRAME_SNAPLEN),
            rd32(at + FRAME_STATUS),
            rd16(at + FRAME_MAC),
            block.get(at + FRAME_PKTTYPE),
        )
        else {
            break;
        };
        let start = at + usize::from(mac);
        // Outgoing copies only appear when PACKET_IGNORE_OUTGOING is unsupported.
        if pkttype != PACKET_OUTGOING
            && let Some(frame) = block.get(start..start + snap as usize)
        {
            let meta = RxMeta {
                ns: u64::from(sec) * 1_000_000_000 + u64::from(nsec),
                checksum_vouched: status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID) != 0,
            };
            f(frame, meta);
            seen += 1;
        }
        if next == 0 {
            break;
        }
        at += next as usize;
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lay frames out the way the kernel does in a TPACKET_V3 block.
    fn block(frames: &[(&[u8], u8)]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        b[BLOCK_FIRST_PKT..BLOCK_FIRST_PKT + 4].copy_from_slice(&48u32.to_ne_bytes());
        let mut at = 48;
        for (i, (data, pkttype)) in frames.iter().enumerate() {
            let mac = 80u16;
            let next = if i + 1 == frames.len() { 0 } else { 256u32 };
            b[at..at + 4].copy_from_slice(&next.to_ne_bytes());
            b[at + FRAME_SNAPLEN..at + FRAME_SNAPLEN + 4]
                .copy_from_slice(&(data.len() as u32).to_ne_bytes());
            b[at + FRAME_MAC..at + FRAME_MAC + 2].copy_from_slice(&mac.to_ne_bytes());
            b[at + FRAME_PKTTYPE] = *pkttype;
            b[at + 80..at + 80 + data.len()].copy_from_slice(data);
            at += 256;
        }
        b
    }

    #[test]
    fn walks_frames_and_skips_outgoing() {
        let mut b = block(&[(b"first", 0), (b"mine", PACKET_OUTGOING), (b"third", 0)]);
        // The first frame was built on this host: its checksum is not filled in yet.
        b[48 + FRAME_STATUS..48 + FRAME_STATUS + 4]
            .copy_from_slice(&(TP_STATUS_USER | TP_STATUS_CSUMNOTREADY).to_ne_bytes());
        let mut got = Vec::new();
        let n = walk_block(&b, &mut |f, m| got.push((f.to_vec(), m.checksum_vouched)));
        assert_eq!(n, 2);
        assert_eq!(
            got,
            vec![(b"first".to_vec(), true), (b"third".to_vec(), false)]
        );
    }

    #[test]
    fn hostile_offsets_stay_in_bounds() {
        let mut b = block(&[(b"abc", 0)]);
        // Claim a huge snaplen and more packets than there are.
        b[48 + FRAME_SNAPLEN..48 + FRAME_SNAPLEN + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(walk_block(&b, &mut |_, _| panic!("must not deliver")), 0);
        b[BLOCK_FIRST_PKT..BLOCK_FIRST_PKT + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(walk_block(&b, &mut |_, _| {}), 0);
    }
}
