#!/usr/bin/env bash
# The one definition of synprobe's namespace testbed, shared by the demo, the
# integration tests and the benchmark script.
#
#   testbed.sh up NAME [--mode answer|sink|discard|lo|routes]
#   testbed.sh down NAME                 (idempotent: never fails if already gone)
#   testbed.sh exec NAME scan|tgt|tgt2 CMD...
#   testbed.sh listen NAME PORT SECS     (a listener with a backlog of 65,535 on the target)
#
# answer (default): NAME-scan (the prober) --veth-- NAME-tgt (the target).
#   NAME-s 198.19.0.1/24 2001:db8:ff::1/64   <->   NAME-t 198.19.0.2/24 2001:db8:ff::2/64
#   The scan ns routes 198.18.0.0/16 and 2001:db8:1::/64 to the target and has no
#   default route, so nothing can leave. The target holds local routes for the
#   whole /16 and /64 on lo, so every address in them answers like a host.
# sink: same, but the scan ns routes the test prefixes through a fake gateway
#   (198.19.0.3 / 2001:db8:ff::3) whose MAC 02:00:00:00:00:01 is nobody's: frames
#   reach the target veth and are dropped there (the sender's ceiling, for bench).
# discard: only NAME-scan, whose NAME-s is an ifb device (one TX queue per core) instead
#   of a veth, with the same addresses and fake gateway. ifb frees a frame it did not
#   get from tc at once (counted in its rx_packets), so no receive path runs: the cost
#   of a probe is the sender's alone, as on a real NIC whose wire leads to another
#   machine. On veth, the peer's receive-and-drop runs on the sending core.
# lo: only NAME-scan with lo up, no veth (loopback tests).
# routes: answer, plus a second link (issue 8's topology: every target its own route):
#   NAME-sb 198.19.1.1/24 2001:db8:fe::1/64  <->  NAME-tgt2's NAME-tb 198.19.1.2/24 2001:db8:fe::2/64
#   Through NAME-tgt2 as gateway: 198.19.128.0/18 and 2001:db8:21::/64 (main table), and
#   198.19.192.0/18 and 2001:db8:22::/64 only in table 100 (chosen by `ip rule to ...`).
#   On link B without a gateway: 198.19.20.0/24 (NAME-tgt2 answers ARP for all 256 through a
#   local route) and 2001:db8:20::/120 (all 256 held on NAME-tb, for NDP); 198.19.21.0/24 and
#   2001:db8:23::/120 where only .10-.17 / ::10-::17 are present (the rest answer no ARP/NDP).
#   NAME-tgt2 answers for its prefixes like NAME-tgt does for its own.
#
# Needs root, iproute2 and iptables. Prints nothing on success except errors.
set -euo pipefail

die() { echo "testbed.sh: $*" >&2; exit 2; }
usage() { die "usage: testbed.sh up NAME [--mode answer|sink|discard|lo|routes] | down NAME | exec NAME scan|tgt|tgt2 CMD... | listen NAME PORT SECS"; }

check_name() {
    # veth names are NAME-s / NAME-t / NAME-sb / NAME-tb and must fit IFNAMSIZ (15 chars).
    [[ "$1" =~ ^[A-Za-z0-9_]{1,12}$ ]] || die "bad testbed name '$1' (1-12 chars of [A-Za-z0-9_])"
}

ns_exists() { [ -e "/run/netns/$1" ]; }

# Best effort: a sysctl missing from this kernel must not break the testbed.
sysctl_ns() {
    local ns=$1 key=$2 val=$3
    ip netns exec "$ns" sysctl -qw "$key=$val" >/dev/null 2>&1 || true
}

down() {
    local name=$1 ns pids
    for ns in "$name-scan" "$name-tgt" "$name-tgt2"; do
        if ns_exists "$ns"; then
            # Processes left in the namespace (listeners) would keep it alive.
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            if [ -n "$pids" ]; then
                # shellcheck disable=SC2086
                kill -9 $pids 2>/dev/null || true
            fi
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    # Deleting a namespace deletes its veth end and so the pair; this catches a
    # half-built pair left in the root namespace by an interrupted `up`.
    ip link del "$name-s" 2>/dev/null || true
    ip link del "$name-t" 2>/dev/null || true
    ip link del "$name-sb" 2>/dev/null || true
    ip link del "$name-tb" 2>/dev/null || true
    return 0
}

# veth_link SCAN TGT VS VT A.B.C PREFIX:: makes the target namespace TGT, joined to the
# prober's namespace SCAN by the veth pair VS <-> VT: VS holds A.B.C.1/24 and PREFIX::1/64,
# VT A.B.C.2/24 and PREFIX::2/64. Each side knows the other's MAC for good, and the target
# is set up to take a SYN flood. Used for link A (all modes but lo and discard) and link B.
veth_link() {
    local scan=$1 tgt=$2 vs=$3 vt=$4 v4=$5 v6=$6 mac_s mac_t
    ip netns add "$tgt"
    ip -n "$tgt" link set lo up

    ip link add "$vs" type veth peer name "$vt"
    ip link set "$vs" netns "$scan"
    ip link set "$vt" netns "$tgt"

    # No IPv6 router solicitations / autoconf noise on the test link.
    sysctl_ns "$scan" "net.ipv6.conf.$vs.accept_ra" 0
    sysctl_ns "$tgt" "net.ipv6.conf.$vt.accept_ra" 0

    ip -n "$scan" addr add "$v4.1/24" dev "$vs"
    ip -n "$scan" addr add "${v6}1/64" dev "$vs" nodad
    ip -n "$tgt" addr add "$v4.2/24" dev "$vt"
    ip -n "$tgt" addr add "${v6}2/64" dev "$vt" nodad
    ip -n "$scan" link set "$vs" up
    ip -n "$tgt" link set "$vt" up

    mac_s=$(ip netns exec "$scan" cat "/sys/class/net/$vs/address")
    mac_t=$(ip netns exec "$tgt" cat "/sys/class/net/$vt/address")

    # Permanent neighbours both ways: no ARP/ND on the path during a flood.
    ip -n "$tgt" neigh replace "$v4.1" lladdr "$mac_s" nud permanent dev "$vt"
    ip -n "$tgt" -6 neigh replace "${v6}1" lladdr "$mac_s" nud permanent dev "$vt"
    ip -n "$scan" neigh replace "$v4.2" lladdr "$mac_t" nud permanent dev "$vs"
    ip -n "$scan" -6 neigh replace "${v6}2" lladdr "$mac_t" nud permanent dev "$vs"

    # A target under a SYN flood: big queues, cookies past them, and ICMP errors
    # (REJECT rules) never rate-limited, so the ground truth does not depend on speed.
    sysctl_ns "$tgt" net.ipv4.tcp_max_syn_backlog 262144
    sysctl_ns "$tgt" net.core.somaxconn 65535
    sysctl_ns "$tgt" net.ipv4.tcp_syncookies 1
    sysctl_ns "$tgt" net.ipv4.icmp_ratelimit 0
    sysctl_ns "$tgt" net.ipv6.icmp.ratelimit 0
    sysctl_ns "$tgt" net.ipv4.icmp_msgs_per_sec 1000000
    sysctl_ns "$tgt" net.ipv4.icmp_msgs_burst 1000000
    # Loose reverse-path check: replies come from addresses only routed locally.
    sysctl_ns "$tgt" net.ipv4.conf.all.rp_filter 0
    sysctl_ns "$tgt" "net.ipv4.conf.$vt.rp_filter" 0
    sysctl_ns "$scan" "net.ipv4.conf.$vs.rp_filter" 0
}

up() {
    local name=$1 mode=$2
    local scan="$name-scan" tgt="$name-tgt" vs="$name-s" vt="$name-t"
    # A stale testbed of the same name (a killed run) is replaced, not reused.
    down "$name"
    # A failed `up` leaves nothing behind.
    trap 'down "$name"' EXIT

    ip netns add "$scan"
    ip -n "$scan" link set lo up
    if [ "$mode" = lo ]; then
        trap - EXIT
        return 0
    fi
    if [ "$mode" = discard ]; then
        local q
        q=$(nproc)
        ip -n "$scan" link add "$vs" numtxqueues "$q" numrxqueues "$q" type ifb
        sysctl_ns "$scan" "net.ipv6.conf.$vs.accept_ra" 0
        ip -n "$scan" addr add 198.19.0.1/24 dev "$vs"
        ip -n "$scan" addr add 2001:db8:ff::1/64 dev "$vs" nodad
        ip -n "$scan" link set "$vs" up
        ip -n "$scan" route add 198.18.0.0/16 via 198.19.0.3 dev "$vs" onlink
        ip -n "$scan" -6 route add 2001:db8:1::/64 via 2001:db8:ff::3 dev "$vs" onlink
        trap - EXIT
        return 0
    fi
    veth_link "$scan" "$tgt" "$vs" "$vt" 198.19.0 2001:db8:ff::

    # The target answers for every address of the test prefixes.
    ip -n "$tgt" route add local 198.18.0.0/16 dev lo
    ip -n "$tgt" -6 route add local 2001:db8:1::/64 dev lo

    if [ "$mode" = sink ]; then
        local fake=02:00:00:00:00:01
        ip -n "$scan" neigh replace 198.19.0.3 lladdr "$fake" nud permanent dev "$vs"
        ip -n "$scan" -6 neigh replace 2001:db8:ff::3 lladdr "$fake" nud permanent dev "$vs"
        ip -n "$scan" route add 198.18.0.0/16 via 198.19.0.3 dev "$vs"
        ip -n "$scan" -6 route add 2001:db8:1::/64 via 2001:db8:ff::3 dev "$vs"
    else
        ip -n "$scan" route add 198.18.0.0/16 via 198.19.0.2 dev "$vs"
        ip -n "$scan" -6 route add 2001:db8:1::/64 via 2001:db8:ff::2 dev "$vs"
    fi

    sysctl_ns "$scan" net.ipv4.conf.all.rp_filter 0
    if [ "$mode" = routes ]; then
        link_b "$name"
    fi
    trap - EXIT
}

# Prints `ip -batch` lines adding PREFIX::LO .. PREFIX::HI (hex) as /128 to DEV.
v6_addrs() {
    local prefix=$1 lo=$2 hi=$3 dev=$4 i
    for ((i = lo; i <= hi; i++)); do
        printf 'addr add %s%x/128 dev %s nodad\n' "$prefix" "$i" "$dev"
    done
}

# The second link of the `routes` mode (see the header).
link_b() {
    local name=$1
    local scan="$name-scan" tgt="$name-tgt2" vs="$name-sb" vt="$name-tb" i
    veth_link "$scan" "$tgt" "$vs" "$vt" 198.19.1 2001:db8:fe::

    # Routed through the gateway 198.19.1.2 / 2001:db8:fe::2: main table, and table 100.
    ip -n "$scan" route add 198.19.128.0/18 via 198.19.1.2 dev "$vs"
    ip -n "$scan" -6 route add 2001:db8:21::/64 via 2001:db8:fe::2 dev "$vs"
    ip -n "$scan" route add 198.19.192.0/18 via 198.19.1.2 dev "$vs" table 100
    ip -n "$scan" -6 route add 2001:db8:22::/64 via 2001:db8:fe::2 dev "$vs" table 100
    ip -n "$scan" rule add to 198.19.192.0/18 table 100
    ip -n "$scan" -6 rule add to 2001:db8:22::/64 table 100
    ip -n "$tgt" route add local 198.19.128.0/18 dev lo
    ip -n "$tgt" route add local 198.19.192.0/18 dev lo
    ip -n "$tgt" -6 route add local 2001:db8:21::/64 dev lo
    ip -n "$tgt" -6 route add local 2001:db8:22::/64 dev lo

    # On link B, no gateway. IPv4: Linux answers ARP for any address its routes call local
    # (arp_ignore 0), so a local route is a whole /24 of hosts. IPv6 answers NDP only for
    # addresses it holds, so those are added one by one (nodad: usable at once).
    ip -n "$scan" route add 198.19.20.0/24 dev "$vs"
    ip -n "$scan" route add 198.19.21.0/24 dev "$vs"
    ip -n "$scan" -6 route add 2001:db8:20::/120 dev "$vs"
    ip -n "$scan" -6 route add 2001:db8:23::/120 dev "$vs"
    ip -n "$tgt" route add local 198.19.20.0/24 dev lo
    for ((i = 10; i <= 17; i++)); do
        ip -n "$tgt" addr add "198.19.21.$i/32" dev "$vt"
    done
    {
        v6_addrs 2001:db8:20:: 0 255 "$vt"
        v6_addrs 2001:db8:23:: 16 23 "$vt"
    } | ip -n "$tgt" -batch -
}

[ $# -ge 2 ] || usage
cmd=$1
name=$2
shift 2
check_name "$name"
[ "$(id -u)" = 0 ] || die "needs root"

case "$cmd" in
up)
    mode=answer
    while [ $# -gt 0 ]; do
        case "$1" in
        --mode) [ $# -ge 2 ] || usage; mode=$2; shift 2 ;;
        --mode=*) mode=${1#--mode=}; shift ;;
        *) usage ;;
        esac
    done
    case "$mode" in answer | sink | discard | lo | routes) ;; *) die "bad mode '$mode' (answer|sink|discard|lo|routes)" ;; esac
    up "$name" "$mode"
    ;;
down)
    [ $# -eq 0 ] || usage
    down "$name"
    ;;
exec)
    [ $# -ge 2 ] || usage
    side=$1
    shift
    case "$side" in
    scan | tgt | tgt2) exec ip netns exec "$name-$side" "$@" ;;
    *) usage ;;
    esac
    ;;
listen)
    # A listener on PORT of the target with a backlog of 65,535 that never accepts (the
    # prober's RST ends each half-open entry): every SYN-ACK of a /16 at speed comes, where
    # ncat's backlog of 10 drops some. Detached; it ends after SECS, or with `down`.
    [ $# -eq 2 ] || usage
    port=$1 secs=$2
    ip netns exec "$name-tgt" setsid python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', $port)); s.listen(65535); time.sleep($secs)" </dev/null >/dev/null 2>&1 &
    for _ in $(seq 100); do
        ip netns exec "$name-tgt" ss -Hltn "sport = :$port" | grep -q . && exit 0
        sleep 0.1
    done
    die "listener on port $port did not start"
    ;;
*) usage ;;
esac
