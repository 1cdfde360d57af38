#!/usr/bin/env bash
# The one definition of synprobe's namespace testbed, shared by the demo, the
# integration tests and the benchmark script.
#
#   testbed.sh up NAME [--mode answer|sink|discard|lo]
#   testbed.sh down NAME                 (idempotent: never fails if already gone)
#   testbed.sh exec NAME scan|tgt CMD...
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
#
# Needs root, iproute2 and iptables. Prints nothing on success except errors.
set -euo pipefail

die() { echo "testbed.sh: $*" >&2; exit 2; }
usage() { die "usage: testbed.sh up NAME [--mode answer|sink|discard|lo] | down NAME | exec NAME scan|tgt CMD..."; }

check_name() {
    # veth names are NAME-s / NAME-t and must fit IFNAMSIZ (15 chars).
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
    for ns in "$name-scan" "$name-tgt"; do
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
    return 0
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
    ip netns add "$tgt"
    ip -n "$tgt" link set lo up

    ip link add "$vs" type veth peer name "$vt"
    ip link set "$vs" netns "$scan"
    ip link set "$vt" netns "$tgt"

    # No IPv6 router solicitations / autoconf noise on the test link.
    sysctl_ns "$scan" "net.ipv6.conf.$vs.accept_ra" 0
    sysctl_ns "$tgt" "net.ipv6.conf.$vt.accept_ra" 0

    ip -n "$scan" addr add 198.19.0.1/24 dev "$vs"
    ip -n "$scan" addr add 2001:db8:ff::1/64 dev "$vs" nodad
    ip -n "$tgt" addr add 198.19.0.2/24 dev "$vt"
    ip -n "$tgt" addr add 2001:db8:ff::2/64 dev "$vt" nodad
    ip -n "$scan" link set "$vs" up
    ip -n "$tgt" link set "$vt" up

    # The target answers for every address of the test prefixes.
    ip -n "$tgt" route add local 198.18.0.0/16 dev lo
    ip -n "$tgt" -6 route add local 2001:db8:1::/64 dev lo

    local mac_s mac_t
    mac_s=$(ip netns exec "$scan" cat "/sys/class/net/$vs/address")
    mac_t=$(ip netns exec "$tgt" cat "/sys/class/net/$vt/address")

    # Permanent neighbours both ways: no ARP/ND on the path during a flood.
    ip -n "$tgt" neigh replace 198.19.0.1 lladdr "$mac_s" nud permanent dev "$vt"
    ip -n "$tgt" -6 neigh replace 2001:db8:ff::1 lladdr "$mac_s" nud permanent dev "$vt"
    ip -n "$scan" neigh replace 198.19.0.2 lladdr "$mac_t" nud permanent dev "$vs"
    ip -n "$scan" -6 neigh replace 2001:db8:ff::2 lladdr "$mac_t" nud permanent dev "$vs"

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
    sysctl_ns "$scan" net.ipv4.conf.all.rp_filter 0
    sysctl_ns "$scan" "net.ipv4.conf.$vs.rp_filter" 0
    trap - EXIT
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
    case "$mode" in answer | sink | discard | lo) ;; *) die "bad mode '$mode' (answer|sink|discard|lo)" ;; esac
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
    scan | tgt) exec ip netns exec "$name-$side" "$@" ;;
    *) usage ;;
    esac
    ;;
*) usage ;;
esac
