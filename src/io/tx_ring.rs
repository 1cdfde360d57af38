//! The PACKET_TX_RING transmit path: frames are written straight into a ring shared with the
//! kernel, and one `send(NULL, 0)` per batch tells it to take every frame marked ready. That
//! skips the per-frame msghdr walk and iovec handling of `sendmmsg` (see `TxRing::new` for
//! why the kernel still copies each small frame into its skb).

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::IoError;
use super::socket::{PACKET_VERSION, PacketSocket, SOL_PACKET};

// From <linux/if_packet.h>.
const PACKET_TX_RING: libc::c_int = 13;
const PACKET_LOSS: libc::c_int = 14;
const PACKET_VNET_HDR: libc::c_int = 15;
/// sizeof(struct virtio_net_hdr); its `hdr_len` (little-endian u16) sits at offset 2.
const VNET_LEN: usize = 10;
const VNET_HDR_LEN: usize = 2;
const TPACKET_V2: libc::c_int = 1;
const TP_STATUS_SENDING: u32 = 2;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_WRONG_FORMAT: u32 = 4;
/// Offsets in `struct tpacket2_hdr`.
const HDR_STATUS: usize = 0;
const HDR_LEN: usize = 4;
/// Without PACKET_TX_HAS_OFF the kernel reads the frame at
/// TPACKET_ALIGN(sizeof(tpacket2_hdr)) = 32 bytes into the slot.
const DATA_OFF: usize = 32;

/// One slot: header plus the largest frame we build (FRAME_CAP = 128), as a power of two so
/// a slot never straddles more cache lines than it must.
pub(crate) const SLOT: usize = 256;
/// Slots per ring: 2048 x 256 B = 512 KiB. On veth the kernel frees each frame within the
/// kick, so even 256 slots never fill and a small ring stays in cache (16384 measured ~10%
/// slower); a NIC frees frames only on its TX completion, so keep a few NIC queues' worth.
pub(crate) const SLOTS: usize = 2048;
const BLOCK: usize = 64 << 10;

/// How long the kernel may keep every slot before we call the link dead.
const STALL_LIMIT: Duration = Duration::from_secs(1);

#[repr(C)]
#[derive(Clone, Copy)]
struct TpacketReq {
    tp_block_size: libc::c_uint,
    tp_block_nr: libc::c_uint,
    tp_frame_size: libc::c_uint,
    tp_frame_nr: libc::c_uint,
}

/// The mapped ring and our position in it.
pub(crate) struct TxRing {
    sock: PacketSocket,
    map: NonNull<u8>,
    map_len: usize,
    slots: usize,
    /// Whether each frame is prefixed with a virtio_net_hdr (see `new`).
    vnet: bool,
    /// Where the frame starts in a slot.
    data_off: usize,
    /// Next slot we write.
    head: usize,
    /// Frames written since the last kick.
    unkicked: usize,
}

// SAFETY: the mapping belongs to this value alone (one socket, one ring); nothing else in
// the process holds a pointer into it, so moving it to another thread is sound.
unsafe impl Send for TxRing {}

impl TxRing {
    /// Set up a TPACKET_V2 TX ring on `sock` (already bound to the interface, with the
    /// options of `send::tx_socket`).
    pub fn new(sock: PacketSocket, slots: usize) -> io::Result<TxRing> {
        sock.set_opt(SOL_PACKET, PACKET_VERSION, &TPACKET_V2)?;
        // A frame the kernel rejects is skipped and its slot handed back, instead of stopping
        // the ring with TP_STATUS_WRONG_FORMAT.
        sock.set_opt(SOL_PACKET, PACKET_LOSS, &1 as &libc::c_int)?;
        // Without a virtio_net_hdr the kernel copies only the ethernet header and hangs the
        // rest of the frame off the skb as a zero-copy fragment of the ring page; anything
        // that delivers the frame locally (veth, loopback) must then allocate a fresh page
        // and copy it (skb_copy_ubufs), which made the ring slower than sendmmsg on veth.
        // With the header's hdr_len = frame length the kernel copies the whole frame into
        // the skb's linear area instead. Best effort: without it the ring still works.
        let vnet = sock
            .set_opt(SOL_PACKET, PACKET_VNET_HDR, &1 as &libc::c_int)
            .is_ok();
        let per_block = BLOCK / SLOT;
        let blocks = slots.div_ceil(per_block).max(1);
        let req = TpacketReq {
            tp_block_size: BLOCK as libc::c_uint,
            tp_block_nr: blocks as libc::c_uint,
            tp_frame_size: SLOT as libc::c_uint,
            tp_frame_nr: (blocks * per_block) as libc::c_uint,
        };
        sock.set_opt(SOL_PACKET, PACKET_TX_RING, &req)?;
        let map_len = BLOCK * blocks;
        // SAFETY: maps the ring the kernel just allocated for this fd; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                sock.raw(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(TxRing {
            sock,
            map,
            map_len,
            slots: blocks * per_block,
            vnet,
            data_off: DATA_OFF + if vnet { VNET_LEN } else { 0 },
            head: 0,
            unkicked: 0,
        })
    }

    fn status(&self, slot: usize) -> &AtomicU32 {
        debug_assert!(slot < self.slots);
        // SAFETY: slot < self.slots, so the header lies inside the mapping; it is 4-aligned
        // (page-aligned map, SLOT a multiple of 16), and the kernel only ever accesses it as
        // a u32, which AtomicU32 matches.
        unsafe { AtomicU32::from_ptr(self.map.as_ptr().add(slot * SLOT + HDR_STATUS).cast()) }
    }

    /// Write one frame into the next slot with `f` (given the slot's data area, returning
    /// the frame length; 0 skips), waiting for the kernel to free the slot if need be.
    /// The frame leaves at the next `kick`.
    #[inline]
    pub fn push_with(&mut self, f: impl FnOnce(&mut [u8]) -> usize) -> Result<bool, io::Error> {
        let slot = self.head;
        if !self.slot_free(slot) {
            self.wait_for(slot)?;
        }
        // SAFETY: the slot lies in the mapping and is ours: its status says the kernel is
        // done with it and will not touch it until we set SEND_REQUEST below.
        let base = unsafe { self.map.as_ptr().add(slot * SLOT) };
        // SAFETY: data_off < SLOT, so the range lies inside this slot.
        let data = unsafe {
            std::slice::from_raw_parts_mut(base.add(self.data_off), SLOT - self.data_off)
        };
        let len = f(data).min(SLOT - self.data_off);
        if len == 0 {
            return Ok(false);
        }
        let tp_len = if self.vnet {
            // SAFETY: the virtio_net_hdr lies in this slot just before the frame. All zero
            // (no offload, no GSO) but hdr_len, which tells the kernel to copy the whole frame.
            unsafe {
                let v = base.add(DATA_OFF);
                v.write_bytes(0, VNET_LEN);
                v.add(VNET_HDR_LEN)
                    .cast::<[u8; 2]>()
                    .write((len as u16).to_le_bytes());
            }
            len + VNET_LEN
        } else {
            len
        };
        // SAFETY: tp_len is a u32 inside this slot's header, which we own (see above).
        unsafe {
            base.add(HDR_LEN)
                .cast::<u32>()
                .write_volatile(tp_len as u32);
        }
        // Release: the frame bytes and tp_len are visible before the kernel sees the status.
        self.status(slot)
            .store(TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.head = if slot + 1 == self.slots { 0 } else { slot + 1 };
        self.unkicked += 1;
        Ok(true)
    }

    #[inline]
    fn slot_free(&self, slot: usize) -> bool {
        // Acquire: the kernel is done reading the frame before we overwrite it. The kernel
        // may OR timestamp flags into AVAILABLE; WRONG_FORMAT (without PACKET_LOSS) is free too.
        let s = self.status(slot).load(Ordering::Acquire);
        s & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) == 0 || s & TP_STATUS_WRONG_FORMAT != 0
    }

    /// The ring is full: hand the kernel what is pending and wait (bounded) until `slot`
    /// comes back.
    #[cold]
    fn wait_for(&mut self, slot: usize) -> io::Result<()> {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            self.kick_once()?;
            if self.slot_free(slot) {
                return Ok(());
            }
            spins += 1;
            if spins < 16 {
                std::thread::yield_now();
                continue;
            }
            if start.elapsed() > STALL_LIMIT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("transmit ring full for over {STALL_LIMIT:?}"),
                ));
            }
            // POLLOUT means the kernel's current slot is free; ours usually is then too.
            if !self.sock.wait(libc::POLLOUT, Duration::from_millis(1))? || !self.slot_free(slot) {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// One non-blocking `send`: the kernel takes every slot marked SEND_REQUEST.
    fn kick_once(&mut self) -> io::Result<()> {
        // SAFETY: a zero-length send with a null buffer is the documented TX-ring trigger.
        let r = unsafe { libc::send(self.sock.raw(), std::ptr::null(), 0, libc::MSG_DONTWAIT) };
        if r >= 0 {
            self.unkicked = 0;
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            // Full socket buffer or device queue: the frames stay marked and go next time.
            Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR) => Ok(()),
            _ => Err(e),
        }
    }

    /// Hand every pending frame to the kernel, without waiting for it to transmit them.
    pub fn kick(&mut self) -> io::Result<()> {
        if self.unkicked == 0 {
            return Ok(());
        }
        let start = Instant::now();
        loop {
            // SAFETY: as in kick_once.
            let r = unsafe { libc::send(self.sock.raw(), std::ptr::null(), 0, libc::MSG_DONTWAIT) };
            if r >= 0 {
                self.unkicked = 0;
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => {}
                // ENOBUFS: the device refused a frame (its queue is stopped); the kernel
                // marks that frame SEND_REQUEST again, so the next send takes it
                // (tests/send_path.rs: nothing is lost under backpressure).
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => {
                    if start.elapsed() > STALL_LIMIT {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("transmit queue full for over {STALL_LIMIT:?}"),
                        ));
                    }
                    let _ = self.sock.wait(libc::POLLOUT, Duration::from_millis(1));
                }
                _ => return Err(e),
            }
        }
    }
}

impl Drop for TxRing {
    fn drop(&mut self) {
        // Frames already handed to the kernel hold their own page references, so unmapping
        // cannot pull data from under a frame in flight.
        let _ = self.kick();
        // SAFETY: `map` / `map_len` are exactly what mmap returned; nothing uses them after.
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len);
        }
    }
}

/// Open the ring on an already bound socket, naming the interface in errors.
pub(crate) fn open(sock: PacketSocket, link: &str) -> Result<TxRing, IoError> {
    TxRing::new(sock, SLOTS)
        .map_err(|e| IoError::os(format!("set up transmit ring on '{link}'"), e))
}
