#!/usr/bin/env bash
# Validates deploy/ and the exposition synprobe serves:
#   - the systemd unit: systemd-analyze verify (any warning fails);
#   - the Prometheus scrape config and alert rules: promtool check config / rules;
#   - the metrics text: promtool check metrics on a sample rendered by synprobe's Metrics;
#   - a real Prometheus scraping synprobe's endpoint over loopback and evaluating the rules.
# Installs promtool and prometheus (Debian package prometheus) when missing, as root. On a
# machine that runs systemd the package also starts its own prometheus.service (:9090);
# this script needs only the binaries and starts its own on 127.0.0.1.
#   ./scripts/check-deploy.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "check-deploy: promtool missing; run as root to install it (apt-get install prometheus)" >&2
        exit 1
    fi
    echo "check-deploy: installing prometheus (for promtool)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
for tool in curl systemd-analyze; do
    command -v "$tool" >/dev/null 2>&1 || { echo "check-deploy: $tool missing" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

cargo build -q --example metrics_sample
cargo build -q --bin synprobe
sample=target/debug/examples/metrics_sample

echo "== systemd-analyze verify deploy/synprobe-watch.service"
# The unit names the installed binary; verify it against the one just built.
sed "s#/usr/local/bin/synprobe#$PWD/target/debug/synprobe#" deploy/synprobe-watch.service \
    >"$tmp/synprobe-watch.service"
systemd-analyze verify --man=no "$tmp/synprobe-watch.service" 2>"$tmp/verify.err" || true
if [ -s "$tmp/verify.err" ]; then
    cat "$tmp/verify.err" >&2
    echo "check-deploy: the unit has problems" >&2
    exit 1
fi
echo "ok"

echo "== promtool check config / rules"
promtool check config deploy/prometheus.yml
promtool check rules deploy/synprobe-alerts.yml

echo "== promtool check metrics (a rendered sample, Prometheus text format)"
"$sample" >"$tmp/sample.prom"
promtool check metrics <"$tmp/sample.prom"
echo "ok: $(grep -vc '^#' "$tmp/sample.prom") samples"

echo "== a real Prometheus scrapes synprobe's endpoint"
"$sample" --serve 127.0.0.1:0 >"$tmp/addr" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/addr" ] && break; sleep 0.1; done
addr=$(head -1 "$tmp/addr")
[ -n "$addr" ] || { echo "check-deploy: the sample endpoint did not start" >&2; exit 1; }
port=19464
while ss -ltnH "sport = :$port" | grep -q .; do port=$((port + 1)); done
sed -e "s#127.0.0.1:9464#$addr#" -e "s#scrape_interval: 15s#scrape_interval: 1s#" \
    -e "s#evaluation_interval: 15s#evaluation_interval: 1s#" -e "s#scrape_timeout: 10s#scrape_timeout: 1s#" \
    -e "s#- synprobe-alerts.yml#- $PWD/deploy/synprobe-alerts.yml#" \
    deploy/prometheus.yml >"$tmp/prometheus.yml"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
prom=$!
pids+=("$prom")
api="http://127.0.0.1:$port/api/v1"
query() { curl -fsS --max-time 5 "$api/query" --data-urlencode "query=$1" 2>/dev/null || true; }
got=""
for _ in $(seq 60); do
    got=$(query 'synprobe_target_up')
    case "$got" in *'198.18.0.1:80'*) break ;; esac
    kill -0 "$prom" 2>/dev/null || break
    sleep 1
done
case "$got" in
*'198.18.0.1:80'*) ;;
*)
    cat "$tmp/prometheus.log" >&2
    echo "check-deploy: Prometheus did not get synprobe_target_up from $addr" >&2
    exit 1
    ;;
esac
echo "scraped from $addr: $(query 'up{job="synprobe"}' | grep -o '"value":\[[^]]*\]')"
healthy=$(query 'synprobe_target_up == 1' | grep -o '"target":"[^"]*"' | tr '\n' ' ')
[ "$healthy" = '"target":"198.18.0.1:80" ' ] || { echo "check-deploy: target_up == 1 is $healthy" >&2; exit 1; }
echo "target_up == 1: $healthy"
rules=$(curl -fsS --max-time 5 "$api/rules")
case "$rules" in *'"health":"ok"'*) ;; *) echo "check-deploy: rules: $rules" >&2; exit 1 ;; esac
case "$rules" in *'"health":"err"'*) echo "check-deploy: a rule fails: $rules" >&2; exit 1 ;; esac
echo "alert rules loaded and evaluating without error"
# The unhealthy target of the sample: its down alert is pending (it fires after 5 minutes).
pending=""
for _ in $(seq 30); do
    pending=$(query 'ALERTS{alertname="SynprobeTargetDown"}' | grep -o '"target":"[^"]*"' | tr '\n' ' ')
    [ -n "$pending" ] && break
    sleep 1
done
[ "$pending" = '"target":"198.18.0.2:443" ' ] || { echo "check-deploy: SynprobeTargetDown for: $pending" >&2; exit 1; }
echo "SynprobeTargetDown pending for: $pending"
echo "check-deploy: all ok"
