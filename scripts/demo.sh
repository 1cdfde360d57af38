#!/usr/bin/env bash
# synprobe on a throwaway testbed: a target namespace answering for
# 198.18.0.0/16 with a known ground truth, and the prober in a namespace with
# no route out. Everything is removed when the script ends, however it ends.
#   sudo ./scripts/demo.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

[ "$(id -u)" = 0 ] || { echo "demo.sh: needs root (sudo ./scripts/demo.sh)" >&2; exit 1; }
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

missing=()
for pair in ip:iproute2 iptables:iptables ncat:ncat sysctl:procps; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== building synprobe (release)"
cargo build --release --quiet
bin=${SYNPROBE_BIN:-"$repo/target/release/synprobe"}

name=spdemo
listeners=()
tmp=$(mktemp -d)
cleanup() {
    local pid
    for pid in "${listeners[@]}"; do kill "$pid" 2>/dev/null || true; done
    "$repo/scripts/testbed.sh" down "$name" || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/testbed.sh up "$name"
tgt() { ip netns exec "$name-tgt" "$@"; }
scan() { ip netns exec "$name-scan" "$@"; }

for port in 22 80; do
    ip netns exec "$name-tgt" ncat -lk -p "$port" </dev/null >/dev/null 2>&1 &
    listeners+=("$!")
done
tgt iptables -w -A INPUT -p tcp --dport 8080 -j DROP
tgt iptables -w -A INPUT -p tcp --dport 8443 -j REJECT --reject-with icmp-port-unreachable
for _ in $(seq 100); do
    [ "$(tgt ss -Hltn '( sport = :22 or sport = :80 )' | wc -l)" -ge 2 ] && break
    sleep 0.05
done

cat <<'EOF'

== ground truth: every address of 198.18.0.0/16 is the same target host
   port 22    a listener (ncat)                  -> open     (SYN-ACK)
   port 80    a listener (ncat)                  -> open     (SYN-ACK)
   port 443   nothing listening                  -> closed   (RST)
   port 8080  iptables DROP                      -> filtered (no response)
   port 8443  iptables REJECT port-unreachable   -> filtered (ICMP port unreachable)
   The prober lives in its own namespace: 198.19.0.1, routes only to the target.

EOF

run() {
    echo "\$ synprobe $*"
    local rc=0
    scan timeout 120 "$bin" "$@" || rc=$?
    echo "(exit $rc)"
    echo
}

run scan 198.18.0.1 -p 22,80,443,8080,8443 --states all

echo "\$ synprobe scan 198.18.0.0/24 -p 22,80,443,8080,8443 --states all --format csv > scan.csv"
rc=0
scan timeout 120 "$bin" scan 198.18.0.0/24 -p 22,80,443,8080,8443 --states all --format csv \
    >"$tmp/scan.csv" || rc=$?
echo "(exit $rc)"
echo "first rows:"
head -n 6 "$tmp/scan.csv" | sed 's/^/   /'
echo "rows per port, state and reason (256 addresses each):"
tail -n +2 "$tmp/scan.csv" | awk -F, '{n[$2" "$3" "$4]++} END {for (k in n) print "   " k ": " n[k]}' | sort -n
echo

run check 198.18.0.1:80 198.18.0.1:443 198.18.0.1:8080 198.18.0.1:8443
run check --json 198.18.0.1:22 198.18.0.1:443

echo "== every target its own way out: 198.19.0.0/24 is on the prober's link (198.19.0.2 is the"
echo "   target's own address, asked for by ARP; nobody holds 198.19.0.77), 203.0.113.7 has no route"
run check 198.18.0.1:22 198.19.0.2:22 198.19.0.77:22 203.0.113.7:22
run scan 198.18.0.1 198.19.0.2 198.19.0.77 203.0.113.7 -p 22 --states all

echo "== done; removing the testbed"
