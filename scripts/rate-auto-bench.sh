#!/usr/bin/env bash
# What --rate auto does against fixed rates (issue 11), on the namespace testbed: a /16 x
# ports 80 (a listener with a backlog of 65,535: open) and 81 (closed), default --retries 1.
#   1. behind a SYN policer on the target (hashlimit 20,000/s, one bucket of 1,000):
#      --rate 20000, --rate max and --rate auto: open ports found, seconds, the canaries;
#   2. with no policer: --rate max and --rate auto;
#   3. with 5 % of packets dropped each way (iptables statistic) and no policer: auto,
#      against auto in step 2 (the rate it ends at).
# Prints one line per run. Timings are measured here, never asserted in the test suite.
#
#   scripts/rate-auto-bench.sh            (needs root, python3, the release binary)
#
# Network safety: synprobe runs only inside the testbed's scan namespace, which has no
# route out; the testbed is removed on every way out.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SYNPROBE_BIN:-$root/target/release/synprobe}
tb=$root/scripts/testbed.sh
name=rab$$
[ -x "$bin" ] || { echo "rate-auto-bench.sh: no $bin (cargo build --release)" >&2; exit 2; }
cleanup() { "$tb" down "$name"; }
trap cleanup EXIT
"$tb" up "$name"
"$tb" listen "$name" 80 1800

run() { # LABEL RATE: one scan, one line
    local label=$1 rate=$2 t0 t1 err open
    err=$(mktemp)
    t0=$(date +%s.%N)
    open=$("$tb" exec "$name" scan "$bin" scan 198.18.0.0/16 -p 80,81 --rate "$rate" \
        --no-progress --format jsonl 2>"$err" | grep -c '"state":"open"' || true)
    t1=$(date +%s.%N)
    # The first round's sending rate ("sent ... at R/s"): what auto reaches, the figure the
    # 5 % loss case compares; "ended at" is the last round's, which settles below the path.
    printf '%-28s --rate %-6s open %6s of 65536 in %6.2f s; first round %s; %s; %s\n' "$label" \
        "$rate" "$open" "$(echo "$t1 - $t0" | bc)" \
        "$(grep -o 'in [0-9.]* s at [0-9,]*/s' "$err" | head -1 | sed 's/.* at //')" \
        "$(grep -o 'canaries: [^;]*unanswered' "$err" | head -1)" \
        "$(grep -o 'rate auto ended at [0-9,./s]*' "$err" | head -1)"
    rm -f "$err"
}

tgt_ipt() { "$tb" exec "$name" tgt iptables "$@"; }

tgt_ipt -A INPUT -p tcp --syn -m hashlimit --hashlimit-above 20000/sec \
    --hashlimit-burst 1000 --hashlimit-name syn -j DROP
for r in 20000 max auto; do run "policer 20000/s" "$r"; done
tgt_ipt -F INPUT
for r in max auto; do run "no policer" "$r"; done
for chain in INPUT OUTPUT; do
    tgt_ipt -A "$chain" -p tcp -m statistic --mode random --probability 0.05 -j DROP
done
run "5 % loss each way" auto
