#!/usr/bin/env bash
# A real distributed scan: deploy/slurm/synprobe-array.sbatch as a 4-task Slurm job array
# against a namespace testbed, the dependent merge job, and the merged result compared
# with an unsharded scan of the same targets, ports and seed. Exit 0 only when identical.
#
#   sudo ./scripts/slurm-demo.sh          (after cargo build --release; builds nothing)
#
# Slurm: a running one is used when `scontrol ping` says so (its jobs must run on this
# machine: the testbed and the output directory are local). Otherwise this script brings
# up its own single-node Slurm in a temporary directory (its own slurm.conf, munge key and
# socket, ports 16817/16818; nothing in /etc is touched): munged as the munge user,
# slurmctld and slurmd in the foreground as its children. It installs the Debian packages
# slurm-wlm and munge (and the testbed's tools) when missing.
#
# The array tasks scan from the testbed's prober namespace: the sbatch puts
# SYNPROBE_PREFIX="ip netns exec spslurm-scan" before synprobe. Everything it started (the
# jobs, the daemons, the listeners, the testbed, the temporary directory) is removed when
# it ends, however it ends. Bounded: the jobs get 90 s, the whole run about a minute.
# Env: SYNPROBE_BIN (default target/release/synprobe), SLURM_DEMO_KEEP=1 keeps the
# temporary directory (logs, outputs) for a look afterwards, until the next run. A run that
# was SIGKILLed leaves its daemons: the next run stops them (by their pid files) first.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

say() { echo "slurm-demo: $*"; }
die() { echo "slurm-demo: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, raw sockets, Slurm daemons)"
bin=${SYNPROBE_BIN:-"$repo/target/release/synprobe"}
[ -x "$bin" ] || die "no $bin: run cargo build --release first"

# command -> Debian package; one apt-get update for all that are missing.
missing=()
for pair in sbatch:slurm-client slurmctld:slurmctld slurmd:slurmd munged:munge ip:iproute2 \
    iptables:iptables ncat:ncat ss:iproute2 setpriv:util-linux jq:jq; do
    tool=${pair%%:*}
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
        missing+=("${pair#*:}")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    # slurm-wlm pulls in slurmctld, slurmd and slurm-client.
    pkgs=$(printf '%s\n' "${missing[@]}" | sed -E 's/^slurm(ctld|d|-client)$/slurm-wlm/' | sort -u | tr '\n' ' ')
    say "installing $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq -o DPkg::Lock::Timeout=120 --no-install-recommends $pkgs >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

# The scan: a /20 x 5 ports of the testbed, with a known answer for every pair.
targets=198.18.0.0/20
hosts=4096
ports=22,80,443,8080,8443
seed=20261203
shards=4
rate=20000
scan_args="--states all"
name=spslurm
scan_ns=$name-scan

# One demo at a time (one testbed name, fixed ports); the lock goes with the process.
exec 9>/run/synprobe-slurm-demo.lock
flock -n 9 || die "another slurm-demo.sh is running"
# A run that was killed (SIGKILL: no trap) left its directory and maybe its daemons, which
# hold the ports: stop them by the pid files they wrote there, then remove it.
for stale in /tmp/synprobe-slurm.*; do
    [ -d "$stale" ] || continue
    for pidfile in "$stale/slurmd.pid" "$stale/slurmctld.pid" "$stale/munge/munged.pid"; do
        pid=$(cat "$pidfile" 2>/dev/null || true)
        what=$(basename "$pidfile" .pid)
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$what" ]; then
            say "stopping $what ($pid) left by a killed run in $stale"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$stale"
done

work=$(mktemp -d /tmp/synprobe-slurm.XXXXXX)
# munged (as the munge user) reaches its socket directory through it.
chmod 755 "$work"
out=$work/out
mkdir -p "$out"

daemons=()  # pid:name of what this script started, stopped in reverse order
listeners=()
jobs_submitted=()
cleanup() {
    local rc=$? pid what i
    trap - EXIT INT TERM
    set +e
    if [ ${#jobs_submitted[@]} -gt 0 ]; then
        scancel "${jobs_submitted[@]}" 2>/dev/null
    fi
    if [ -e "$out/merge.jobid" ]; then
        scancel "$(cat "$out/merge.jobid")" 2>/dev/null
    fi
    if [ "$rc" != 0 ]; then
        for f in "$work"/slurmctld.log "$work"/slurmd.log "$out"/*.log; do
            [ -s "$f" ] && { echo "--- last lines of $f"; tail -n 15 "$f"; }
        done
    fi
    for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
        pid=${daemons[i]%%:*}
        what=${daemons[i]#*:}
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$what ($pid) did not stop in 10 s: SIGKILL"
            kill -9 "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
        say "stopped $what ($pid)"
    done
    for pid in "${listeners[@]}"; do kill "$pid" 2>/dev/null; done
    "$repo/scripts/testbed.sh" down "$name"
    if [ "${SLURM_DEMO_KEEP:-0}" = 1 ]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
    if [ "$rc" = 0 ]; then say "PASS"; else say "exit $rc"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- Slurm -------------------------------------------------------------------------------
start_slurm() {
    local node conf=$work/slurm.conf sock=$work/munge/munge.socket
    node=$(hostname -s)
    mkdir -p "$work/munge" "$work/ctld" "$work/spool"
    # A private munge key, and munged as the munge user (as root it refuses without --force).
    dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
    chown -R munge:munge "$work/munge"
    chmod 700 "$work/munge"
    chmod 600 "$work/munge/munge.key"
    chmod 755 "$work/munge"
    setpriv --reuid=munge --regid=munge --clear-groups \
        munged --foreground --socket="$sock" --key-file="$work/munge/munge.key" \
        --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/munged.seed" \
        --log-file="$work/munge/munged.log" >"$work/munged.out" 2>&1 9>&- &
    daemons+=("$!:munged")
    for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
    [ -S "$sock" ] || die "munged did not start: $(cat "$work/munged.out")"

    cat >"$conf" <<EOF
# synprobe's slurm-demo: one node, everything under $work.
ClusterName=synprobe-demo
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
StateSaveLocation=$work/ctld
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
PlugStackConfig=$work/plugstack.conf
MailProg=/bin/true
MpiDefault=none
# No cgroups for the jobs: linuxproc tracks their processes, no task containment.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Without slurmdbd there is no sacct: finished jobs are logged here instead.
JobCompType=jobcomp/filetxt
JobCompLoc=$work/jobcomp.log
# Schedule at once on submit and on each job's end (no backfill cycle to wait for).
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=demo Nodes=$node Default=YES MaxTime=10 State=UP
EOF
    # The default cgroup setup fails here (no systemd): v1, without systemd.
    printf 'CgroupPlugin=cgroup_v1\nIgnoreSystemd=yes\n' >"$work/cgroup.conf"
    : >"$work/plugstack.conf"
    export SLURM_CONF=$conf
    slurmctld -D -f "$conf" >"$work/slurmctld.out" 2>&1 9>&- &
    daemons+=("$!:slurmctld")
    slurmd -D -f "$conf" -N "$node" >"$work/slurmd.out" 2>&1 9>&- &
    daemons+=("$!:slurmd")
    local state=""
    for _ in $(seq 100); do
        state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
        case "$state" in idle | mixed) break ;; esac
        sleep 0.2
    done
    case "$state" in idle | mixed) ;; *) die "node $node not idle after 20 s (state '$state')" ;; esac
    say "started a single-node Slurm: munged, slurmctld, slurmd (pids ${daemons[*]}), conf $conf"
}

if timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; then
    say "using the running Slurm ($(scontrol ping | head -n 1))"
else
    start_slurm
fi
sinfo

# --- testbed: every address of the /16 is one target host ----------------------------------
"$repo/scripts/testbed.sh" up "$name"
for port in 22 80; do
    ip netns exec "$name-tgt" ncat -lk -p "$port" </dev/null >/dev/null 2>&1 9>&- &
    listeners+=("$!")
done
tgt() { ip netns exec "$name-tgt" "$@"; }
tgt iptables -w -A INPUT -p tcp --dport 8080 -j DROP
tgt iptables -w -A INPUT -p tcp --dport 8443 -j REJECT --reject-with icmp-port-unreachable
for _ in $(seq 100); do
    [ "$(tgt ss -Hltn '( sport = :22 or sport = :80 )' | wc -l)" -ge 2 ] && break
    sleep 0.05
done
[ "$(tgt ss -Hltn '( sport = :22 or sport = :80 )' | wc -l)" -ge 2 ] || die "listeners did not start"
say "testbed $name up: $targets; 22, 80 listen; 443 closed; 8080 DROP; 8443 REJECT"

# --- the array, and the merge its first task submits -----------------------------------------
say "\$ sbatch --array=1-$shards deploy/slurm/synprobe-array.sbatch (targets $targets, ports $ports, seed $seed, prefix 'ip netns exec $scan_ns')"
array_id=$(SYNPROBE_TARGETS=$targets SYNPROBE_PORTS=$ports SYNPROBE_SEED=$seed \
    SYNPROBE_OUT=$out SYNPROBE_BIN=$bin SYNPROBE_RATE=$rate SYNPROBE_ARGS=$scan_args \
    SYNPROBE_PREFIX="ip netns exec $scan_ns" \
    sbatch --parsable --array=1-$shards --cpus-per-task=1 --time=5 \
    --output="$out/synprobe-%A_%a.log" deploy/slurm/synprobe-array.sbatch)
array_id=${array_id%%;*}
jobs_submitted+=("$array_id")
say "array job $array_id submitted"

# Wait (bounded) until the array and the merge have left the queue; show the queue as it moves.
merge_id=""
last=""
deadline=$((SECONDS + 90))
while :; do
    [ -z "$merge_id" ] && [ -s "$out/merge.jobid" ] && merge_id=$(cat "$out/merge.jobid") &&
        jobs_submitted+=("$merge_id")
    ids=$array_id${merge_id:+,$merge_id}
    q=$(squeue -h -j "$ids" -o '%.10i %.16j %.9T %N %r' 2>/dev/null || true)
    if [ "$q" != "$last" ]; then
        [ -n "$q" ] && { echo "squeue ($((SECONDS))s):"; echo "$q"; }
        last=$q
    fi
    [ -n "$merge_id" ] && [ -z "$q" ] && break
    # A failed task leaves the merge pending for good (afterok can no longer hold).
    case "$q" in *DependencyNev*) die "a shard failed: the merge can never run" ;; esac
    [ "$SECONDS" -lt "$deadline" ] || die "the array and its merge did not finish in 90 s"
    sleep 0.5
done

# How each job ended: scontrol (every Slurm keeps finished jobs for MinJobAge, 300 s by
# default), and this demo's Slurm logs completions to jobcomp.log (there is no sacct without
# slurmdbd).
say "jobs as they ended:"
# The fields that tell which job ran what and how it ended, of `scontrol -o` / jobcomp lines.
job_fields() {
    awk '{ line = ""
        for (i = 1; i <= NF; i++) if ($i ~ /^(JobId|ArrayJobId|ArrayTaskId|JobName|Name|JobState|ExitCode|NodeList)=/) line = line " " $i
        if (line != "") print substr(line, 2) }'
}
ended=$(scontrol -o show job "$array_id" 2>/dev/null; scontrol -o show job "$merge_id" 2>/dev/null)
echo "$ended" | job_fields
if [ -e "$work/jobcomp.log" ]; then
    say "jobcomp.log:"
    job_fields <"$work/jobcomp.log"
fi
# With accounting (slurmdbd), sacct says the same.
if acct=$(sacct -X -j "$array_id,$merge_id" -o JobID,JobName,State,ExitCode,NodeList 2>/dev/null); then
    say "sacct:"
    echo "$acct"
fi
n_done=$(echo "$ended" | grep -c 'JobState=COMPLETED' || true)
[ "$n_done" -eq $((shards + 1)) ] || die "$n_done of $((shards + 1)) jobs COMPLETED"

say "per-task outputs in $out:"
(cd "$out" && ls -l)
for i in $(seq 1 "$shards"); do
    echo "--- synprobe-${array_id}_$i.log"
    cat "$out/synprobe-${array_id}_$i.log"
    [ -s "$out/shard-$i-of-$shards.jsonl" ] || die "no output of shard $i"
done
echo "--- merge.log"
cat "$out/merge.log"
grep -q "shards present: 1,2,3,4 of 4; none missing" "$out/merge.log" || die "merge does not report all 4 shards"

# --- the same scan, unsharded, outside Slurm ---------------------------------------------------
say "\$ ip netns exec $scan_ns synprobe scan $targets -p $ports --seed $seed $scan_args --format jsonl (unsharded)"
# shellcheck disable=SC2086
ip netns exec "$scan_ns" timeout 120 "$bin" scan "$targets" -p "$ports" --seed "$seed" --rate "$rate" \
    $scan_args --format jsonl --no-progress -o "$work/unsharded.jsonl"
"$bin" merge "$work/unsharded.jsonl" -o "$work/unsharded-sorted.jsonl" 2>/dev/null

# Everything but the RTT, which differs run to run; both files are in merge's order.
verdicts() { jq -c 'select(.synprobe == null) | [.ip, .port, .state, .reason, .ttl]' "$1"; }
verdicts "$out/merged.jsonl" >"$work/merged.v"
verdicts "$work/unsharded-sorted.jsonl" >"$work/unsharded.v"
say "merged: $(wc -l <"$work/merged.v") results; unsharded: $(wc -l <"$work/unsharded.v") results"
say "merged per state/reason: $(jq -r '"\(.[2])/\(.[3])"' "$work/merged.v" | sort | uniq -c | awk '{printf "%s %s; ", $2, $1}')"
if ! cmp -s "$work/merged.v" "$work/unsharded.v"; then
    diff "$work/merged.v" "$work/unsharded.v" | head -n 20
    die "the merged shards differ from the unsharded scan"
fi
# And both are the ground truth: every pair once, each port as the testbed answers.
expect=$(for p in 22 80; do echo "$p open syn-ack"; done
    echo "443 closed rst"; echo "8080 filtered no-response"; echo "8443 filtered icmp-port-unreachable")
got=$(jq -r '"\(.[1]) \(.[2]) \(.[3])"' "$work/merged.v" | sort | uniq -c | awk '{print $2, $3, $4, $1}')
want=$(echo "$expect" | awk -v n="$hosts" '{print $0, n}' | sort)
if [ "$(echo "$got" | sort)" != "$want" ]; then
    echo "got:"; echo "$got"; echo "want:"; echo "$want"
    die "the results are not the testbed's ground truth"
fi
say "identical: $shards Slurm array tasks + merge == unsharded scan == ground truth ($((hosts * 5)) pairs)"
