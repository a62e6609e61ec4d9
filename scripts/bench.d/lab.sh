#!/usr/bin/env bash
# scripts/bench lab [all|up|standby|crash] - the lab's timings (printed, never asserted).
#
#   up        scripts/lab down, then up from nothing (RUNS times), and up on a running lab
#   standby   `crm node standby <group node>` (over ssh) -> group on the other node
#   crash     `scripts/lab crash <group node>` -> survivor sees it offline -> group on survivor;
#             then `boot` -> healthy again (DRBD resynced)
#
# Each failover is timed twice from the moment the action is issued: "pacemaker" is the first
# in-node crm_mon poll (every 0.2 s, scripts/lab wait) that shows the result, "ssh" is the first
# `ssh NODE crm_mon --output-as=xml` from the host (what a client such as the core does, one
# poll after another) that shows it. RUNS=3 by default. Leaves the default lab up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
LAB=scripts/lab
RUNS=${RUNS:-3}
what=${1:-all}
PY=/usr/bin/python3

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
row() { printf '%-44s %s\n' "$1" "$2"; }

# seconds from $1 until an ssh crm_mon on node $2 satisfies `group-on NODE` / `offline NODE`
CHECK_PY='
import sys
sys.path.insert(0, "lab")
import lab_state
crm = lab_state.parse_crm("x", sys.stdin.read())
cond, arg = sys.argv[1:3]
ok = crm is not None and (crm.group_on(arg) if cond == "group-on" else arg not in crm.online)
sys.exit(0 if ok else 1)
'
ssh_seen() {
    local t0=$1 via=$2 cond=$3 arg=$4 xml i
    for i in $(seq 300); do
        if xml=$(ssh -F lab/keys/ssh_config -o ConnectTimeout=2 "$via" crm_mon --output-as=xml 2>/dev/null) &&
            "$PY" -c "$CHECK_PY" "$cond" "$arg" <<<"$xml"; then
            since "$t0"; return 0
        fi
        sleep 0.1
    done
    echo "timeout"
}
group_node() { $LAB state --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["crm"]["group_node"])'; }
other() { (eval "$($LAB env)"; for n in $HALAB_NODES; do [[ $n != "$1" ]] && { echo "$n"; break; }; done); }
healthy() { $LAB wait healthy --timeout 180 >/dev/null; }

bench_up() {
    local i t
    echo "== up (2 nodes, DRBD simulator, application stand-in)"
    for i in $(seq "$RUNS"); do
        $LAB down >/dev/null 2>&1
        t=$(now)
        $LAB up >/dev/null 2>&1
        row "up from nothing, run $i" "$(since "$t") s"
    done
    t=$(now); $LAB up >/dev/null 2>&1
    row "up on a running lab (idempotent)" "$(since "$t") s"
}

# run an action in the background at t0, time the in-node and the ssh view of COND ARG on VIA
timed() {   # timed VIA COND ARG -- ACTION...
    local via=$1 cond=$2 arg=$3 t0 tmp pm ss; shift 4
    tmp=$(mktemp)
    t0=$(now)
    "$@" >/dev/null 2>&1 &
    local apid=$!
    ssh_seen "$t0" "$via" "$cond" "$arg" >"$tmp" &
    local spid=$!
    $LAB wait "$cond" "$arg" --on "$via" --timeout 120 >/dev/null && pm=$(since "$t0") || pm=timeout
    wait "$apid" || true; wait "$spid" || true
    ss=$(<"$tmp"); rm -f "$tmp"
    echo "pacemaker $pm s, ssh $ss s"
}

bench_standby() {
    local i src dst t
    echo "== standby failover (crm node standby over ssh)"
    $LAB up >/dev/null 2>&1
    for i in $(seq "$RUNS"); do
        healthy
        src=$(group_node); dst=$(other "$src")
        row "run $i: standby $src, group on $dst" \
            "$(timed "$dst" group-on "$dst" -- ssh -F lab/keys/ssh_config "$dst" crm node standby "$src")"
        t=$(now)
        ssh -F lab/keys/ssh_config "$dst" crm node online "$src" >/dev/null 2>&1
        healthy
        row "        crm node online -> healthy" "$(since "$t") s"
    done
}

bench_crash() {
    local i src dst t
    echo "== crash failover (power-off of the group's node)"
    $LAB up >/dev/null 2>&1
    for i in $(seq "$RUNS"); do
        healthy
        src=$(group_node); dst=$(other "$src")
        row "run $i: crash $src, $dst sees it offline" "$(timed "$dst" offline "$src" -- $LAB crash "$src")"
        t=$(now)
        $LAB wait group-on "$dst" --on "$dst" --timeout 120 >/dev/null
        row "        then group on $dst after" "+$(since "$t") s"
        t=$(now)
        $LAB boot "$src" >/dev/null 2>&1
        healthy
        row "        boot -> healthy (DRBD resynced)" "$(since "$t") s"
    done
}

bench_crash_group() {
    local i src dst
    echo "== crash failover, time until the group runs on the survivor"
    $LAB up >/dev/null 2>&1
    for i in $(seq "$RUNS"); do
        healthy
        src=$(group_node); dst=$(other "$src")
        row "run $i: crash $src, group on $dst" "$(timed "$dst" group-on "$dst" -- $LAB crash "$src")"
        $LAB boot "$src" >/dev/null 2>&1
    done
    healthy
}

echo "lab timings, $(nproc) CPUs, RUNS=$RUNS, corosync token $(sed -n 's/^TOKEN=//p' /var/lib/halab/settings 2>/dev/null || echo default)"
case $what in
    up) bench_up ;;
    standby) bench_standby ;;
    crash) bench_crash; bench_crash_group ;;
    all) bench_up; bench_standby; bench_crash; bench_crash_group ;;
    *) echo "usage: scripts/bench lab [all|up|standby|crash]" >&2; exit 2 ;;
esac
