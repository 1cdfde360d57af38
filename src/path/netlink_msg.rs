//! rtnetlink messages, built and parsed without a socket: the RTM_GETROUTE request for one
//! destination, the route / rule dump requests, and checked parsing of what comes back
//! (RTM_NEWROUTE, RTM_NEWRULE, NLMSG_ERROR, NLMSG_DONE). Every length in the reply is
//! checked before use: bytes from the kernel are parsed like bytes from the network.
//!
//! Layout (linux/netlink.h, linux/rtnetlink.h, linux/fib_rules.h), host byte order:
//! nlmsghdr {len u32, type u16, flags u16, seq u32, pid u32}, then rtmsg {family, dst_len,
//! src_len, tos, table, protocol, scope, type: u8; flags u32} (fib_rule_hdr has the same
//! size and the same first two fields), then attributes {len u16, type u16, value}, each
//! padded to 4 bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::route::{NextHop, NoRoute, Prefix, Route, RouteKind};
use crate::target::Family;

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWRULE: u16 = 32;
pub const RTM_GETRULE: u16 = 34;

pub(super) const NLM_F_REQUEST: u16 = 0x1;
pub(super) const NLM_F_DUMP: u16 = 0x300;

/// Answer with the FIB entry that matched (prefix, table) instead of the resolved route.
pub const RTM_F_FIB_MATCH: u32 = 0x2000;
/// Report the table the route came from (without it the kernel says "main" for every table).
pub const RTM_F_LOOKUP_TABLE: u32 = 0x1000;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const RTA_TABLE: u16 = 15;
/// fib_rules.h: the rule's `to` prefix.
const FRA_DST: u16 = 1;

const NLMSG_HDR: usize = 16;
const RTMSG: usize = 12;
const RTA_HDR: usize = 4;

pub(super) const AF_INET: u8 = libc::AF_INET as u8;
pub(super) const AF_INET6: u8 = libc::AF_INET6 as u8;

pub(super) fn af(family: Family) -> u8 {
    match family {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// nlmsghdr + a 12-byte family header (rtmsg / fib_rule_hdr / ndmsg) + attributes.
pub(super) fn message(
    kind: u16,
    flags: u16,
    seq: u32,
    hdr: [u8; RTMSG],
    attrs: &[(u16, &[u8])],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&[0; NLMSG_HDR]);
    m.extend_from_slice(&hdr);
    for (kind, value) in attrs {
        let len = RTA_HDR + value.len();
        m.extend_from_slice(&(len as u16).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(value);
        m.resize(align4(m.len()), 0);
    }
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m[4..6].copy_from_slice(&kind.to_ne_bytes());
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // pid 0: the kernel fills in ours.
    m
}

fn rtmsg(family: u8, dst_len: u8, flags: u32) -> [u8; RTMSG] {
    let mut h = [0u8; RTMSG];
    h[0] = family;
    h[1] = dst_len;
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h
}

/// RTM_GETROUTE for one destination, as `ip route get DST` sends it (so `ip rule` policy,
/// source selection and on-link routes are honoured), with RTM_F_FIB_MATCH when `fib_match`
/// (`ip route get fibmatch DST`: the matched FIB entry rather than the resolved route).
pub fn route_get_request(dst: IpAddr, seq: u32, fib_match: bool) -> Vec<u8> {
    let flags = RTM_F_LOOKUP_TABLE | if fib_match { RTM_F_FIB_MATCH } else { 0 };
    let (hdr, octets): ([u8; RTMSG], Vec<u8>) = match dst {
        IpAddr::V4(a) => (rtmsg(AF_INET, 32, flags), a.octets().to_vec()),
        IpAddr::V6(a) => (rtmsg(AF_INET6, 128, flags), a.octets().to_vec()),
    };
    message(RTM_GETROUTE, NLM_F_REQUEST, seq, hdr, &[(RTA_DST, &octets)])
}

/// RTM_GETROUTE dump of every table of `family` (`ip route show table all`).
pub fn route_dump_request(family: Family, seq: u32) -> Vec<u8> {
    message(
        RTM_GETROUTE,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        rtmsg(af(family), 0, 0),
        &[],
    )
}

/// RTM_GETRULE dump of `family`'s policy rules (`ip rule show`).
pub fn rule_dump_request(family: Family, seq: u32) -> Vec<u8> {
    message(
        RTM_GETRULE,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        rtmsg(af(family), 0, 0),
        &[],
    )
}

/// Why a reply could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("truncated netlink message")]
    Truncated,
    #[error("malformed netlink message")]
    Malformed,
}

/// One netlink message of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    /// What follows the nlmsghdr, up to the message's own length.
    pub payload: &'a [u8],
}

pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The messages of one received datagram, in order; stops at the first malformed one.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Result<Message<'_>, ParseError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let hdr = (|| {
            let len = u32_at(rest, 0)? as usize;
            Some((len, u16_at(rest, 4)?, u16_at(rest, 6)?, u32_at(rest, 8)?))
        })();
        let Some((len, kind, flags, seq)) = hdr else {
            rest = &[];
            return Some(Err(ParseError::Truncated));
        };
        if len < NLMSG_HDR || len > rest.len() {
            rest = &[];
            return Some(Err(if len < NLMSG_HDR {
                ParseError::Malformed
            } else {
                ParseError::Truncated
            }));
        }
        let payload = &rest[NLMSG_HDR..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok(Message {
            kind,
            flags,
            seq,
            payload,
        }))
    })
}

/// The attributes after a fixed header; stops at the first malformed one.
pub(super) fn attrs(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = b;
    std::iter::from_fn(move || {
        let len = u16_at(rest, 0)? as usize;
        let kind = u16_at(rest, 2)?;
        let value = rest.get(RTA_HDR..len)?;
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        // The top bits are NLA_F_NESTED / NLA_F_NET_BYTEORDER.
        Some((kind & 0x3fff, value))
    })
}

/// The errno of an NLMSG_ERROR (positive; 0 is an acknowledgement).
pub fn error_code(m: &Message<'_>) -> Result<i32, ParseError> {
    let e = u32_at(m.payload, 0).ok_or(ParseError::Truncated)? as i32;
    e.checked_neg().ok_or(ParseError::Malformed)
}

pub(super) fn addr(family: u8, v: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))),
        _ => None,
    }
}

/// An RTM_NEWROUTE as the kernel sent it (a dump entry or a lookup answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteMsg {
    pub family: Family,
    /// RTA_DST and rtm_dst_len (no RTA_DST: the default route).
    pub dst: Prefix,
    /// RTA_TABLE when present (ids above 255), else rtm_table.
    pub table: u32,
    pub rtm_type: u8,
    pub rtm_flags: u32,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    pub prefsrc: Option<IpAddr>,
}

impl RouteMsg {
    pub fn kind(&self) -> RouteKind {
        match self.rtm_type {
            1 => RouteKind::Unicast,
            2 => RouteKind::Local,
            3 => RouteKind::Broadcast,
            4 => RouteKind::Anycast,
            5 => RouteKind::Multicast,
            t => RouteKind::Other(t),
        }
    }

    /// The outcome for a matched route of a type that drops packets (blackhole,
    /// unreachable, prohibit, throw), `None` for a type that sends.
    pub fn refusal(&self) -> Option<NoRoute> {
        match self.rtm_type {
            6 => Some(NoRoute::Blackhole),
            7 => Some(NoRoute::HostUnreachable),
            8 => Some(NoRoute::Prohibited),
            9 => Some(NoRoute::NetUnreachable),
            _ => None,
        }
    }
}

/// Parse an RTM_NEWROUTE's payload (rtmsg + attributes).
pub fn parse_route(m: &Message<'_>) -> Result<RouteMsg, ParseError> {
    let p = m.payload;
    if m.kind != RTM_NEWROUTE {
        return Err(ParseError::Malformed);
    }
    let hdr = p.get(..RTMSG).ok_or(ParseError::Truncated)?;
    let (fam, dst_len, table8, rtm_type) = (hdr[0], hdr[1], hdr[4], hdr[7]);
    let family = match fam {
        AF_INET => Family::V4,
        AF_INET6 => Family::V6,
        _ => return Err(ParseError::Malformed),
    };
    let rtm_flags = u32_at(hdr, 8).ok_or(ParseError::Truncated)?;
    let (mut dst, mut table, mut oif, mut gateway, mut prefsrc) =
        (None, u32::from(table8), None, None, None);
    for (kind, v) in attrs(&p[RTMSG..]) {
        match kind {
            RTA_DST => dst = Some(addr(fam, v).ok_or(ParseError::Malformed)?),
            RTA_TABLE => table = u32_at(v, 0).ok_or(ParseError::Malformed)?,
            RTA_OIF => oif = Some(u32_at(v, 0).ok_or(ParseError::Malformed)?),
            RTA_GATEWAY => gateway = Some(addr(fam, v).ok_or(ParseError::Malformed)?),
            RTA_PREFSRC => prefsrc = Some(addr(fam, v).ok_or(ParseError::Malformed)?),
            _ => {}
        }
    }
    let dst = match dst {
        Some(a) => Prefix::new(a, dst_len),
        None if dst_len == 0 => Some(Prefix::default_route(family)),
        None => None,
    }
    .ok_or(ParseError::Malformed)?;
    Ok(RouteMsg {
        family,
        dst,
        table,
        rtm_type,
        rtm_flags,
        oif,
        gateway,
        prefsrc,
    })
}

/// The `to` prefix of an RTM_NEWRULE (`ip rule add to PREFIX ...`), `None` for a rule that
/// does not select by destination.
pub fn parse_rule_dst(m: &Message<'_>) -> Result<Option<Prefix>, ParseError> {
    let p = m.payload;
    if m.kind != RTM_NEWRULE {
        return Err(ParseError::Malformed);
    }
    let hdr = p.get(..RTMSG).ok_or(ParseError::Truncated)?;
    let (fam, dst_len) = (hdr[0], hdr[1]);
    for (kind, v) in attrs(&p[RTMSG..]) {
        if kind == FRA_DST {
            let a = addr(fam, v).ok_or(ParseError::Malformed)?;
            return Prefix::new(a, dst_len)
                .map(Some)
                .ok_or(ParseError::Malformed);
        }
    }
    Ok(None)
}

/// The answer to one RTM_GETROUTE: a route, or the kernel's errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetReply {
    Route(RouteMsg),
    Errno(i32),
}

/// Read the answer to the request numbered `seq` from one datagram; `None` when the datagram
/// holds no message for it (a stale answer to an earlier request that timed out).
pub fn parse_get_reply(buf: &[u8], seq: u32) -> Result<Option<GetReply>, ParseError> {
    for m in messages(buf) {
        let m = m?;
        if m.seq != seq {
            continue;
        }
        return match m.kind {
            RTM_NEWROUTE => parse_route(&m).map(|r| Some(GetReply::Route(r))),
            NLMSG_ERROR => error_code(&m).map(|e| Some(GetReply::Errno(e))),
            _ => Err(ParseError::Malformed),
        };
    }
    Ok(None)
}

/// One datagram of a dump: its entries, and whether NLMSG_DONE ended the dump.
pub fn parse_dump<T>(
    buf: &[u8],
    seq: u32,
    mut entry: impl FnMut(&Message<'_>) -> Result<Option<T>, ParseError>,
    out: &mut Vec<T>,
) -> Result<bool, ParseError> {
    for m in messages(buf) {
        let m = m?;
        if m.seq != seq {
            continue;
        }
        match m.kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let e = error_code(&m)?;
                if e != 0 {
                    return Err(ParseError::Malformed);
                }
            }
            _ => out.extend(entry(&m)?),
        }
    }
    Ok(false)
}

/// The route the kernel sends `dst` through, from the two answers: `fib` (RTM_F_FIB_MATCH:
/// the matched prefix and table) and `used` (the resolved route: output interface, next hop
/// and selected source, with `lo` for local destinations).
pub fn merge_answers(fib: Option<&RouteMsg>, used: &RouteMsg) -> Result<Route, NoRoute> {
    if let Some(no) = used.refusal() {
        return Err(no);
    }
    Ok(Route {
        prefix: fib.map(|f| f.dst),
        table: fib.map_or(used.table, |f| f.table),
        kind: used.kind(),
        oif: used.oif.unwrap_or(0),
        next_hop: used.gateway.map_or(NextHop::OnLink, NextHop::Gateway),
        source: used.prefsrc,
    })
}

#[cfg(test)]
// The captures are little-endian, as the kernel wrote them on x86-64.
#[cfg(target_endian = "little")]
mod tests {
    use super::*;
    use crate::path::RouteAnswer;
    use crate::path::test_util::{hostile_sweep, ip, pfx};

    // Captured from this crate's own RouteSocket (a temporary hex print of each received
    // datagram) in a namespace set up as:
    //   ip link add d0 type veth peer name d1 (both up)
    //   ip addr add 198.19.0.1/24 dev d0; ip addr add 198.20.0.1/24 dev d0
    //   ip addr add 2001:db8:ff::1/64 dev d0 nodad
    //   ip route add 198.18.0.0/16 via 198.19.0.2
    //   ip rule add to 198.22.0.0/16 table 100
    //   ip route add 198.22.0.0/16 via 198.19.0.3 table 100
    //   ip route add unreachable 198.23.0.0/16
    //   ip -6 route add 2001:db8:1::/64 via 2001:db8:ff::2
    //   ip -6 route add unreachable 2001:db8:2::/64
    // d0 is ifindex 3. *_USED answers the plain request, *_FIB the RTM_F_FIB_MATCH one;
    // requests were numbered from 1 in the order below. Linux 6.18.
    const GW4_USED: &str = concat!(
        "7000000018000000010000002c4f000002200000fe0000010002000008000f00",
        "fe00000008000100c6120102080004000300000008000700c613000108000500",
        "c6130002080019000000000024000c0002000000eb3300000000000000000000",
        "00000000000000000000000000000000",
    );
    const GW4_FIB: &str = concat!(
        "3c00000018000000020000002c4f000002100000fe0300010000000008000f00",
        "fe00000008000100c612000008000500c61300020800040003000000",
    );
    const ONLINK4_USED: &str = concat!(
        "6800000018000000030000002c4f000002200000fe0000010002000008000f00",
        "fe00000008000100c6140009080004000300000008000700c614000108001900",
        "0000000024000c0002000000ea33000000000000000000000000000000000000",
        "0000000000000000",
    );
    const ONLINK4_FIB: &str = concat!(
        "3c00000018000000040000002c4f000002180000fe02fd010000000008000f00",
        "fe00000008000100c614000008000700c61400010800040003000000",
    );
    const LOCAL4_USED: &str = concat!(
        "6800000018000000050000002c4f000002200000ff0000020002008008000f00",
        "ff00000008000100c6130001080004000100000008000700c613000108001900",
        "0000000024000c00010000000000000000000000000000000000000000000000",
        "0000000000000000",
    );
    const LOCAL4_FIB: &str = concat!(
        "3c00000018000000060000002c4f000002200000ff02fe020000000008000f00",
        "ff00000008000100c613000108000700c61300010800040003000000",
    );
    const POLICY4_USED: &str = concat!(
        "7000000018000000070000002c4f000002200000640000010002000008000f00",
        "6400000008000100c6160304080004000300000008000700c613000108000500",
        "c6130003080019000000000024000c0002000000fc0500000000000000000000",
        "00000000000000000000000000000000",
    );
    const POLICY4_FIB: &str = concat!(
        "3c00000018000000080000002c4f000002100000640300010000000008000f00",
        "6400000008000100c616000008000500c61300030800040003000000",
    );
    const UNREACHABLE4_ERR: &str = concat!(
        "3800000002000000090000002c4f00008fffffff240000001a00010009000000",
        "0000000002200000000000000010000008000100c6170101",
    );
    const NOROUTE4_ERR: &str = concat!(
        "38000000020000000a0000002c4f00009bffffff240000001a0001000a000000",
        "0000000002200000000000000010000008000100cb007107",
    );
    const GW6_USED: &str = concat!(
        "b0000000180000000b0000002c4f00000a808000fe0300010000000008000f00",
        "fe0000001400010020010db80001000000000000000000051400020000000000",
        "0000000000000000000000001400070020010db800ff00000000000000000001",
        "08000600000400001400050020010db800ff0000000000000000000208000400",
        "0300000024000c0002000000fc05000000000000000000000000000000000000",
        "00000000000000000500140000000000",
    );
    const GW6_FIB: &str = concat!(
        "88000000180000000c0000002c4f00000a400000fe0300010000000008000f00",
        "fe0000001400010020010db80001000000000000000000000800060000040000",
        "1400050020010db800ff00000000000000000002080004000300000024000c00",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0500140000000000",
    );
    const LOCAL6_USED: &str = concat!(
        "9c000000180000000d0000002c4f00000a808000ff0200020000000008000f00",
        "ff0000001400010020010db800ff000000000000000000011400020000000000",
        "0000000000000000000000001400070020010db800ff00000000000000000001",
        "0800060000000000080004000100000024000c0002000000fb05000000000000",
        "00000000000000000000000000000000000000000500140000000000",
    );
    const LOCAL6_FIB: &str = concat!(
        "74000000180000000e0000002c4f00000a800000ff0200020000000008000f00",
        "ff0000001400010020010db800ff000000000000000000010800060000000000",
        "080004000300000024000c000000000000000000000000000000000000000000",
        "0000000000000000000000000500140000000000",
    );
    const RULES4_DUMP: &str = concat!(
        "340000002000020001000000304f000002000000ff0000010000000008000f00",
        "ff00000008000e00ffffffff0500150002000000440000002000020001000000",
        "304f000002100000640000010000000008000f006400000008000e00ffffffff",
        "050015000000000008000600fd7f000008000100c61600003c00000020000200",
        "01000000304f000002000000fe0000010000000008000f00fe00000008000e00",
        "ffffffff050015000200000008000600fe7f00003c0000002000020001000000",
        "304f000002000000fd0000010000000008000f00fd00000008000e00ffffffff",
        "050015000200000008000600ff7f0000140000000300020001000000304f0000",
        "00000000",
    );
    const ROUTES6_DUMP_1: &str = concat!(
        "880000001800020002000000304f00000a400000fe0300010000000008000f00",
        "fe0000001400010020010db80001000000000000000000000800060000040000",
        "1400050020010db800ff00000000000000000002080004000300000024000c00",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0500140000000000740000001800020002000000304f00000a400000fe030007",
        "0000000008000f00fe0000001400010020010db8000200000000000000000000",
        "0800060000040000080004000100000024000c00000000000000000000000000",
        "0000000000000000000000000000000000000000050014000000000074000000",
        "1800020002000000304f00000a400000fe0200010000000008000f00fe000000",
        "1400010020010db800ff00000000000000000000080006000001000008000400",
        "0300000024000c00000000000000000000000000000000000000000000000000",
        "00000000000000000500140000000000740000001800020002000000304f0000",
        "0a400000fe0200010000000008000f00fe00000014000100fe80000000000000",
        "00000000000000000800060000010000080004000200000024000c0000000000",
        "0000000000000000000000000000000000000000000000000000000005001400",
        "00000000740000001800020002000000304f00000a400000fe02000100000000",
        "08000f00fe00000014000100fe80000000000000000000000000000008000600",
        "00010000080004000300000024000c0000000000000000000000000000000000",
        "0000000000000000000000000000000005001400000000007400000018000200",
        "02000000304f00000a800000ff0200020000000008000f00ff00000014000100",
        "0000000000000000000000000000000108000600000000000800040001000000",
        "24000c0000000000000000000000000000000000000000000000000000000000",
        "000000000500140000000000740000001800020002000000304f00000a800000",
        "ff0200020000000008000f00ff0000001400010020010db800ff000000000000",
        "000000010800060000000000080004000300000024000c000000000000000000",
        "0000000000000000000000000000000000000000000000000500140000000000",
        "740000001800020002000000304f00000a800000ff0200020000000008000f00",
        "ff00000014000100fe8000000000000078bca2fffe95ab650800060000000000",
        "080004000300000024000c000000000000000000000000000000000000000000",
        "0000000000000000000000000500140000000000740000001800020002000000",
        "304f00000a800000ff0200020000000008000f00ff00000014000100fe800000",
        "00000000b0945bfffe348d530800060000000000080004000200000024000c00",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0500140000000000740000001800020002000000304f00000a080000ff020005",
        "0000000008000f00ff00000014000100ff000000000000000000000000000000",
        "0800060000010000080004000200000024000c00000000000000000000000000",
        "0000000000000000000000000000000000000000050014000000000074000000",
        "1800020002000000304f00000a080000ff0200050000000008000f00ff000000",
        "14000100ff000000000000000000000000000000080006000001000008000400",
        "0300000024000c00000000000000000000000000000000000000000000000000",
        "00000000000000000500140000000000",
    );
    const ROUTES6_DUMP_2: &str = "140000000300020002000000304f000000000000";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn route(h: &str, seq: u32) -> RouteMsg {
        match parse_get_reply(&hex(h), seq) {
            Ok(Some(GetReply::Route(r))) => r,
            other => panic!("{other:?}"),
        }
    }

    fn answer(used: &str, fib: &str, seq: u32) -> Result<Route, NoRoute> {
        merge_answers(Some(&route(fib, seq + 1)), &route(used, seq))
    }

    #[test]
    fn request_matches_what_the_kernel_echoed() {
        // NLMSG_ERROR quotes the request it refuses: header, rtmsg, RTA_DST.
        let err = hex(UNREACHABLE4_ERR);
        assert_eq!(route_get_request(ip("198.23.1.1"), 9, false), &err[20..]);
        let err = hex(NOROUTE4_ERR);
        assert_eq!(route_get_request(ip("203.0.113.7"), 10, false), &err[20..]);
        let fib = route_get_request(ip("2001:db8::1"), 7, true);
        assert_eq!(fib.len(), 16 + 12 + 20);
        assert_eq!(u32::from_ne_bytes(fib[24..28].try_into().unwrap()), 0x3000);
        assert_eq!(fib[17], 128);
        let dump = route_dump_request(Family::V6, 2);
        assert_eq!(dump.len(), 28);
        assert_eq!(&dump[4..8], &[26, 0, 0x01, 0x03]);
        assert_eq!(rule_dump_request(Family::V4, 1)[4], 34);
    }

    #[test]
    fn gateway_route_v4() {
        let r = answer(GW4_USED, GW4_FIB, 1).unwrap();
        assert_eq!(
            r,
            Route {
                prefix: Some(pfx("198.18.0.0/16")),
                table: 254,
                kind: RouteKind::Unicast,
                oif: 3,
                next_hop: NextHop::Gateway(ip("198.19.0.2")),
                source: Some(ip("198.19.0.1")),
            }
        );
        // The FIB entry itself names no source: it comes from the plain answer.
        assert_eq!(route(GW4_FIB, 2).prefsrc, None);
        assert_eq!(route(GW4_USED, 1).dst, pfx("198.18.1.2/32"));
    }

    #[test]
    fn on_link_route_v4() {
        let r = answer(ONLINK4_USED, ONLINK4_FIB, 3).unwrap();
        assert_eq!(r.prefix, Some(pfx("198.20.0.0/24")));
        assert_eq!(r.next_hop, NextHop::OnLink);
        assert_eq!((r.oif, r.source), (3, Some(ip("198.20.0.1"))));
    }

    #[test]
    fn local_address_goes_through_lo() {
        let r = answer(LOCAL4_USED, LOCAL4_FIB, 5).unwrap();
        assert_eq!(r.kind, RouteKind::Local);
        assert_eq!((r.oif, r.table), (1, 255));
        assert_eq!(r.prefix, Some(pfx("198.19.0.1/32")));
        // FIB_MATCH names the address's own device, the plain answer lo.
        assert_eq!(route(LOCAL4_FIB, 6).oif, Some(3));
        let r6 = answer(LOCAL6_USED, LOCAL6_FIB, 13).unwrap();
        assert_eq!((r6.kind, r6.oif, r6.table), (RouteKind::Local, 1, 255));
        assert_eq!(r6.prefix, Some(pfx("2001:db8:ff::1/128")));
    }

    #[test]
    fn policy_table_is_reported() {
        let r = answer(POLICY4_USED, POLICY4_FIB, 7).unwrap();
        assert_eq!(r.table, 100);
        assert_eq!(r.prefix, Some(pfx("198.22.0.0/16")));
        assert_eq!(r.next_hop, NextHop::Gateway(ip("198.19.0.3")));
    }

    #[test]
    fn gateway_route_v6() {
        let r = answer(GW6_USED, GW6_FIB, 11).unwrap();
        assert_eq!(r.prefix, Some(pfx("2001:db8:1::/64")));
        assert_eq!(r.next_hop, NextHop::Gateway(ip("2001:db8:ff::2")));
        assert_eq!((r.oif, r.table), (3, 254));
        assert_eq!(r.source, Some(ip("2001:db8:ff::1")));
    }

    #[test]
    fn errors_are_typed_outcomes() {
        let e = |h: &str, seq| match parse_get_reply(&hex(h), seq) {
            Ok(Some(GetReply::Errno(e))) => NoRoute::from_errno(e),
            other => panic!("{other:?}"),
        };
        assert_eq!(e(UNREACHABLE4_ERR, 9), Some(NoRoute::HostUnreachable));
        assert_eq!(e(NOROUTE4_ERR, 10), Some(NoRoute::NetUnreachable));
        assert_eq!(NoRoute::from_errno(libc::EINVAL), Some(NoRoute::Blackhole));
        assert_eq!(NoRoute::from_errno(libc::EACCES), Some(NoRoute::Prohibited));
        assert_eq!(NoRoute::from_errno(libc::ENOBUFS), None);
        // A stale answer (another sequence number) is skipped, not taken.
        assert_eq!(parse_get_reply(&hex(NOROUTE4_ERR), 9), Ok(None));
        let _ = RouteAnswer::NoRoute(NoRoute::Blackhole);
    }

    #[test]
    fn refusing_route_types_are_no_route() {
        let mut used = route(GW4_USED, 1);
        for (t, no) in [
            (6, NoRoute::Blackhole),
            (7, NoRoute::HostUnreachable),
            (8, NoRoute::Prohibited),
            (9, NoRoute::NetUnreachable),
        ] {
            used.rtm_type = t;
            assert_eq!(merge_answers(None, &used), Err(no));
        }
        used.rtm_type = 3;
        assert_eq!(
            merge_answers(None, &used).unwrap().kind,
            RouteKind::Broadcast
        );
    }

    #[test]
    fn dumps_list_prefixes_of_every_table() {
        let mut rules = Vec::new();
        assert_eq!(
            parse_dump(&hex(RULES4_DUMP), 1, parse_rule_dst, &mut rules),
            Ok(true)
        );
        assert_eq!(rules, vec![pfx("198.22.0.0/16")]);
        let mut routes = Vec::new();
        let dst = |m: &Message<'_>| parse_route(m).map(|r| Some(r.dst));
        assert_eq!(
            parse_dump(&hex(ROUTES6_DUMP_1), 2, dst, &mut routes),
            Ok(false)
        );
        assert_eq!(
            parse_dump(&hex(ROUTES6_DUMP_2), 2, dst, &mut routes),
            Ok(true)
        );
        // `ip -6 route show table all`: main (2 routes + 3 connected) and local (4 + 2).
        assert_eq!(routes.len(), 11);
        for p in ["2001:db8:1::/64", "2001:db8:2::/64", "::1/128", "ff00::/8"] {
            assert!(routes.contains(&pfx(p)), "{p}");
        }
    }

    /// Truncated, mutated and random datagrams never make a parser panic.
    #[test]
    fn hostile_bytes_never_panic() {
        let corpus: Vec<Vec<u8>> = [
            GW4_USED,
            GW4_FIB,
            LOCAL6_USED,
            GW6_FIB,
            NOROUTE4_ERR,
            RULES4_DUMP,
            ROUTES6_DUMP_1,
        ]
        .iter()
        .map(|h| hex(h))
        .collect();
        let all = |b: &[u8]| {
            for seq in [1, 2, 10] {
                let _ = parse_get_reply(b, seq);
                let mut v = Vec::new();
                let _ = parse_dump(b, seq, parse_rule_dst, &mut v);
                let mut v = Vec::new();
                let _ = parse_dump(b, seq, |m| parse_route(m).map(Some), &mut v);
            }
        };
        hostile_sweep(&corpus, all);
    }
}
