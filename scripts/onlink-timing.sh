#!/usr/bin/env bash
# Measures issue 8's on-link cost: a /16 whose every address is on the prober's own link
# (each resolved by ARP during the run) against the same /16 behind a gateway (one MAC),
# same target namespace, same link, same rate. Prints both durations and their ratio, as
# synprobe runs by default (its SYN-ACK shield keeps the prober kernel's own RSTs off the
# wire) and with --kernel-resets (the kernel answers every SYN-ACK too; on-link, each of
# those first needs the kernel's own ARP exchange with the target).
#
#   scripts/onlink-timing.sh [RATE] [RUNS]     (defaults: 100000 probes/s, 3 runs each)
#
# Needs root, the release binary (cargo build --release) and ncat. The testbed is the
# `answer` one of scripts/testbed.sh; only the prober's route to 198.18.0.0/16 changes:
# `via 198.19.0.2` (gateway) or `dev NAME-s` (on-link: the target answers ARP for the
# whole /16 since its local route calls every address its own).
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
    # shellcheck disable=SC2086 # $extra is a list of flags

    err=$(mktemp)
    start=$(date +%s.%N)
    "$tb" exec "$name" scan "$bin" scan 198.18.0.0/16 -p 80 --rate "$rate" \
        --format jsonl -o /dev/null --no-progress $extra 2>"$err"
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
    extra=${2:-}
    for ((i = 1; i <= runs; i++)); do
        t=$(scan_once)
        echo "$label run $i: ${t} s" >&2
        echo "$t"
    done | sort -n | head -1
}

gw=$(measure gateway)
gw_k=$(measure gateway-kernel-resets --kernel-resets)
"$tb" exec "$name" scan ip route replace 198.18.0.0/16 dev "$name-s"
on=$(measure on-link)
on_k=$(measure on-link-kernel-resets --kernel-resets)
ratio() { echo "scale=2; $1 / $2" | bc; }
echo "198.18.0.0/16 x port 80 at --rate $rate, best of $runs:"
echo "  default:         gateway ${gw} s, on-link (ARP) ${on} s, ratio $(ratio "$on" "$gw")"
echo "  --kernel-resets: gateway ${gw_k} s, on-link (ARP) ${on_k} s, ratio $(ratio "$on_k" "$gw_k")"
