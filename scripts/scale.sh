#!/usr/bin/env bash
# Multi-core scaling of the echo server: corenet on N cores (N = 1 2 4 8 by default) under
# one corenet-bench process with N load threads (one per server core, --clients to change),
# each thread pinned to its own CPU (--pin). Prints, per N: total req/s, busy server cores
# (CPU time / wall time), req/s per busy server core, and the p99 over every message of the
# run (one merged histogram). Needs >= 2*max(N) CPUs for clean figures.
#
# usage: scripts/scale.sh [--cores "1 2 4 8"] [--clients K] [--conns C] [--msg M]
#                         [--pipeline P] [--duration S] [--backend uring|compat]
#                         [--echo PATH] [--bench PATH]
# Binaries default to target/release/examples/echo and target/release/corenet-bench
# (build them with `cargo build --release --example echo -p corenet && cargo build
# --release -p corenet-bench`).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORES="1 2 4 8" CLIENTS='' CONNS=50 MSG=64 PIPELINE=1 DURATION=4 BACKEND=uring
ECHO=$ROOT/target/release/examples/echo BENCH=$ROOT/target/release/corenet-bench
while [[ $# -gt 0 ]]; do
    case $1 in
        --cores) CORES=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --conns) CONNS=$2; shift 2 ;;
        --msg) MSG=$2; shift 2 ;;
        --pipeline) PIPELINE=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --backend) BACKEND=$2; shift 2 ;;
        --echo) ECHO=$2; shift 2 ;;
        --bench) BENCH=$2; shift 2 ;;
        *) echo "scale.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
NCPU=$(nproc)
echo "# $(uname -r), $NCPU CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# conns/client thread=$CONNS msg=$MSG pipeline=$PIPELINE duration=${DURATION}s backend=$BACKEND"
printf '%-6s %-8s %12s %12s %14s %10s\n' cores clients rps server_cpu rps_per_core p99_us
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
for n in $CORES; do
    k=${CLIENTS:-$n}
    (( n + k <= NCPU )) || { echo "# $n cores + $k clients > $NCPU CPUs: skipped" >&2; continue; }
    (( k > 0 )) || { echo "no CPU left for clients at $n cores" >&2; continue; }
    port=$((7600 + n))
    log=$(mktemp)
    taskset -c "0-$((n - 1))" "$ECHO" --addr "127.0.0.1:$port" --cores "$n" --backend "$BACKEND" \
        2>"$log" >"$log.out" &
    spid=$!
    for _ in $(seq 100); do grep -q "listening on" "$log.out" "$log" 2>/dev/null && break; sleep 0.1; done
    # Client thread c on CPU n + c (wrapping over the CPUs the server does not use).
    pin=$(for c in $(seq 0 $((k - 1))); do echo $((n + c % (NCPU - n))); done | paste -sd,)
    out=$(mktemp)
    "$BENCH" --addr "127.0.0.1:$port" --threads "$k" --pin "$pin" --conns $((CONNS * k)) \
        --msg "$MSG" --pipeline "$PIPELINE" --warmup 1 --duration "$DURATION" --json \
        --progress never >"$out" 2>/dev/null &
    cpid=$!
    sleep 1 # the client's warm-up
    t0=$(cpu_ticks $spid); w0=$(date +%s.%N)
    wait $cpid 2>/dev/null || true
    t1=$(cpu_ticks $spid); w1=$(date +%s.%N)
    kill -INT $spid 2>/dev/null; wait $spid 2>/dev/null || true
    python3 - "$n" "$k" "$t0" "$t1" "$w0" "$w1" "$ticks" "$out" <<'PY' || true
import json, sys
n, k, t0, t1, w0, w1, ticks, out = sys.argv[1:9]
lines = open(out).read().strip().splitlines()
if not lines:
    sys.exit(f"# {n} cores: corenet-bench printed no result")
r = json.loads(lines[-1])
cpu = (float(t1) - float(t0)) / float(ticks) / (float(w1) - float(w0))
print(f"{n:<6} {k:<8} {r['rps']:12.0f} {cpu:12.2f} {r['rps'] / max(cpu, 1e-9):14.0f} {r['p99_us']:10.0f}")
PY
    grep -i "backend\|io_uring" "$log" | head -2 | sed 's/^/#   /' || true
    rm -f "$log" "$log.out" "$out"
done
