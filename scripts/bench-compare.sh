#!/usr/bin/env bash
# synprobe side by side with masscan and zmap on the namespace testbed (issue 3).
#
#   sudo scripts/bench-compare.sh [--no-build] [--keep-logs]
#
# Installs what is missing (masscan, zmap, iproute2, iptables, ncat, time), builds
# synprobe, then measures on throwaway testbeds (scripts/testbed.sh):
#   discard frames go to an ifb device that frees them on the spot: only the sender's own
#           work runs (as with a real NIC, whose wire leads to another machine).
#   sink    frames go over a veth to a MAC nobody has and die at the peer. veth runs the
#           peer's receive-and-drop on the sending core, so this row pays for both ends.
#   answer  a kernel answers every SYN for 198.18.0.0/16; ncat listens on 80 and 443,
#           so /16 x 80,81,443,444 holds 131072 open ports (81 and 444 answer RST).
# and prints one markdown table plus the machine's facts. ~2-3 minutes.
#
# How every number is taken (the same way for every tool, so they compare):
#   probes/s    sink: packets counted by the prober veth's tx_packets (ifb: its
#               rx_packets, where it counts what it frees), sampled every 20 ms inside
#               the scan namespace, over the time they were rising.
#               answer: the tool's probe count (synprobe's summary, zmap's metadata
#               total_sent, masscan's targets x ports) over that same tx window. The
#               window also holds the RSTs synprobe and masscan send after SYN-ACKs,
#               which trail the last SYN by one round trip: a bias against those two.
#               No tool's own rate estimate is used (masscan's is a smoothed guess).
#   CPU s / M   (user + sys) of the whole run, from GNU time, per million probes.
#               This includes listening and waiting, not only sending.
#   peak RSS    GNU time's %M.
#   open found  unique (address, port) pairs reported open on 80 or 443.
# masscan 1.3.2 hangs after its wait ("waiting -28-secs") and ignores a second
# SIGINT: it is stopped with SIGINT, then SIGKILL, one second after its wait ends;
# its list output goes to a line-buffered stdout so nothing is lost to the kill.
# zmap 2.1.1 probes one port per run: ports 80 and 443 are two runs, summed. Into
# the sink it uses -P 32 (32 probes per address, each built and sent as usual) so a
# /16 lasts a few seconds.
#
# Network safety: every tool runs inside a NAME-scan namespace (ip netns exec) whose
# only routes lead into 198.18.0.0/16 on the testbed; testbeds are always removed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TB="$ROOT/scripts/testbed.sh"
SP=${SYNPROBE_BIN:-"$ROOT/target/release/synprobe"}
FAKE_MAC=02:00:00:00:00:01
SINK=bcs$$
DISC=bcd$$
ANS=bca$$
NET=198.18.0.0/16
BUILD=1
KEEP=0

die() { echo "bench-compare.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
    --no-build) BUILD=0 ;;
    --keep-logs) KEEP=1 ;;
    -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (--no-build, --keep-logs)" ;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || die "needs root (sudo scripts/bench-compare.sh)"

WORK=$(mktemp -d /tmp/bench-compare.XXXXXX)
SAMPLER_PID=
TOOL_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    if [ -n "$TOOL_PID" ]; then kill "$TOOL_PID" 2>/dev/null || true; fi
    # down kills every process left in the namespaces (listeners, a stuck tool).
    "$TB" down "$DISC" || true
    "$TB" down "$SINK" || true
    "$TB" down "$ANS" || true
    if [ "$KEEP" = 1 ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- install, build
install_missing() {
    local missing=() pair
    for pair in masscan:masscan zmap:zmap trafgen:netsniff-ng ip:iproute2 iptables:iptables ncat:ncat \
        /usr/bin/time:time stdbuf:coreutils; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}
install_missing
if [ "$BUILD" = 1 ]; then
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    log "building synprobe (release)"
    (cd "$ROOT" && cargo build --release --quiet)
fi
[ -x "$SP" ] || die "no synprobe binary at $SP"

# zmap's default blocklist holds 198.18.0.0/15; the testbed is the only place it can send.
: >"$WORK/empty-blocklist"
mkfifo "$WORK/tick"

# ---------------------------------------------------------------- measuring
# Sleeps without forking (read -t on a fifo nobody writes), so a watcher costs
# almost no CPU: the runner's cost is charged to the tool by GNU time.
SAMPLER='f=/sys/class/net/$1/statistics/$3; exec 3<>"$2"
while :; do read -r v <"$f"; echo "$EPOCHREALTIME $v"; read -r -t 0.02 -u 3 _ || true; done'

# runner DEADLINE PATTERN GRACE ERRLOG TICK CMD...: runs CMD (stderr to ERRLOG);
# SIGINT at DEADLINE tenths of a second, or GRACE tenths after PATTERN first shows
# in ERRLOG; SIGKILL 2 s after a SIGINT it ignores. Reaps CMD so time counts it.
RUNNER='deadline=$1 pattern=$2 grace=$3 errlog=$4; exec 3<>"$5"; shift 5
"$@" 2>"$errlog" & p=$!
t=0 hit=-1
while kill -0 "$p" 2>/dev/null; do
    read -r -t 0.1 -u 3 _ || true
    t=$((t + 1))
    if [ "$hit" -lt 0 ] && [ -n "$pattern" ]; then
        content=; read -r -d "" content 2>/dev/null <"$errlog" || true
        case "$content" in *"$pattern"*) hit=$t ;; esac
    fi
    if [ "$t" -ge "$deadline" ] || { [ "$hit" -ge 0 ] && [ "$t" -ge $((hit + grace)) ]; }; then
        kill -INT "$p" 2>/dev/null || true
        i=0
        while [ $i -lt 20 ] && kill -0 "$p" 2>/dev/null; do read -r -t 0.1 -u 3 _ || true; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null || true
        break
    fi
done
wait "$p"'

# run_tool LABEL NS IFACE DEADLINE_S PATTERN GRACE_TENTHS CMD...
# Leaves $WORK/LABEL.out (stdout), .err, .time ("user sys rss_kib elapsed"), .tx.
run_tool() {
    local label=$1 ns=$2 ifc=$3 deadline=$4 pattern=$5 grace=$6
    shift 6
    ip netns exec "$ns" bash -c "$SAMPLER" sampler "$ifc" "$WORK/tick" "${STAT:-tx_packets}" >"$WORK/$label.tx" &
    SAMPLER_PID=$!
    sleep 0.3
    # In the background and waited for, so a signal to this script runs its trap now.
    (cd "$WORK" && exec timeout -k 5 $((deadline + 15)) ip netns exec "$ns" /usr/bin/time -o "$WORK/$label.time" \
        -f '%U %S %M %e' bash -c "$RUNNER" runner $((deadline * 10)) "$pattern" "$grace" \
        "$WORK/$label.err" "$WORK/tick" "$@" >"$WORK/$label.out") &
    TOOL_PID=$!
    wait "$TOOL_PID" || true
    TOOL_PID=
    sleep 0.3
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    [ -s "$WORK/$label.time" ] || echo "0 0 0 0" >"$WORK/$label.time"
}

# tx_of LABEL... -> "packets window_s" summed over runs: from the sample before the
# counter first rose to the last sample where it rose.
tx_of() {
    local l pk=0 win=0 r
    for l in "$@"; do
        r=$(awk 'NR == 1 { c0 = $2 }
            { if (NR > 1 && $2 != prev) { if (first == "") first = pt; last = $1 } prev = $2; pt = $1 }
            END { if (first == "") print 0, 0; else printf "%d %.4f\n", prev - c0, last - first }' "$WORK/$l.tx")
        pk=$((pk + ${r% *}))
        win=$(awk -v a="$win" -v b="${r#* }" 'BEGIN { printf "%.4f", a + b }')
    done
    echo "$pk $win"
}

# time_of LABEL... -> "cpu_s max_rss_kib" summed / maxed over runs.
time_of() {
    local l
    for l in "$@"; do tail -n 1 "$WORK/$l.time"; done |
        awk '{ cpu += $1 + $2; if ($3 > rss) rss = $3 } END { printf "%.3f %d\n", cpu, rss }'
}

# ---------------------------------------------------------------- table rows
ROWS=()   # "group|tool|probes|window|found|expected|cpu|rss_kib|ref|synacks"
NOTES=()  # what the tools say of their own rate, next to the measured one
add_row() { ROWS+=("$1|$2|$3|$4|$5|$6|$7|$8|$9|${10:--}"); }

count_sp_open() { grep -E '"port":(80|443),"state":"open"' "$1" | grep -o '"ip":"[^"]*","port":[0-9]*' | sort -u | wc -l; }
count_ms_open() { awk '$1 == "open" && ($3 == 80 || $3 == 443) { print $3, $4 }' "$1" | sort -u | wc -l; }
# zmap lists addresses only, one file per port: unique per file, summed.
count_zm_open() { local f n=0; for f in "$@"; do n=$((n + $(grep -E '^198\.18\.' "$f" | sort -u | wc -l))); done; echo "$n"; }
sp_sent() { sed -n 's/^synprobe: sent \([0-9]*\) probes.*/\1/p' "$1" | tail -n 1; }
zm_sent() { grep -o '"total_sent": *[0-9]*' "$1" | grep -o '[0-9]*$'; }

# ---------------------------------------------------------------- sink
# trafgen (netsniff-ng): a bare TX-ring packet generator replaying one SYN with random
# address and sequence; no permutation, cookie or receive side. It is the anchors' 3.5 M/s
# row, so it calibrates what the kernel path of this machine allows.
cat >"$WORK/syn.cfg" <<CFG
{ $(echo "$FAKE_MAC" | sed 's/^/0x/; s/:/,0x/g'), 0x02,0x00,0x00,0x00,0x00,0x02, 0x08,0x00,
  0x45,0x00, 0x00,0x28, drnd(2), 0x40,0x00, 0x40, 0x06, csumip(14,33),
  198,19,0,1, 198,18, drnd(2),
  0xee,0x49, 0x00,0x50, drnd(4), 0,0,0,0, 0x50,0x02, 0xfa,0xf0, csumtcp(14,34), 0,0 }
CFG

# send_round GROUP TAG NS IFACE: every tool at its top rate into a dead end; one row each.
send_round() {
    local group=$1 tag=$2 ns=$3 ifc=$4 l pk win cpu rss ref
    run_tool "sp_$tag" "$ns" "$ifc" 20 "" 0 \
        "$SP" bench "$NET" -p 1-1000 --duration 4s --rate max --gateway-mac "$FAKE_MAC"
    run_tool "sp1_$tag" "$ns" "$ifc" 20 "" 0 \
        "$SP" bench "$NET" -p 1-1000 --duration 4s --rate max --send-threads 1 --gateway-mac "$FAKE_MAC"
    run_tool "ms_$tag" "$ns" "$ifc" 30 "waiting" 10 \
        masscan "$NET" -p 1-32 --rate 100000000 -e "$ifc" --adapter-ip 198.19.0.1 \
        --router-mac "$FAKE_MAC" --wait 0 -oL -
    run_tool "zm_$tag" "$ns" "$ifc" 30 "" 0 \
        zmap -q -i "$ifc" -S 198.19.0.1 -G "$FAKE_MAC" -b "$WORK/empty-blocklist" -p 80 -B 10G \
        -P 32 -c 0 -m "$WORK/zm_$tag.json" -o "$WORK/zm_$tag.list" "$NET"
    run_tool "tg_$tag" "$ns" "$ifc" 10 "" 0 \
        timeout -s INT 4 trafgen -q -i "$ifc" -o "$ifc" -c "$WORK/syn.cfg" --cpus 2
    for l in "sp_$tag:synprobe" "sp1_$tag:synprobe --send-threads 1" "ms_$tag:masscan" \
        "zm_$tag:zmap -P 32" "tg_$tag:trafgen --cpus 2 (bare generator)"; do
        read -r pk win < <(tx_of "${l%%:*}")
        read -r cpu rss < <(time_of "${l%%:*}")
        ref=0; [ "${l%%:*}" = "sp_$tag" ] && ref=1
        add_row "$group" "${l#*:}" "$pk" "$win" "-" "-" "$cpu" "$rss" "$ref"
    done
}

log "discard testbed: send rate into an ifb device that frees every frame (the sender's own cost)"
if "$TB" up "$DISC" --mode discard; then
    # ifb counts what it frees as received; it has no receive path to run.
    STAT=rx_packets send_round "into a discard device (ifb), max rate" disc "$DISC-scan" "$DISC-s"
    "$TB" down "$DISC"
else
    NOTES+=("this kernel has no ifb device: the discard rows are missing")
fi

log "sink testbed: send rate into a MAC nobody has"
"$TB" up "$SINK" --mode sink
ns=$SINK-scan ifc=$SINK-s
send_round "into a veth sink, max rate" sink "$ns" "$ifc"
SP_SELF=$(grep -o '"probes_per_sec":[0-9]*' "$WORK/sp_sink.out" | grep -o '[0-9]*$' || echo "?")

log "memory: synprobe scan of $NET x 1000 ports (65.5 M pairs), SIGINT after 5 s"
run_tool sp_mem "$ns" "$ifc" 5 "" 0 \
    "$SP" scan "$NET" -p 1-1000 --rate max --wait 1s --format jsonl --no-progress -o /dev/null
read -r mem_cpu mem_rss < <(time_of sp_mem)
mem_sent=$(sp_sent "$WORK/sp_mem.err")
"$TB" down "$SINK"

# ---------------------------------------------------------------- real replies
log "answer testbed: a kernel answers every SYN; listeners on 80 and 443"
"$TB" up "$ANS" --mode answer
ns=$ANS-scan ifc=$ANS-s
TMAC=$(ip netns exec "$ANS-tgt" cat "/sys/class/net/$ANS-t/address")
for port in 80 443; do
    ip netns exec "$ANS-tgt" ncat -lk 0.0.0.0 "$port" </dev/null >/dev/null 2>&1 &
done
for _ in $(seq 50); do
    [ "$(ip netns exec "$ANS-tgt" ss -Hltn '( sport = :80 or sport = :443 )' | wc -l)" -ge 2 ] && break
    sleep 0.1
done
EXPECT=131072
NOMINAL=$((65536 * 4))

# SYN-ACKs that reached the prober's interface: a raw-table rule in the scan namespace
# counts them before anything else sees them, whichever tool is running.
ip netns exec "$ns" iptables -w -t raw -A PREROUTING -p tcp --tcp-flags SYN,ACK SYN,ACK \
    -m comment --comment synack-count
synacks() { ip netns exec "$ns" iptables -w -t raw -L PREROUTING -v -x -n | awk '/synack-count/ { print $1 }'; }

# counted LABEL CMD...: run_tool with the SYN-ACK count of the run in $WORK/LABEL.synacks.
counted() {
    local label=$1 before
    before=$(synacks)
    run_tool "$@"
    echo $(($(synacks) - before)) >"$WORK/$label.synacks"
}

# sp_row GROUP TOOL TAG EXPECTED REF: one synprobe scan row, and its receive drops noted.
sp_row() {
    local group=$1 tool=$2 tag=$3 expected=$4 ref=$5 pk win cpu rss probes
    read -r pk win < <(tx_of "sp_$tag"); read -r cpu rss < <(time_of "sp_$tag")
    probes=$(sp_sent "$WORK/sp_$tag.err"); probes=${probes:-0}
    add_row "$group" "$tool" "$probes" "$win" "$(count_sp_open "$WORK/sp_$tag.out")" \
        "$expected" "$cpu" "$rss" "$ref" "$(cat "$WORK/sp_$tag.synacks")"
    DROPS+=("$group, $tool: $(sed -n 's/.*receive drops \([0-9]*\).*/\1/p' "$WORK/sp_$tag.err" | tail -n 1)")
    # "at 49,964/s (asked 50,000/s)": the achieved and asked rates, where a rate was asked.
    ACC+=("$(sed -n 's/^synprobe: sent .* at \([0-9,]*\)\/s (asked \([0-9,]*\)\/s).*/\1 \2/p' "$WORK/sp_$tag.err" | tr -d ,)")
}

answer_round() { # GROUP TAG SP_RATE MS_RATE ZM_RATE_ARGS...
    local group=$1 tag=$2 sprate=$3 msrate=$4
    shift 4
    counted "sp_$tag" "$ns" "$ifc" 40 "" 0 \
        "$SP" scan "$NET" -p 80,81,443,444 --rate "$sprate" --retries 0 --wait 2s \
        --states open --format jsonl --no-progress
    counted "ms_$tag" "$ns" "$ifc" 40 "waiting" 30 \
        stdbuf -oL masscan "$NET" -p 80,81,443,444 --rate "$msrate" -e "$ifc" \
        --adapter-ip 198.19.0.1 --router-mac "$TMAC" --wait 2 -oL -
    local port
    for port in 80 443; do
        counted "zm_${tag}_$port" "$ns" "$ifc" 40 "" 0 \
            zmap -q -i "$ifc" -S 198.19.0.1 -G "$TMAC" -b "$WORK/empty-blocklist" -p "$port" "$@" \
            -c 2 -m "$WORK/zm_${tag}_$port.json" -o "$WORK/zm_${tag}_$port.list" "$NET"
    done
    local pk win cpu rss probes
    sp_row "$group" "synprobe --retries 0" "$tag" "$EXPECT" 1
    read -r pk win < <(tx_of "ms_$tag"); read -r cpu rss < <(time_of "ms_$tag")
    probes=$NOMINAL
    grep -q '100.00% done' <(tr '\r' '\n' <"$WORK/ms_$tag.err") || probes=$pk # cut short: count frames
    add_row "$group" "masscan" "$probes" "$win" "$(count_ms_open "$WORK/ms_$tag.out")" \
        "$EXPECT" "$cpu" "$rss" 0 "$(cat "$WORK/ms_$tag.synacks")"
    NOTES+=("$group: synprobe says $(sed -n 's/^synprobe: sent .* at \([0-9,]*\/s\).*/\1/p' "$WORK/sp_$tag.err");\
 masscan's status line peaks at $(tr '\r' '\n' <"$WORK/ms_$tag.err" | sed -n 's/^rate: *\([0-9.]*\)-kpps.*/\1/p' | sort -n | tail -n 1) kpps")
    read -r pk win < <(tx_of "zm_${tag}_80" "zm_${tag}_443"); read -r cpu rss < <(time_of "zm_${tag}_80" "zm_${tag}_443")
    probes=$(($(zm_sent "$WORK/zm_${tag}_80.json" || echo 0) + $(zm_sent "$WORK/zm_${tag}_443.json" || echo 0)))
    add_row "$group" "zmap (80, 443: 2 runs)" "$probes" "$win" \
        "$(count_zm_open "$WORK/zm_${tag}_80.list" "$WORK/zm_${tag}_443.list")" "$EXPECT" "$cpu" "$rss" 0 \
        $(($(cat "$WORK/zm_${tag}_80.synacks") + $(cat "$WORK/zm_${tag}_443.synacks")))
}
DROPS=()
ACC=()
log "real replies at max rate"
answer_round "real replies, max rate" max max 100000000 -B 10G
log "real replies at 50k/s"
answer_round "real replies, --rate 50k" r50k 50k 50000 -r 50000
log "real replies at 100k/s"
answer_round "real replies, --rate 100k" r100k 100k 100000 -r 100000
# The rest of "every rate from 1k to the ceiling", synprobe alone (sized to last seconds).
log "synprobe alone at 1k, 10k and 200k/s"
for spec in "1k:198.18.0.0/20:8192" "10k:198.18.0.0/18:32768" "200k:$NET:$EXPECT"; do
    IFS=: read -r r net expected <<<"$spec"
    counted "sp_s$r" "$ns" "$ifc" 60 "" 0 \
        "$SP" scan "$net" -p 80,81,443,444 --rate "$r" --retries 0 --wait 2s \
        --states open --format jsonl --no-progress
    sp_row "real replies, synprobe alone" "synprobe --retries 0 --rate $r, $net" "s$r" "$expected" 0
done
"$TB" down "$ANS"

# ---------------------------------------------------------------- report
echo
echo "## Machine"
echo "- nproc: $(nproc); kernel: $(uname -r); cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "- $("$SP" --version); $(masscan --version 2>/dev/null | grep -o 'Masscan version [0-9.]*' | head -n 1); $(zmap --version 2>&1 | head -n 1)"
echo
echo "## synprobe vs masscan vs zmap (one run, side by side)"
echo
echo "| mode | tool | probes/s | open found / expected | SYN-ACKs at the prober | CPU s per M probes | peak RSS MiB | synprobe speed x | synprobe CPU efficiency x |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}" | awk -F'|' '
    function fmt_rate(r) { return r >= 1e6 ? sprintf("%.2f M", r / 1e6) : sprintf("%.0f k", r / 1e3) }
    {
        n++; g[n] = $1; tool[n] = $2
        rate[n] = ($4 > 0) ? $3 / $4 : 0
        cpum[n] = ($3 > 0) ? $7 * 1e6 / $3 : 0
        if ($5 == "-") found[n] = "-"
        else found[n] = sprintf("%d / %d (%.3f %%)", $5, $6, 100 * $5 / $6)
        rss[n] = $8 / 1024
        syn[n] = $10
        if ($9 == 1) { refrate[$1] = rate[n]; refcpu[$1] = cpum[n] }
    }
    END {
        for (i = 1; i <= n; i++) {
            sx = "-"; cx = "-"
            if (refrate[g[i]] > 0 && rate[i] > 0 && !(refrate[g[i]] == rate[i] && refcpu[g[i]] == cpum[i])) {
                sx = sprintf("%.2f", refrate[g[i]] / rate[i])
                if (refcpu[g[i]] > 0) cx = sprintf("%.2f", cpum[i] / refcpu[g[i]])
            }
            printf "| %s | %s | %s | %s | %s | %.2f | %.1f | %s | %s |\n", g[i], tool[i], fmt_rate(rate[i]), found[i], syn[i], cpum[i], rss[i], sx, cx
        }
    }'
echo
echo "Memory: synprobe scan $NET x ports 1-1000 (65,536,000 pairs) at max rate into the sink,"
echo "SIGINT after 5 s: sent ${mem_sent:-?} probes, peak RSS $((mem_rss / 1024)) MiB, CPU ${mem_cpu} s;" \
    "summary printed: $(grep -q '^synprobe: sent' "$WORK/sp_mem.err" && echo yes || echo NO)."
echo "synprobe bench's own rate into the sink (default threads): ${SP_SELF}/s."
echo "Tools' own rate claims. masscan's status (and, by these numbers, its --rate budget) also counts the RSTs it"
echo "sends after SYN-ACKs, so with replies coming back its SYNs go out slower than it says:"
printf -- '- %s\n' "${NOTES[@]}"
echo
echo "probes/s: sink rows = frames counted on the prober's device / time they were rising;"
echo "real-reply rows = the tool's probe count / the same tx window (includes trailing RSTs)."
echo "CPU = user + sys of the whole run (GNU time), waits included. 'synprobe speed x' ="
echo "synprobe's probes/s / this row's; 'CPU efficiency x' = this row's CPU per M / synprobe's"
echo "(both > 1 mean synprobe is better; synprobe reference = the first synprobe row of the mode)."
echo "SYN-ACKs at the prober: counted by a raw-table rule in the prober's namespace, before any"
echo "tool sees them; with one SYN per pair, a tool that reports fewer open ports lost replies."
echo "synprobe's receive drops (its summary): $(IFS=';'; echo "${DROPS[*]}" | sed 's/;/; /g')."

# ---------------------------------------------------------------- verdict
# Issue 3's targets, read off the rows above: one line each, "met" or "NOT met".
echo
echo "## Issue 3 targets, from this run"
printf '%s\n' "${ROWS[@]}" | awk -F'|' -v drops="$(IFS=';'; echo "${DROPS[*]}")" \
    -v acc="$(IFS=';'; echo "${ACC[*]}")" -v mem_mib="$((mem_rss / 1024))" '
    function rate(i) { return (w[i] > 0) ? p[i] / w[i] : 0 }
    function cpu(i) { return (p[i] > 0) ? c[i] * 1e6 / p[i] : 0 }
    function say(ok, text) { printf "- %s: %s\n", ok ? "met" : "NOT met", text }
    {
        n++; g[n] = $1; t[n] = $2; p[n] = $3; w[n] = $4; f[n] = $5; e[n] = $6; c[n] = $7; s[n] = $10
        key[$1 "|" $2] = n
    }
    END {
        split("into a discard device (ifb), max rate|into a veth sink, max rate", sinks, "|")
        for (k = 1; k <= 2; k++) {
            G = sinks[k]; sp = key[G "|synprobe"]; s1 = key[G "|synprobe --send-threads 1"]; ms = key[G "|masscan"]
            if (!sp || !ms) continue
            say(rate(sp) >= 2 * rate(ms), sprintf("%s: synprobe >= 2x masscan (%.2fx)", G, rate(sp) / rate(ms)))
            say(rate(sp) >= 3e6, sprintf("%s: synprobe >= 3 M/s with both cores (%.2f M/s)", G, rate(sp) / 1e6))
            say(rate(s1) >= rate(ms), sprintf("%s: synprobe with one send thread >= masscan (%.2fx)", G, rate(s1) / rate(ms)))
        }
        G = "real replies, max rate"; sp = key[G "|synprobe --retries 0"]; ms = key[G "|masscan"]
        if (sp && ms) {
            say(f[sp] * 10000 >= e[sp] * 9999, sprintf("%s: synprobe reports >= 99.99 %% of the open ports (%d / %d)", G, f[sp], e[sp]))
            say(rate(sp) >= rate(ms), sprintf("%s: synprobe reaches at least masscan'"'"'s rate (%.2fx)", G, rate(sp) / rate(ms)))
        }
        all = 1; worst = ""
        for (i = 1; i <= n; i++) if (t[i] ~ /^synprobe --retries 0/ && s[i] != "-" && f[i] != s[i]) { all = 0; worst = worst " " g[i] ": " f[i] " of " s[i] ";" }
        say(all, "every SYN-ACK that reached the prober is reported, at every synprobe rate" (all ? "" : ":" worst))
        nd = split(drops, d, ";"); zero = 1
        for (i = 1; i <= nd; i++) if (d[i] !~ /: 0$/) zero = 0
        say(zero, "no receive-side drop in any synprobe real-reply run")
        cheaper = 1; which = ""
        for (i = 1; i <= n; i++) {
            if (t[i] ~ /^synprobe/ || t[i] ~ /^trafgen/) continue
            ref = key[g[i] "|synprobe"]; if (!ref) ref = key[g[i] "|synprobe --retries 0"]
            if (ref && cpu(ref) >= cpu(i)) { cheaper = 0; which = which " " g[i] " vs " t[i] ";" }
        }
        say(cheaper, "CPU s per million probes lower than masscan'"'"'s and zmap'"'"'s in every mode" (cheaper ? "" : ":" which))
        say(mem_mib > 0 && mem_mib <= 64, sprintf("a /16 x 1000-port scan stays within a few tens of MiB (peak %d MiB)", mem_mib))
        na = split(acc, a, ";"); list = ""
        for (i = 1; i <= na; i++) {
            if (split(a[i], r, " ") != 2 || r[2] <= 0) continue
            list = list sprintf(" %d of %d (%.2f %%);", r[1], r[2], 100 * r[1] / r[2])
            if (r[1] >= 0.98 * r[2]) within = within + 1; else below = below + 1
        }
        printf "- rate accuracy (synprobe'"'"'s achieved SYN rate of the asked one, real replies):%s %d within 2 %%, %d below (the summary then says the machine could not keep up)\n", list, within, below
    }'
