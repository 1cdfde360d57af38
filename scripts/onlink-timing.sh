#!/usr/bin/env bash
# Measures issue 8's on-link cost: a /16 whose every address is on the prober's own link
# (each resolved by ARP during the run) against the same /16 behind a gateway (one MAC),
# same target namespace, same link, same rate. Prints both durations and their ratio.
#
#   scripts/onlink-timing.sh [RATE] [RUNS]     (defaults: 100000 probes/s, 3 runs each)
#
# Needs root, the release binary (cargo build --release) and ncat. The testbed is the
# `answer` one of scripts/testbed.sh; only the prober's route to 198.18.0.0/16 changes:
# `via 198.19.0.2` (gateway) or `dev NAME-s` (on-link: the target answers ARP for the
# whole /16 since its local route calls every address its own). A third measurement drops
# the prober kernel's own RSTs (its answer to SYN-ACKs for ports it has no socket on) with
# iptables: on-link, each of those first needs the kernel's own ARP for the target.
set -euo pipefail

rate=${1:-100000}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SYNPROBE_BIN:-$root/target/release/synprobe}
tb=$root/scripts/testbed.sh
name=olt$$
[ -x "$bin" ] || { echo "onlink-timing.sh: no $bin (cargo build --release)" >&2; exit 2; }

trap '"$tb" down "$name"' EXIT
"$tb" up "$name"
"$tb" exec "$name" tgt setsid ncat -lk -p 80 </dev/null >/dev/null 2>&1 &
disown
for _ in $(seq 100); do
    "$tb" exec "$name" tgt ss -Hltn | grep -q '0.0.0.0:80 ' && break
    sleep 0.1
done

# One scan; prints its wall time in seconds and checks every pair came back open.
scan_once() {
    local err start end open
    err=$(mktemp)
    start=$(date +%s.%N)
    "$tb" exec "$name" scan "$bin" scan 198.18.0.0/16 -p 80 --rate "$rate" \
        --format jsonl -o /dev/null --no-progress 2>"$err"
    end=$(date +%s.%N)
    open=$(grep -o 'open [0-9,_]*' "$err" | tail -1 | tr -d ',_' | cut -d' ' -f2)
    if [ "$open" != 65536 ]; then
        echo "onlink-timing.sh: expected 65536 open, got '$open':" >&2
        cat "$err" >&2
    fi
    sed 's/^/    /' "$err" >&2
    rm -f "$err"
    echo "$end - $start" | bc
}

measure() {
    local label=$1 i t
    for ((i = 1; i <= runs; i++)); do
        t=$(scan_once)
        echo "$label run $i: ${t} s" >&2
        echo "$t"
    done | sort -n | head -1
}

gw=$(measure gateway)
"$tb" exec "$name" scan ip route replace 198.18.0.0/16 dev "$name-s"
on=$(measure on-link)
"$tb" exec "$name" scan iptables -w -A OUTPUT -p tcp --tcp-flags RST RST -j DROP
quiet=$(measure on-link-no-kernel-rst)
echo "198.18.0.0/16 x port 80 at --rate $rate, best of $runs:"
echo "  behind a gateway: ${gw} s"
echo "  on-link (ARP):    ${on} s"
echo "  ratio on-link/gateway: $(echo "scale=2; $on / $gw" | bc)"
echo "  on-link, the prober kernel's RSTs dropped: ${quiet} s (ratio $(echo "scale=2; $quiet / $gw" | bc))"
