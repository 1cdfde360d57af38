//! The next hop's MAC address: from the kernel's neighbour table (an rtnetlink dump) when
//! it has a usable entry, else by asking the wire ourselves (ARP request / IPv6 Neighbor
//! Solicitation).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::netlink::RouteSocket;
use super::socket::{
    ETH_P_ARP, ETH_P_IPV6, PACKET_IGNORE_OUTGOING, PACKET_OUTGOING, SOL_PACKET, open_bound,
};
use super::{IoError, Link};
use crate::path::NeighbourEntry;
use crate::target::Family;
use crate::wire::{FRAME_CAP, neighbour};

const TRIES: u32 = 3;
const TRY_WAIT: Duration = Duration::from_millis(350);

/// Neighbour table first, then ARP / NDP on the wire; `NoNeighbour` when nobody answers.
pub(crate) fn next_hop_mac(link: &Link, src: IpAddr, hop: IpAddr) -> Result<[u8; 6], IoError> {
    // The table only saves a round trip on the wire: when it cannot be read, the wire
    // answers instead, as it does for an address the table does not hold.
    if let Ok(Some(mac)) = table_mac(link.index, hop) {
        return Ok(mac);
    }
    resolve(link, src, hop)?.ok_or(IoError::NoNeighbour(hop))
}

/// The MAC of `hop` on interface `ifindex` in the kernel's neighbour table, when usable.
pub(crate) fn table_mac(ifindex: u32, hop: IpAddr) -> Result<Option<[u8; 6]>, IoError> {
    let entries = RouteSocket::open()?.neighbours_on(Family::of(hop), ifindex)?;
    Ok(entries
        .iter()
        .find(|e| e.ip == hop && e.ifindex == ifindex)
        .and_then(NeighbourEntry::usable_mac))
}

/// The usable entries of the kernel's neighbour tables, IPv4 and IPv6, every interface
/// (the calling thread's network namespace): the MACs the kernel already sends to.
pub fn neighbour_entries() -> Result<Vec<NeighbourEntry>, IoError> {
    let mut rs = RouteSocket::open()?;
    let mut all = rs.neighbours(Family::V4)?;
    all.extend(rs.neighbours(Family::V6)?);
    all.retain(NeighbourEntry::is_usable);
    Ok(all)
}

/// Ask the link who has `hop`: up to TRIES requests, TRY_WAIT each.
fn resolve(link: &Link, src: IpAddr, hop: IpAddr) -> Result<Option<[u8; 6]>, IoError> {
    let proto = if hop.is_ipv4() { ETH_P_ARP } else { ETH_P_IPV6 };
    let mut request = [0u8; FRAME_CAP];
    let len = neighbour::build_request(&mut request, link.mac, src, hop);
    if len == 0 {
        return Ok(None);
    }
    let request = &request[..len];
    let sock = open_bound(&link.name, link.index, proto)?;
    // Our own request would otherwise come back to us as an outgoing copy.
    let _ = sock.set_opt(SOL_PACKET, PACKET_IGNORE_OUTGOING, &1i32);
    let mut buf = [0u8; 2048];
    for _ in 0..TRIES {
        sock.send(request)
            .map_err(|e| IoError::os(format!("send neighbour request on '{}'", link.name), e))?;
        let deadline = Instant::now() + TRY_WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if !sock
                .wait(libc::POLLIN, left)
                .map_err(|e| IoError::os("wait for neighbour reply", e))?
            {
                continue;
            }
            while let Some((n, pkttype)) = sock
                .recv(&mut buf)
                .map_err(|e| IoError::os("read neighbour reply", e))?
            {
                if pkttype == PACKET_OUTGOING {
                    continue;
                }
                match neighbour::parse_answer(&buf[..n]) {
                    Some((ip, mac)) if ip == hop => return Ok(Some(mac)),
                    _ => {}
                }
            }
        }
    }
    Ok(None)
}
