#!/usr/bin/env bash
# The plot of README's `--rate auto` section (issue 11): behind a SYN policer of 20,000/s on
# the target (hashlimit, one bucket of 1,000), a /16 x ports 80,81 scanned at --rate 20000,
# --rate max and --rate auto, each with the hidden --rate-trace (rate sent and canary loss
# every 100 ms); draws both over time as one SVG (two panels: probes/s sent, canaries
# unanswered), no plotting library needed.
#
#   scripts/rate-plot.sh [OUT.svg]        (default docs/rate-auto.svg; needs root, python3,
#                                          the release binary)
#
# Network safety: synprobe runs only inside the testbed's scan namespace, which has no
# route out; the testbed is removed on every way out.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${SYNPROBE_BIN:-$root/target/release/synprobe}
tb=$root/scripts/testbed.sh
out=${1:-$root/docs/rate-auto.svg}
name=rpl$$
work=$(mktemp -d)
[ -x "$bin" ] || { echo "rate-plot.sh: no $bin (cargo build --release)" >&2; exit 2; }
cleanup() { "$tb" down "$name"; rm -rf "$work"; }
trap cleanup EXIT
"$tb" up "$name"
"$tb" listen "$name" 80 600
"$tb" exec "$name" tgt iptables -A INPUT -p tcp --syn -m hashlimit --hashlimit-above 20000/sec \
    --hashlimit-burst 1000 --hashlimit-name syn -j DROP

for r in 20000 max auto; do
    "$tb" exec "$name" scan "$bin" scan 198.18.0.0/16 -p 80,81 --rate "$r" --no-progress \
        --rate-trace "$work/$r.jsonl" -o "$work/$r.out" 2>"$work/$r.err"
    open=$(grep -o 'open [0-9]*' "$work/$r.err" | head -1 | cut -d' ' -f2)
    echo "--rate $r: $open open of 65536 ($(grep -o 'finished in [0-9.]* s' "$work/$r.err"))"
    echo "$open" >"$work/$r.open"
done

python3 - "$work" "$out" <<'PY'
import json, os, sys
work, out = sys.argv[1:]
runs = [("20000", "#1f77b4"), ("max", "#d62728"), ("auto", "#2ca02c")]
data = {}
for r, _ in runs:
    rows = [json.loads(l) for l in open(os.path.join(work, r + ".jsonl")) if l.strip()]
    t0 = rows[0]["t"] - 0.1 if rows else 0
    data[r] = [(x["t"] - t0, x["sent_rate"], x["loss"]) for x in rows]
    data[r + "open"] = open(os.path.join(work, r + ".open")).read().strip()
W, H, L, R, T, GAP = 760, 520, 70, 20, 40, 60
ph = (H - T - GAP - 40) / 2
tmax = max((p[0] for r, _ in runs for p in data[r]), default=1)
rmax = max((p[1] for r, _ in runs for p in data[r]), default=1) * 1.05
def x(t): return L + (W - L - R) * t / tmax
def y(v, top, vmax): return top + ph - ph * min(v, vmax) / vmax
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="20" font-size="14">/16 x 2 ports behind a 20,000/s SYN policer: --rate 20000, max, auto</text>']
for top, label, vmax, key in ((T, "probes/s sent", rmax, 1), (T + ph + GAP, "canaries unanswered", 1.0, 2)):
    svg.append(f'<rect x="{L}" y="{top}" width="{W-L-R}" height="{ph}" fill="none" stroke="#888"/>')
    svg.append(f'<text x="{L}" y="{top-6}">{label}</text>')
    for i in range(5):
        v = vmax * i / 4
        yy = y(v, top, vmax)
        lab = f"{v/1000:.0f}k" if key == 1 else f"{v*100:.0f} %"
        svg.append(f'<line x1="{L}" x2="{W-R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
        svg.append(f'<text x="{L-6}" y="{yy+4:.1f}" text-anchor="end">{lab}</text>')
    if key == 1:
        yy = y(20000, top, vmax)
        svg.append(f'<line x1="{L}" x2="{W-R}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#555" stroke-dasharray="4 3"/>')
        svg.append(f'<text x="{W-R-4}" y="{yy-4:.1f}" text-anchor="end" fill="#555">policer 20,000/s</text>')
    for r, colour in runs:
        pts = [(p[0], p[key]) for p in data[r] if p[key] is not None]
        if pts:
            path = " ".join(f"{x(t):.1f},{y(v, top, vmax):.1f}" for t, v in pts)
            svg.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
bottom = T + 2 * ph + GAP
for i in range(6):
    t = tmax * i / 5
    svg.append(f'<text x="{x(t):.1f}" y="{bottom+16:.1f}" text-anchor="middle">{t:.1f} s</text>')
for i, (r, colour) in enumerate(runs):
    svg.append(f'<text x="{L + i*220}" y="{H-8}" fill="{colour}">--rate {r}: {data[r+"open"]} of 65,536 open found</text>')
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")
print(f"wrote {out}")
PY
