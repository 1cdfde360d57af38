//! The send side: an AF_PACKET socket that bypasses the qdisc, fed either through a
//! PACKET_TX_RING (default: one kick per batch, no per-frame copy from user space) or with
//! one `sendmmsg` per batch (the fallback when the ring cannot be set up).

use std::io;
use std::mem::zeroed;
use std::time::{Duration, Instant};

use super::socket::{PACKET_QDISC_BYPASS, PacketSocket, SOL_PACKET, open_error};
use super::tx_ring::{self, TxRing};
use super::{FrameBatch, IoError, Link};

/// How long the kernel may refuse every frame before we call the link dead.
const STALL_LIMIT: Duration = Duration::from_secs(1);
const SNDBUF: libc::c_int = 16 << 20;

/// How frames reach the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendMode {
    /// One `sendmmsg` per batch.
    Mmsg,
    /// A PACKET_TX_RING, one kick per batch.
    Ring,
}

impl SendMode {
    /// The mode `Sender::open` uses: the ring, unless SYNPROBE_SEND_MODE=mmsg asks for the
    /// fallback (to compare the two, or to dodge a driver that mishandles the ring).
    pub fn from_env() -> SendMode {
        match std::env::var("SYNPROBE_SEND_MODE").as_deref() {
            Ok("mmsg") => SendMode::Mmsg,
            _ => SendMode::Ring,
        }
    }
}

/// The send side: an AF_PACKET socket bound to one interface.
pub struct Sender {
    link: String,
    tx: Tx,
}

enum Tx {
    Mmsg(Mmsg),
    Ring(TxRing),
}

/// The sendmmsg path's state.
struct Mmsg {
    sock: PacketSocket,
    /// Reused per call so sending allocates nothing; grown only for a larger batch.
    msgs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
}

// SAFETY: the raw pointers inside `msgs` / `iovs` are rewritten from the batch at the start
// of every `send` and never dereferenced at any other time, so moving the Sender to another
// thread cannot let them dangle in use.
unsafe impl Send for Mmsg {}

/// A socket bound to `link` for transmit only, with the options both paths share.
fn tx_socket(link: &Link) -> Result<PacketSocket, IoError> {
    let sock = PacketSocket::open(0).map_err(open_error)?;
    // Protocol 0 in bind: this socket transmits only, never queues received frames, and adds
    // no tap that every frame on the interface would have to visit.
    sock.bind(link.index, 0)
        .map_err(|e| IoError::os(format!("bind send socket to '{}'", link.name), e))?;
    // The qdisc only adds a lock and a queue we do not need; older kernels lack it.
    let _ = sock.set_opt(SOL_PACKET, PACKET_QDISC_BYPASS, &1 as &libc::c_int);
    // SO_SNDBUFFORCE ignores wmem_max when we have CAP_NET_ADMIN; else take what we get.
    if sock
        .set_opt(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &SNDBUF)
        .is_err()
    {
        let _ = sock.set_opt(libc::SOL_SOCKET, libc::SO_SNDBUF, &SNDBUF);
    }
    Ok(sock)
}

impl Sender {
    /// Open in the default mode (`SendMode::from_env`), falling back to sendmmsg when the
    /// ring cannot be set up.
    pub fn open(link: &Link) -> Result<Self, IoError> {
        Self::open_with(link, SendMode::from_env())
    }

    /// Open in `mode`; `Ring` falls back to `Mmsg` when the kernel refuses the ring.
    pub fn open_with(link: &Link, mode: SendMode) -> Result<Self, IoError> {
        let tx = match mode {
            SendMode::Ring => match tx_ring::open(tx_socket(link)?, &link.name) {
                Ok(r) => Tx::Ring(r),
                Err(_) => Tx::Mmsg(Mmsg::new(tx_socket(link)?)),
            },
            SendMode::Mmsg => Tx::Mmsg(Mmsg::new(tx_socket(link)?)),
        };
        Ok(Sender {
            link: link.name.clone(),
            tx,
        })
    }

    /// The mode actually in use (after any fallback).
    pub fn mode(&self) -> SendMode {
        match self.tx {
            Tx::Mmsg(_) => SendMode::Mmsg,
            Tx::Ring(_) => SendMode::Ring,
        }
    }

    /// Send every frame of `batch` (retrying on a full queue), then clear it.
    /// Returns the number of frames sent.
    pub fn send(&mut self, batch: &mut FrameBatch) -> Result<usize, IoError> {
        let n = batch.len();
        if n == 0 {
            return Ok(0);
        }
        let r = match &mut self.tx {
            Tx::Mmsg(m) => m.send(batch, &self.link),
            Tx::Ring(r) => ring_send(r, batch, &self.link),
        };
        batch.clear();
        r
    }
}

fn ring_send(r: &mut TxRing, batch: &FrameBatch, link: &str) -> Result<usize, IoError> {
    let err = |e| IoError::os(format!("send on '{link}'"), e);
    let mut sent = 0;
    for i in 0..batch.len() {
        let frame = batch.frame(i);
        let pushed = r
            .push_with(|slot| match slot.get_mut(..frame.len()) {
                Some(dst) => {
                    dst.copy_from_slice(frame);
                    frame.len()
                }
                // Cannot happen with FRAME_CAP-sized frames; never send a truncated one.
                None => 0,
            })
            .map_err(err)?;
        sent += usize::from(pushed);
    }
    r.kick().map_err(err)?;
    Ok(sent)
}

impl Mmsg {
    fn new(sock: PacketSocket) -> Mmsg {
        Mmsg {
            sock,
            msgs: Vec::new(),
            iovs: Vec::new(),
        }
    }

    fn send(&mut self, batch: &FrameBatch, link: &str) -> Result<usize, IoError> {
        let n = batch.len();
        self.prepare(batch);
        let mut sent = 0;
        let mut stalled_since: Option<Instant> = None;
        while sent < n {
            // SAFETY: msgs[sent..n] are initialised by `prepare`; each points at one iovec
            // that points into `batch`, which is borrowed (unchanged) for this whole call.
            let r = unsafe {
                libc::sendmmsg(
                    self.sock.raw(),
                    self.msgs.as_mut_ptr().add(sent),
                    (n - sent) as libc::c_uint,
                    0,
                )
            };
            if r > 0 {
                sent += r as usize;
                stalled_since = None;
                continue;
            }
            let e = if r == 0 {
                io::Error::from_raw_os_error(libc::EAGAIN)
            } else {
                io::Error::last_os_error()
            };
            match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => {
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > STALL_LIMIT {
                        return Err(IoError::os(
                            format!("send on '{}': queue full for over {:?}", link, STALL_LIMIT),
                            e,
                        ));
                    }
                    // EAGAIN: socket buffer full, wait for room. ENOBUFS: the device queue is
                    // full and poll cannot tell us when it drains, so just back off briefly.
                    if e.raw_os_error() == Some(libc::EAGAIN) {
                        let _ = self.sock.wait(libc::POLLOUT, Duration::from_millis(1));
                    } else {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
                _ => return Err(IoError::os(format!("send on '{link}'"), e)),
            }
        }
        Ok(n)
    }

    /// Point one mmsghdr + iovec at each frame of `batch`.
    fn prepare(&mut self, batch: &FrameBatch) {
        let n = batch.len();
        if self.msgs.len() < n {
            // SAFETY: all-zero is a valid mmsghdr / iovec (null pointers, zero lengths).
            self.msgs
                .resize_with(batch.capacity().max(n), || unsafe { zeroed() });
            self.iovs
                .resize_with(batch.capacity().max(n), || unsafe { zeroed() });
        }
        for i in 0..n {
            let frame = batch.frame(i);
            self.iovs[i] = libc::iovec {
                iov_base: frame.as_ptr() as *mut libc::c_void,
                iov_len: frame.len(),
            };
            let h = &mut self.msgs[i].msg_hdr;
            // No address: the socket is bound to the interface, and the kernel reads the
            // protocol from the frame's ethernet header.
            h.msg_name = std::ptr::null_mut();
            h.msg_namelen = 0;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
    }
}
