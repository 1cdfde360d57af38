//! The AF_PACKET file descriptor: open, bind to one interface, socket options, waiting.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::IoError;

pub(crate) const ETH_P_ALL: u16 = 0x0003;
pub(crate) const ETH_P_ARP: u16 = 0x0806;
pub(crate) const ETH_P_IPV6: u16 = 0x86DD;

// From <linux/if_packet.h>; spelled out so we do not depend on where libc files them.
pub(crate) const SOL_PACKET: libc::c_int = 263;
pub(crate) const PACKET_RX_RING: libc::c_int = 5;
pub(crate) const PACKET_STATISTICS: libc::c_int = 6;
pub(crate) const PACKET_VERSION: libc::c_int = 10;
pub(crate) const PACKET_QDISC_BYPASS: libc::c_int = 20;
pub(crate) const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
pub(crate) const PACKET_OUTGOING: u8 = 4;
pub(crate) const TPACKET_V3: libc::c_int = 2;

/// An AF_PACKET SOCK_RAW socket (non-blocking, close-on-exec). Frames start at the
/// ethernet header in both directions.
pub(crate) struct PacketSocket {
    fd: OwnedFd,
}

impl PacketSocket {
    /// Open with `protocol` (host order). Protocol 0 receives nothing until `bind` names one,
    /// which lets us attach the filter before the first frame can arrive.
    pub fn open(protocol: u16) -> io::Result<PacketSocket> {
        // SAFETY: plain syscall with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::c_int::from(protocol.to_be()),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        Ok(PacketSocket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Bind to interface `ifindex`, receiving `protocol` (host order; 0 = nothing).
    pub fn bind(&self, ifindex: u32, protocol: u16) -> io::Result<()> {
        let sll = sockaddr_ll(ifindex, protocol);
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        let r = unsafe {
            libc::bind(
                self.raw(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// setsockopt with a plain-old-data value.
    pub fn set_opt<T: Copy>(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        val: &T,
    ) -> io::Result<()> {
        // SAFETY: `val` points to `size_of::<T>()` readable bytes for the call's duration.
        let r = unsafe {
            libc::setsockopt(
                self.raw(),
                level,
                name,
                (val as *const T).cast(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// getsockopt into a plain-old-data value (integers / C structs only).
    pub fn get_opt<T: Copy>(&self, level: libc::c_int, name: libc::c_int) -> io::Result<T> {
        // SAFETY: T is only instantiated with integer-only C structs, for which all-zero is valid.
        let mut val: T = unsafe { zeroed() };
        let mut len = size_of::<T>() as libc::socklen_t;
        // SAFETY: `val` has `len` writable bytes; the kernel writes at most `len`.
        let r = unsafe {
            libc::getsockopt(
                self.raw(),
                level,
                name,
                (&mut val as *mut T).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(val)
    }

    /// Wait up to `timeout` for `events`; true when they are ready.
    pub fn wait(&self, events: libc::c_short, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.raw(),
            events,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // Round a sub-millisecond wait up, or poll(0) would spin.
        let ms = if ms == 0 && !timeout.is_zero() { 1 } else { ms };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(e);
        }
        Ok(r > 0)
    }

    /// Receive one frame without blocking: `Some((len, pkttype))`, `None` when drained.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, u8)>> {
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut from: libc::sockaddr_ll = unsafe { zeroed() };
        let mut fromlen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` and `from` are writable for the lengths passed.
        let n = unsafe {
            libc::recvfrom(
                self.raw(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut fromlen,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        // MSG_TRUNC reports the real length; never claim more than we hold.
        Ok(Some(((n as usize).min(buf.len()), from.sll_pkttype)))
    }

    /// Send one frame on the bound interface (slow path: ARP/NDP, tests).
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: `frame` is readable for its length.
        let n = unsafe { libc::send(self.raw(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

pub(crate) fn sockaddr_ll(ifindex: u32, protocol: u16) -> libc::sockaddr_ll {
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as libc::c_int;
    sll
}

/// Open + bind in one step, with errors that name the interface.
pub(crate) fn open_bound(
    ifname: &str,
    ifindex: u32,
    protocol: u16,
) -> Result<PacketSocket, IoError> {
    let s = PacketSocket::open(0).map_err(open_error)?;
    s.bind(ifindex, protocol)
        .map_err(|e| IoError::os(format!("bind packet socket to '{ifname}'"), e))?;
    Ok(s)
}

/// EPERM / EACCES become the friendly privilege error.
pub(crate) fn open_error(e: io::Error) -> IoError {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => IoError::Privilege(current_exe()),
        _ => IoError::os("open AF_PACKET socket", e),
    }
}

pub(crate) fn current_exe() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "synprobe".to_string())
}
