#!/usr/bin/env bash
# Peak RSS of scans by size, sharded and not (issue 10, point 3): what a scan remembers
# must follow its answers, not its pair space.
#
#   sudo scripts/mem-bench.sh [--max-seconds S] [--rate R] [--no-build]
#
# On a throwaway answering testbed (scripts/testbed.sh: the target answers for all of
# 198.18.0.0/16 and 2001:db8:1::/64; listeners on 80 and 443, every other port RST), runs
#   198.18.0.0/16 x 80            65,536 pairs
#   198.18.0.0/16 x 1-1000        65.5 M pairs
#   198.18.0.0/16 x all ports     4.3 G pairs
#   2001:db8:1::/96 x 80          4.3 G pairs
# each unsharded and as shard 1/4 (one seed), at --rate (default 200000), for at most --max-seconds
# (default 60; a run still going then gets SIGINT and its row says "stopped"). Peak RSS is
# GNU time's %M (ip netns exec execs synprobe in place). One markdown row per run, with
# what the run's summary says it sent and matched. SYNPROBE_BIN picks another binary.
#
# Network safety: synprobe runs only inside the testbed's scan namespace, which has no
# route out; the testbed is removed on every way out.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TB="$ROOT/scripts/testbed.sh"
SP=${SYNPROBE_BIN:-"$ROOT/target/release/synprobe"}
NAME=mem$$
MAX_SECS=60
RATE=200000
BUILD=1

die() { echo "mem-bench.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
    --max-seconds) MAX_SECS=${2:?}; shift ;;
    --rate) RATE=${2:?}; shift ;;
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (--max-seconds S, --rate R, --no-build)" ;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
[ -x /usr/bin/time ] || die "needs GNU time (apt-get install time)"

WORK=$(mktemp -d)
cleanup() {
    "$TB" down "$NAME" || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ "$BUILD" = 1 ] && [ -z "${SYNPROBE_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
fi
[ -x "$SP" ] || die "no binary at $SP"

"$TB" up "$NAME" --mode answer
for port in 80 443; do
    "$TB" exec "$NAME" tgt ncat -lk -p "$port" </dev/null >/dev/null 2>&1 &
    disown  # ended with the testbed's namespace, quietly
done
sleep 1

echo "| targets x ports | shard | pairs of the shard | seconds | ended | probes sent | replies matched | peak RSS MiB |"
echo "|---|---|---:|---:|---|---:|---:|---:|"
row() { # TARGET PORTS SHARD
    local target=$1 ports=$2 shard=$3 err="$WORK/err" t0 t1 pid ended="done" kib
    t0=$(date +%s.%N)
    /usr/bin/time -f 'maxrss %M' -o "$WORK/time" \
        ip netns exec "$NAME-scan" "$SP" scan "$target" -p "$ports" --shard "$shard" \
        --seed 7 --rate "$RATE" --no-progress >/dev/null 2>"$err" &
    pid=$!
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((MAX_SECS * 10)) ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        ended=stopped
        # time's child is synprobe (ip netns exec execs it): interrupt it, as Ctrl-C does.
        kill -INT $(pgrep -P "$pid") 2>/dev/null || true
    fi
    wait "$pid" || true
    t1=$(date +%s.%N)
    kib=$(sed -n 's/^maxrss \([0-9]*\)/\1/p' "$WORK/time")
    local pairs sent matched
    pairs=$(sed -n 's/^synprobe: sent [0-9]* probes for \([0-9]*\) pairs.*/\1/p' "$err" | tail -n 1)
    sent=$(sed -n 's/^synprobe: sent \([0-9]*\) probes.*/\1/p' "$err" | tail -n 1)
    matched=$(sed -n 's/^synprobe: replies: \([0-9]*\) matched.*/\1/p' "$err" | tail -n 1)
    printf '| %s x %s | %s | %s | %.1f | %s | %s | %s | %.1f |\n' "$target" "$ports" "$shard" \
        "${pairs:-?}" "$(echo "$t1 - $t0" | bc)" "$ended" "${sent:-?}" "${matched:-?}" \
        "$(echo "${kib:-0} / 1024" | bc -l)"
}

for shard in 1/1 1/4; do
    row 198.18.0.0/16 80 "$shard"
    row 198.18.0.0/16 1-1000 "$shard"
    row 198.18.0.0/16 - "$shard"
    row 2001:db8:1::/96 80 "$shard"
done
echo
echo "rate $RATE/s, at most ${MAX_SECS} s a run; $(nproc) cores, $(uname -r), $("$SP" --version 2>/dev/null || echo 'synprobe ?')"
