//! The rtnetlink socket: asks the kernel how it routes a destination (RTM_GETROUTE, as
//! `ip route get` does), dumps the routing tables and policy rules whose prefixes bound
//! the planner's regions, and dumps the neighbour table (RTM_GETNEIGH, as `ip neigh show`).
//! Messages are built and parsed in `path::netlink_msg` and `path::neigh_msg`; this file
//! only moves bytes, with a bounded wait for each answer.
//!
//! A netlink socket belongs to the network namespace of the thread that opened it.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, sendto,
    setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;

use super::IoError;
use crate::path::netlink_msg::{self, GetReply, ParseError};
use crate::path::{NeighbourEntry, NoRoute, Prefix, RouteAnswer, neigh_msg};
use crate::target::Family;

/// How long one answer may take: the kernel answers from memory, so this only bounds a
/// kernel that never answers.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// A dump larger than this many datagrams is not a routing table we can use.
const MAX_DUMP_DATAGRAMS: usize = 1 << 20;
/// Datagrams of other requests (stale answers) skipped while waiting for one answer.
const MAX_STALE: usize = 64;

/// An open NETLINK_ROUTE socket.
pub struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

fn nl_err(what: &str, e: nix::Error) -> IoError {
    IoError::os(what, std::io::Error::from(e))
}

fn parse_err(what: &str, e: ParseError) -> IoError {
    IoError::os(
        what,
        std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    )
}

impl RouteSocket {
    /// Open a route socket in the calling thread's network namespace.
    pub fn open() -> Result<RouteSocket, IoError> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| nl_err("netlink socket", e))?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| nl_err("netlink bind", e))?;
        let t = TimeVal::new(
            ANSWER_TIMEOUT.as_secs() as _,
            ANSWER_TIMEOUT.subsec_micros() as _,
        );
        setsockopt(&fd, sockopt::ReceiveTimeout, &t)
            .map_err(|e| nl_err("netlink SO_RCVTIMEO", e))?;
        Ok(RouteSocket {
            fd,
            seq: 0,
            // Dump datagrams are at most a page or 32 KiB; 64 KiB holds any.
            buf: vec![0; 64 * 1024],
        })
    }

    fn send(&mut self, build: impl FnOnce(u32) -> Vec<u8>) -> Result<u32, IoError> {
        self.seq = self.seq.wrapping_add(1);
        let req = build(self.seq);
        sendto(
            self.fd.as_raw_fd(),
            &req,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .map_err(|e| nl_err("netlink send", e))?;
        Ok(self.seq)
    }

    /// One datagram; MSG_TRUNC makes a datagram larger than the buffer an error, not a
    /// silently cut message.
    fn recv(&mut self) -> Result<&[u8], IoError> {
        let n = recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::MSG_TRUNC)
            .map_err(|e| nl_err("netlink receive (no answer from the kernel)", e))?;
        if n > self.buf.len() {
            return Err(parse_err("netlink receive", ParseError::Truncated));
        }
        Ok(&self.buf[..n])
    }

    fn get(&mut self, dst: IpAddr, fib_match: bool) -> Result<GetReply, IoError> {
        let seq = self.send(|seq| netlink_msg::route_get_request(dst, seq, fib_match))?;
        for _ in 0..MAX_STALE {
            let datagram = self.recv()?;
            if let Some(reply) = netlink_msg::parse_get_reply(datagram, seq)
                .map_err(|e| parse_err("route answer", e))?
            {
                return Ok(reply);
            }
        }
        Err(parse_err("route answer", ParseError::Malformed))
    }

    /// How the kernel routes `dst`, exactly as `ip route get DST`: two questions, the
    /// resolved route (interface, next hop, source; `lo` for a local address) and the
    /// matched FIB entry (prefix, table; RTM_F_FIB_MATCH).
    pub fn lookup(&mut self, dst: IpAddr) -> Result<RouteAnswer, IoError> {
        let used = match self.get(dst, false)? {
            GetReply::Route(r) => r,
            GetReply::Errno(e) => return errno_answer(dst, e),
        };
        let fib = match self.get(dst, true)? {
            GetReply::Route(r) => Some(r),
            // The resolved route exists, so a failing FIB match only loses the prefix.
            GetReply::Errno(_) => None,
        };
        Ok(match netlink_msg::merge_answers(fib.as_ref(), &used) {
            Ok(route) => RouteAnswer::Route(route),
            Err(no) => RouteAnswer::NoRoute(no),
        })
    }

    fn dump<T>(
        &mut self,
        what: &str,
        build: impl FnOnce(u32) -> Vec<u8>,
        entry: impl FnMut(&netlink_msg::Message<'_>) -> Result<Option<T>, ParseError> + Copy,
    ) -> Result<Vec<T>, IoError> {
        let seq = self.send(build)?;
        let mut out = Vec::new();
        for _ in 0..MAX_DUMP_DATAGRAMS {
            let datagram = self.recv()?;
            if netlink_msg::parse_dump(datagram, seq, entry, &mut out)
                .map_err(|e| parse_err(what, e))?
            {
                return Ok(out);
            }
        }
        Err(parse_err(what, ParseError::Malformed))
    }

    /// Every entry of `family`'s neighbour table, in any state (`ip neigh show`, NOARP
    /// entries included); `NeighbourEntry::is_usable` tells which the kernel sends to.
    pub fn neighbours(&mut self, family: Family) -> Result<Vec<NeighbourEntry>, IoError> {
        self.neighbour_dump(family, None)
    }

    /// The entries of `family`'s neighbour table on interface `ifindex` (`ip neigh show dev
    /// X`): the kernel filters, so a large table on other interfaces is not copied to us.
    pub fn neighbours_on(
        &mut self,
        family: Family,
        ifindex: u32,
    ) -> Result<Vec<NeighbourEntry>, IoError> {
        self.neighbour_dump(family, Some(ifindex))
    }

    fn neighbour_dump(
        &mut self,
        family: Family,
        ifindex: Option<u32>,
    ) -> Result<Vec<NeighbourEntry>, IoError> {
        self.dump(
            "neighbour dump",
            |seq| neigh_msg::neigh_dump_request(family, ifindex, seq),
            neigh_msg::parse_neigh,
        )
    }

    /// The prefix of every route in every table of `family` (main, local and policy
    /// tables, all types).
    pub fn route_prefixes(&mut self, family: Family) -> Result<Vec<Prefix>, IoError> {
        self.dump(
            "route dump",
            |seq| netlink_msg::route_dump_request(family, seq),
            |m| netlink_msg::parse_route(m).map(|r| Some(r.dst)),
        )
    }

    /// The `to` prefixes of `family`'s policy rules (`ip rule add to PREFIX ...`).
    pub fn rule_prefixes(&mut self, family: Family) -> Result<Vec<Prefix>, IoError> {
        self.dump(
            "rule dump",
            |seq| netlink_msg::rule_dump_request(family, seq),
            netlink_msg::parse_rule_dst,
        )
    }

    /// Every prefix at which a destination lookup's answer can change: routes of all tables
    /// and the rules' `to` prefixes. The planner's boundaries.
    pub fn boundary_prefixes(&mut self, family: Family) -> Result<Vec<Prefix>, IoError> {
        let mut p = self.route_prefixes(family)?;
        p.extend(self.rule_prefixes(family)?);
        Ok(p)
    }
}

fn errno_answer(dst: IpAddr, errno: i32) -> Result<RouteAnswer, IoError> {
    NoRoute::from_errno(errno)
        .map(RouteAnswer::NoRoute)
        .ok_or_else(|| {
            IoError::os(
                format!("route lookup for {dst}"),
                std::io::Error::from_raw_os_error(errno),
            )
        })
}
