#!/usr/bin/env bash
# What `synprobe watch` costs at fleet size (issue 9): TARGETS target:port pairs (default
# 100,000: 50,000 addresses of 198.18.0.0/16 x ports 80 and 443) watched at a 10 s
# interval in the `answer` testbed (about 70 s in all). Port 80 listens everywhere, 443
# answers RST. After the start (every target reaches its first state) comes a steady part
# of STEADY_INTERVALS intervals in which nothing changes; then the listener stops and every
# port-80 target must turn unhealthy within the configured bound (unhealthy threshold x
# interval + timeout). Prints:
#   - CPU: the prober's user and system seconds per second over the steady part. On veth
#     the target's kernel receives and answers each SYN inside the sender's `sendto`, so
#     its work would be counted as ours. With STEER=1 (the default, on 2 or more CPUs) the
#     target's side is moved where it is on a real network, off the prober: the prober is
#     pinned to CPU 0 and the target veth's receive is steered (RPS) to CPU 1, and the
#     prober's figure holds its own work only (its sends, its receive path, its
#     teardown). STEER=0 measures the old way, with both sides on the prober's clock;
#   - peak RSS (VmHWM);
#   - probes sent per interval against the fleet size, and checks late (from the metrics
#     endpoint, which is scraped over HTTP as Prometheus would);
#   - detection latency: from the listener's stop to each unhealthy event, max and median.
#
#   [STEER=0|1] [RATE=auto] scripts/watch-bench.sh [TARGETS] [STEADY_INTERVALS]
#   (defaults: 100000, 3; RATE is passed as watch's --rate: auto adds the pilot and canaries)
#
# Needs root, the release binary (cargo build --release), ncat and python3.
set -euo pipefail

targets=${1:-100000}
steady_intervals=${2:-3}
interval=10
timeout=2
threshold=2
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SYNPROBE_BIN:-$root/target/release/synprobe}
tb=$root/scripts/testbed.sh
name=wb$$
work=$(mktemp -d)
[ -x "$bin" ] || { echo "watch-bench.sh: no $bin (cargo build --release)" >&2; exit 2; }
[ "$targets" -ge 2 ] && [ "$targets" -le 131072 ] || { echo "watch-bench.sh: TARGETS must be 2..131072" >&2; exit 2; }
[ "$steady_intervals" -ge 1 ] || { echo "watch-bench.sh: STEADY_INTERVALS must be >= 1" >&2; exit 2; }

watch_pid=
cleanup() {
    [ -n "$watch_pid" ] && kill -9 "$watch_pid" 2>/dev/null || true
    "$tb" down "$name"
    rm -rf "$work"
}
trap cleanup EXIT
"$tb" up "$name"

# STEER: the target's side on CPU 1 (receive packet steering of its veth), the prober on 0.
steer=${STEER:-1}
[ "$(nproc)" -ge 2 ] || steer=0
pin=()
if [ "$steer" = 1 ]; then
    "$tb" exec "$name" tgt sh -c "echo 2 > /sys/class/net/$name-t/queues/rx-0/rps_cpus"
    pin=(taskset -c 0)
fi

listen() {
    "$tb" exec "$name" tgt setsid ncat -lk -p 80 </dev/null >/dev/null 2>&1 &
    disown
    for _ in $(seq 100); do
        "$tb" exec "$name" tgt ss -Hltn | grep -q ':80 ' && return
        sleep 0.1
    done
    echo "watch-bench.sh: listener did not start" >&2
    exit 1
}
listen

# TARGETS/2 addresses x 2 ports, one per line.
python3 - "$targets" >"$work/targets" <<'EOF'
import sys
n = int(sys.argv[1])
for i in range(n // 2):
    a = f"198.18.{i >> 8}.{i & 255}"
    print(f"{a}:80")
    print(f"{a}:443")
EOF
fleet=$(wc -l <"$work/targets")
cut -d: -f1 "$work/targets" | uniq >"$work/addrs"

# Baseline: the same pairs probed once by `scan` at the rate watch sends them (fleet /
# interval per second): what those packets cost this testbed without watch's bookkeeping.
base_rate=$((fleet / interval))
baseline=$(python3 - "$tb" "$name" "$bin" "$work/addrs" "$base_rate" "${pin[@]}" <<'EOF'
import resource, subprocess, sys, time
tb, name, binary, addrs, rate = sys.argv[1:6]
t = time.time()
pin = sys.argv[6:]
subprocess.run(pin + [tb, "exec", name, "scan", binary, "scan", "@" + addrs, "-p", "80,443",
                "--rate", rate, "--retries", "0", "--wait", "500ms", "--no-progress",
                "-o", "/dev/null"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
               check=True)
secs = time.time() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime / secs * 100:.1f} {r.ru_stime / secs * 100:.1f} {secs:.1f}")
EOF
)

port=9464
"${pin[@]}" "$tb" exec "$name" scan "$bin" watch --targets "$work/targets" --interval ${interval}s \
    --timeout ${timeout}s --healthy-threshold $threshold --unhealthy-threshold $threshold \
    ${RATE:+--rate "$RATE"} --format jsonl --metrics-listen 127.0.0.1:$port >"$work/events" 2>"$work/err" &
watch_pid=$!

# The prober's own pid inside `ip netns exec` (the shell's child).
prober_pid() { ip netns pids "$name-scan" | head -1; }
# user and system ticks, "U S"
cpu_ticks() { awk '{print $14 " " $15}' "/proc/$1/stat"; }
scrape() {
    "$tb" exec "$name" scan python3 -c "
import urllib.request, sys
body = urllib.request.urlopen('http://127.0.0.1:$port/metrics', timeout=5).read().decode()
for line in body.splitlines():
    for name in sys.argv[1:]:
        if line.startswith(name + ' ') or line.startswith(name + '{'):
            print(line)
" "$@"
}
metric() { scrape "$1" | awk '{s += $NF} END {printf "%d", s}'; }

sleep 1
pid=$(prober_pid)
[ -n "$pid" ] || { echo "watch-bench.sh: watch did not start:" >&2; cat "$work/err" >&2; exit 1; }
hz=$(getconf CLK_TCK)

# Phase 1, start: every target passes `threshold` checks and turns healthy (port 80) or
# unhealthy (443): threshold x interval + timeout, and a second to spare.
sleep $((threshold * interval + timeout))
# Phase 2, steady: nothing changes; every target is checked once per interval. This is the
# CPU figure: what watching costs when the fleet is as it was.
# A scrape renders every target's series (a few MB for 100,000 targets): its CPU is measured
# on its own, outside the steady part, and reported per scrape, since what it costs an hour
# depends on the scrape interval, not on watching.
k0=$(cpu_ticks "$pid"); metric synprobe_probes_sent_total >/dev/null; k1=$(cpu_ticks "$pid")
# The probe count's moment: the middle of the scrape that read it.
a0=$(date +%s.%N); s0=$(metric synprobe_probes_sent_total); t0=$(date +%s.%N); c0=$(cpu_ticks "$pid")
sleep $((steady_intervals * interval))
t1=$(date +%s.%N); c1=$(cpu_ticks "$pid"); s1=$(metric synprobe_probes_sent_total); b1=$(date +%s.%N)
# Phase 3, detection: the listener stops; every port-80 target must turn unhealthy within
# threshold x interval + timeout.
stop_at=$(date +%s.%N)
# The target namespace holds nothing but the listener.
# shellcheck disable=SC2046
kill $(ip netns pids "$name-tgt") 2>/dev/null || true
sleep $((threshold * interval + timeout + 2))
late=$(metric synprobe_checks_late_total)
rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$pid/status")
kill -TERM "$watch_pid"
wait "$watch_pid" || true
watch_pid=

python3 - "$work/events" "$stop_at" "$t0" "$t1" "${c0// /,}" "${c1// /,}" "$hz" "$s0" "$s1" "$fleet" \
    "$interval" "$timeout" "$threshold" "$late" "$rss" "$baseline" "$base_rate" "$steer" \
    "${k0// /,}" "${k1// /,}" "$a0" "$b1" <<'EOF'
import json, sys, datetime, statistics
(events, stop_at, t0, t1, c0, c1, hz, s0, s1, fleet, interval, timeout, threshold,
 late, rss, baseline, base_rate, steer, k0, k1, a0, b1) = sys.argv[1:]
stop_at, t0, t1 = float(stop_at), float(t0), float(t1)
secs = t1 - t0
(u0, s0_), (u1, s1_) = [tuple(map(int, c.split(","))) for c in (c0, c1)]
user = (u1 - u0) / int(hz) / secs
system = (s1_ - s0_) / int(hz) / secs
cpu = user + system
sent = int(s1) - int(s0)
counted_secs = ((t1 + float(b1)) - (float(a0) + t0)) / 2
per_interval = sent / (counted_secs / int(interval))
bound = int(threshold) * int(interval) + int(timeout)
lat = []
in_steady = 0
for line in open(events):
    e = json.loads(line)
    ts = datetime.datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    ts = ts.replace(tzinfo=datetime.timezone.utc).timestamp()
    if t0 <= ts < t1:
        in_steady += 1
    if e["to"] == "unhealthy" and e["target"].endswith(":80") and ts >= stop_at:
        lat.append(ts - stop_at)
fleet = int(fleet)
print(f"watch of {fleet} targets at a {interval} s interval, steady part {secs:.1f} s:")
where = ("the target's side steered to another core" if steer == "1" else
         "on veth, system time includes the target's side of each packet")
print(f"  CPU: {cpu * 100:.1f} % of one core ({user * 100:.1f} % user, {system * 100:.1f} % system;"
      f" {where})")
bu, bs, bsecs = baseline.split()
print(f"  baseline: scan of the same pairs at --rate {base_rate}: {float(bu) + float(bs):.1f} % of one core"
      f" ({bu} % user, {bs} % system, over its {bsecs} s)")
(ku0, ks0), (ku1, ks1) = [tuple(map(int, c.split(","))) for c in (k0, k1)]
scrape_ms = ((ku1 - ku0) + (ks1 - ks0)) / int(hz) * 1000
print(f"  one scrape of /metrics: {scrape_ms:.0f} ms of CPU ({fleet} targets' series;"
      f" every 15 s that is {scrape_ms / 150:.1f} % of one core)")
print(f"  peak RSS: {rss}")
print(f"  probes sent: {sent} = {per_interval:.0f} per interval for {fleet} targets; checks late: {late};"
      f" health changes in the steady part: {in_steady}")
if lat:
    print(f"  detection: {len(lat)} of {fleet // 2} port-80 targets unhealthy after the listener stopped;"
          f" latency max {max(lat):.2f} s, median {statistics.median(lat):.2f} s (bound {bound} s)")
else:
    print("  detection: no unhealthy events after the listener stopped")
EOF
