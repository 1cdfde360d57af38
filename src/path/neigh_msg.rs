//! rtnetlink neighbour messages, built and parsed without a socket: the RTM_GETNEIGH dump
//! request (`ip neigh show [dev X]`) and checked parsing of the RTM_NEWNEIGH entries it
//! returns. The kernel's neighbour table holds the MACs it already knows (gateways, on-link
//! hosts, `ip neigh add ... nud permanent`), so a probe can use them without asking the wire.
//!
//! Layout (linux/neighbour.h), host byte order: nlmsghdr, then ndmsg {family u8, pad u8,
//! pad u16, ifindex i32, state u16, flags u8, type u8} (12 bytes, like rtmsg), then
//! attributes. A dump is filtered by interface with an NDA_IFINDEX attribute, as iproute2
//! does: the kernel ignores ndm_ifindex in a dump request.

use std::net::IpAddr;

use super::netlink_msg::{
    AF_INET, AF_INET6, Message, NLM_F_DUMP, NLM_F_REQUEST, ParseError, addr, af, attrs, message,
    u16_at, u32_at,
};
use crate::target::Family;

pub const RTM_NEWNEIGH: u16 = 28;
pub const RTM_GETNEIGH: u16 = 30;

const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NDA_IFINDEX: u16 = 8;

const NDMSG: usize = 12;

/// ndm_state bits (NUD_*): where the kernel's resolution of the entry stands.
pub const NUD_INCOMPLETE: u16 = 0x01;
pub const NUD_REACHABLE: u16 = 0x02;
pub const NUD_STALE: u16 = 0x04;
pub const NUD_DELAY: u16 = 0x08;
pub const NUD_PROBE: u16 = 0x10;
pub const NUD_FAILED: u16 = 0x20;
pub const NUD_NOARP: u16 = 0x40;
pub const NUD_PERMANENT: u16 = 0x80;
/// The states whose link-layer address the kernel itself sends to (its NUD_VALID): a
/// STALE, DELAY or PROBE entry is being re-confirmed, but its MAC is still the one in use.
const NUD_VALID: u16 =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

/// One entry of the kernel's neighbour table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighbourEntry {
    pub ifindex: u32,
    pub ip: IpAddr,
    /// NDA_LLADDR when it is an Ethernet address (6 bytes); an unresolved entry has none.
    pub mac: Option<[u8; 6]>,
    /// ndm_state: NUD_* bits.
    pub state: u16,
    /// ndm_flags: NTF_* bits (NTF_ROUTER 0x80 for an IPv6 router).
    pub flags: u8,
}

impl NeighbourEntry {
    /// The kernel sends to this entry's MAC: a valid state and an Ethernet address. Not
    /// INCOMPLETE (asking), FAILED (nobody answered) or NONE (just created).
    pub fn is_usable(&self) -> bool {
        self.state & NUD_VALID != 0 && self.mac.is_some()
    }

    /// The MAC when the entry is usable.
    pub fn usable_mac(&self) -> Option<[u8; 6]> {
        self.mac.filter(|_| self.is_usable())
    }
}

/// RTM_GETNEIGH dump of `family`'s neighbour table, of one interface when `ifindex` is set.
pub fn neigh_dump_request(family: Family, ifindex: Option<u32>, seq: u32) -> Vec<u8> {
    let mut hdr = [0u8; NDMSG];
    hdr[0] = af(family);
    let index = ifindex.map(u32::to_ne_bytes);
    let attrs: Vec<(u16, &[u8])> = index.iter().map(|i| (NDA_IFINDEX, &i[..])).collect();
    message(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq, hdr, &attrs)
}

/// Parse an RTM_NEWNEIGH's payload (ndmsg + attributes). `None` for an entry that names no
/// IP address of ours to look up (another family, such as a bridge's; no NDA_DST).
pub fn parse_neigh(m: &Message<'_>) -> Result<Option<NeighbourEntry>, ParseError> {
    if m.kind != RTM_NEWNEIGH {
        return Err(ParseError::Malformed);
    }
    let p = m.payload;
    let hdr = p.get(..NDMSG).ok_or(ParseError::Truncated)?;
    let fam = hdr[0];
    if fam != AF_INET && fam != AF_INET6 {
        return Ok(None);
    }
    let ifindex = u32_at(hdr, 4).ok_or(ParseError::Truncated)?;
    let state = u16_at(hdr, 8).ok_or(ParseError::Truncated)?;
    let flags = hdr[10];
    let (mut ip, mut mac) = (None, None);
    for (kind, v) in attrs(&p[NDMSG..]) {
        match kind {
            NDA_DST => ip = Some(addr(fam, v).ok_or(ParseError::Malformed)?),
            // Other lengths are other link types (InfiniBand, tunnels): no Ethernet MAC.
            NDA_LLADDR => mac = <[u8; 6]>::try_from(v).ok(),
            _ => {}
        }
    }
    Ok(ip.map(|ip| NeighbourEntry {
        ifindex,
        ip,
        mac,
        state,
        flags,
    }))
}

#[cfg(test)]
// The captures are little-endian, as the kernel wrote them on x86-64.
#[cfg(target_endian = "little")]
mod tests {
    use super::super::netlink_msg::parse_dump;
    use super::*;
    use crate::path::test_util::hostile_sweep;

    // Captured with a Python AF_NETLINK socket sending the RTM_GETNEIGH dump requests
    // below (the bytes iproute2 sends, seen with `strace -xx ip neigh show dev d0`) and
    // printing each received datagram as hex, in `unshare -n` set up as:
    //   ip link add d0 type veth peer name d1; ip link add e0 type veth peer name e1 (up)
    //   ip addr add 198.19.0.1/24 dev d0; ip -6 addr add 2001:db8:ff::1/64 dev d0 nodad
    //   ip addr add 198.21.0.1/24 dev e0
    //   ip neigh add 198.19.0.50 lladdr 02:00:00:00:00:50 dev d0 nud permanent
    //   ip neigh add 198.19.0.51 lladdr 02:00:00:00:00:51 dev d0 nud stale
    //   ip neigh add 198.19.0.52 lladdr 02:00:00:00:00:52 dev d0 nud reachable
    //   ip neigh add 198.19.0.53 lladdr 02:00:00:00:00:53 dev d0 nud noarp
    //   ip neigh add 198.19.0.54 dev d0 nud failed
    //   ip neigh add 198.21.0.60 lladdr 02:00:00:00:00:60 dev e0 nud permanent
    //   ip -6 neigh add 2001:db8:ff::50 lladdr 02:00:00:00:00:70 dev d0 nud permanent
    //   ip -6 neigh add 2001:db8:ff::51 lladdr 02:00:00:00:00:71 dev d0 nud reachable router
    //   ip -6 neigh add 2001:db8:ff::52 dev d0 nud incomplete
    // d0 is ifindex 3, e0 ifindex 5. Requests numbered 1 (IPv4), 2 (IPv6), 3 (IPv4 on e0).
    // The IPv6 table also holds the kernel's own NOARP multicast entries (ff02::2, ff02::16,
    // solicited-node groups, 33:33:... MACs) on every interface. Linux 6.18.
    const REQ_V4: &str = "1c0000001e0001030100000000000000020000000000000000000000";
    const REQ_V6: &str = "1c0000001e00010302000000000000000a0000000000000000000000";
    const REQ_V4_ON_E0: &str =
        "240000001e00010303000000000000000200000000000000000000000800080005000000";
    const V4_DUMP: &str = concat!(
        "4c0000001c00020001000000d904000002000000030000008000000108000100",
        "c61300320a0002000200000000500000080004000000000014000300e9000000",
        "e9000000e9000000000000004c0000001c00020001000000d904000002000000",
        "030000000200000108000100c61300340a000200020000000052000008000400",
        "00000000140003000f0000000f0000000f00000001000000400000001c000200",
        "01000000d904000002000000030000002000000108000100c613003608000400",
        "00000000140003007e1700000e0000000e000000000000004c0000001c000200",
        "01000000d904000002000000050000008000000108000100c615003c0a000200",
        "02000000006000000800040000000000140003000e0000000e0000000e000000",
        "000000004c0000001c00020001000000d9040000020000000300000004000001",
        "08000100c61300330a0002000200000000510000080004000000000014000300",
        "7f1700000f0000000f000000000000004c0000001c00020001000000d9040000",
        "02000000030000004000000108000100c61300350a0002000200000000530000",
        "0800040000000000140003000e0000000e0000000e0000000000000014000000",
        "0300020001000000d904000000000000",
    );
    const V6_DUMP: &str = concat!(
        "580000001c00020002000000d90400000a000000020000004000000514000100",
        "ff0200000000000000000000000000020a000200333300000002000008000400",
        "0000000014000300e7170000770000007700000000000000580000001c000200",
        "02000000d90400000a00000003000000800000011400010020010db800ff0000",
        "00000000000000500a0002000200000000700000080004000000000014000300",
        "0d0000000d0000000d00000000000000580000001c00020002000000d9040000",
        "0a000000040000004000000514000100ff020000000000000000000000000002",
        "0a0002003333000000020000080004000000000014000300bd1700004d000000",
        "4d00000000000000580000001c00020002000000d90400000a00000002000000",
        "4000000514000100ff0200000000000000000001ff3b866a0a0002003333ff3b",
        "866a00000800040000000000140003004d180000dd000000dd00000000000000",
        "580000001c00020002000000d90400000a000000020000004000000514000100",
        "ff0200000000000000000000000000160a000200333300000016000008000400",
        "00000000140003005a180000ea000000ea00000000000000580000001c000200",
        "02000000d90400000a000000050000004000000514000100ff02000000000000",
        "00000001ff8c9cbc0a0002003333ff8c9cbc0000080004000000000014000300",
        "17180000a7000000a700000000000000580000001c00020002000000d9040000",
        "0a000000030000004000000514000100ff0200000000000000000001ffdf531f",
        "0a0002003333ffdf531f000008000400000000001400030030180000c0000000",
        "c000000000000000580000001c00020002000000d90400000a00000004000000",
        "4000000514000100ff0200000000000000000000000000160a00020033330000",
        "0016000008000400000000001400030058180000e8000000e800000000000000",
        "580000001c00020002000000d90400000a000000030000004000000514000100",
        "ff0200000000000000000000000000020a000200333300000002000008000400",
        "0000000014000300ca1700005a0000005a00000000000000580000001c000200",
        "02000000d90400000a00000003000000020080011400010020010db800ff0000",
        "00000000000000510a0002000200000000710000080004000000000014000300",
        "0d0000000d0000000d00000001000000580000001c00020002000000d9040000",
        "0a000000050000004000000514000100ff020000000000000000000000000002",
        "0a0002003333000000020000080004000000000014000300b017000040000000",
        "4000000000000000580000001c00020002000000d90400000a00000003000000",
        "4000000514000100ff0200000000000000000000000000160a00020033330000",
        "001600000800040000000000140003005a180000ea000000ea00000000000000",
        "580000001c00020002000000d90400000a000000050000004000000514000100",
        "ff0200000000000000000000000000160a000200333300000016000008000400",
        "000000001400030058180000e8000000e800000000000000580000001c000200",
        "02000000d90400000a000000040000004000000514000100ff02000000000000",
        "00000001ff8b11830a0002003333ff8b11830000080004000000000014000300",
        "24180000b4000000b4000000000000004c0000001c00020002000000d9040000",
        "0a00000003000000010000011400010020010db800ff00000000000000000052",
        "0800040000000000140003007c1700000c0000000c0000000000000014000000",
        "0300020002000000d904000000000000",
    );
    const V4_ON_E0: &str = concat!(
        "4c0000001c00220003000000d904000002000000050000008000000108000100",
        "c615003c0a00020002000000006000000800040000000000140003000e000000",
        "0e0000000e00000000000000140000000300020003000000d904000000000000",
    );

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn dump(h: &str, seq: u32) -> Vec<NeighbourEntry> {
        let mut out = Vec::new();
        assert_eq!(parse_dump(&hex(h), seq, parse_neigh, &mut out), Ok(true));
        out
    }

    fn entry(ifindex: u32, ip: &str, mac: Option<u8>, state: u16) -> NeighbourEntry {
        NeighbourEntry {
            ifindex,
            ip: ip.parse().unwrap(),
            mac: mac.map(|m| [2, 0, 0, 0, 0, m]),
            state,
            flags: 0,
        }
    }

    #[test]
    fn requests_are_what_iproute2_sends() {
        assert_eq!(neigh_dump_request(Family::V4, None, 1), hex(REQ_V4));
        assert_eq!(neigh_dump_request(Family::V6, None, 2), hex(REQ_V6));
        assert_eq!(
            neigh_dump_request(Family::V4, Some(5), 3),
            hex(REQ_V4_ON_E0)
        );
    }

    #[test]
    fn v4_dump_has_every_state() {
        assert_eq!(
            dump(V4_DUMP, 1),
            vec![
                entry(3, "198.19.0.50", Some(0x50), NUD_PERMANENT),
                entry(3, "198.19.0.52", Some(0x52), NUD_REACHABLE),
                entry(3, "198.19.0.54", None, NUD_FAILED),
                entry(5, "198.21.0.60", Some(0x60), NUD_PERMANENT),
                entry(3, "198.19.0.51", Some(0x51), NUD_STALE),
                entry(3, "198.19.0.53", Some(0x53), NUD_NOARP),
            ]
        );
        let usable: Vec<String> = dump(V4_DUMP, 1)
            .iter()
            .filter(|e| e.is_usable())
            .map(|e| e.ip.to_string())
            .collect();
        assert_eq!(
            usable,
            [
                "198.19.0.50",
                "198.19.0.52",
                "198.21.0.60",
                "198.19.0.51",
                "198.19.0.53"
            ]
        );
        // Another sequence number's datagram holds nothing of ours.
        let mut out = Vec::new();
        assert_eq!(
            parse_dump(&hex(V4_DUMP), 2, parse_neigh, &mut out),
            Ok(false)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn v6_dump_has_router_incomplete_and_multicast() {
        let all = dump(V6_DUMP, 2);
        assert_eq!(all.len(), 15);
        let find = |ip: &str| *all.iter().find(|e| e.ip.to_string() == ip).unwrap();
        assert_eq!(
            find("2001:db8:ff::50"),
            entry(3, "2001:db8:ff::50", Some(0x70), NUD_PERMANENT)
        );
        let router = find("2001:db8:ff::51");
        assert_eq!((router.state, router.flags), (NUD_REACHABLE, 0x80));
        assert_eq!(router.usable_mac(), Some([2, 0, 0, 0, 0, 0x71]));
        let incomplete = find("2001:db8:ff::52");
        assert_eq!(
            incomplete,
            entry(3, "2001:db8:ff::52", None, NUD_INCOMPLETE)
        );
        assert!(!incomplete.is_usable());
        // The kernel's multicast entries: NOARP, with the 33:33 group MAC.
        let mcast: Vec<_> = all.iter().filter(|e| e.state == NUD_NOARP).collect();
        assert_eq!(mcast.len(), 12);
        assert!(
            mcast
                .iter()
                .all(|e| e.is_usable() && e.mac.unwrap()[..2] == [0x33, 0x33])
        );
    }

    #[test]
    fn dump_of_one_interface() {
        assert_eq!(
            dump(V4_ON_E0, 3),
            vec![entry(5, "198.21.0.60", Some(0x60), NUD_PERMANENT)]
        );
    }

    #[test]
    fn usable_needs_a_valid_state_and_a_mac() {
        let mut e = entry(3, "198.18.0.1", Some(1), 0);
        for (state, ok) in [
            (0, false), // NUD_NONE
            (NUD_INCOMPLETE, false),
            (NUD_FAILED, false),
            (NUD_REACHABLE, true),
            (NUD_STALE, true),
            (NUD_DELAY, true),
            (NUD_PROBE, true),
            (NUD_PERMANENT, true),
            (NUD_NOARP, true),
        ] {
            e.state = state;
            assert_eq!(e.is_usable(), ok, "state {state:#x}");
            assert_eq!(e.usable_mac().is_some(), ok, "state {state:#x}");
        }
        e.mac = None;
        assert!(!e.is_usable());
    }

    #[test]
    fn odd_entries_are_skipped_or_refused() {
        // Rewrite the first entry of the IPv4 dump (198.19.0.50 permanent).
        let base = hex(V4_DUMP);
        let first = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut b = base.clone();
            edit(&mut b);
            let mut out = Vec::new();
            parse_dump(&b, 1, parse_neigh, &mut out).map(|_| out.first().copied())
        };
        // A bridge (AF_BRIDGE) entry is not ours: skipped, the dump goes on.
        assert_eq!(
            first(&|b| b[16] = 7).unwrap().unwrap().ip.to_string(),
            "198.19.0.52"
        );
        // A 4-byte address in an IPv6 entry is malformed.
        assert_eq!(first(&|b| b[16] = AF_INET6), Err(ParseError::Malformed));
        // An NDA_LLADDR of another length (here 4 bytes, like an IPIP tunnel's): no MAC.
        let e = first(&|b| b[36] = 8).unwrap().unwrap();
        assert_eq!((e.ip.to_string(), e.mac), ("198.19.0.50".to_string(), None));
        assert!(!e.is_usable());
        // Another message kind inside a dump is refused.
        assert_eq!(
            parse_neigh(&Message {
                kind: 24,
                flags: 0,
                seq: 1,
                payload: &base[16..76]
            }),
            Err(ParseError::Malformed)
        );
    }

    /// Truncated, mutated and random datagrams never make the parser panic.
    #[test]
    fn hostile_bytes_never_panic() {
        let corpus: Vec<Vec<u8>> = [V4_DUMP, V6_DUMP, V4_ON_E0]
            .iter()
            .map(|h| hex(h))
            .collect();
        let all = |b: &[u8]| {
            for seq in [1, 2, 3] {
                let mut v = Vec::new();
                let _ = parse_dump(b, seq, parse_neigh, &mut v);
                for e in &v {
                    let _ = e.usable_mac();
                }
            }
        };
        hostile_sweep(&corpus, all);
    }
}
