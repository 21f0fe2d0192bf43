#!/usr/bin/env bash
# A/B comparison of two builds of the echo example, for machines without perf (such as the
# lent 16-CPU machine): each run pins the server to CPU 0 and corenet-bench to CPU 1, reads
# the server's CPU time over the measured window from /proc, and its loop counters from the
# "core N stats:" lines it prints when stopped. Builds alternate within each round.
#
# usage: scripts/ab-echo.sh ECHO_A ECHO_B [ROUNDS] [BENCH]
#   (BENCH defaults to target/release/corenet-bench). ECHO_A and ECHO_B may carry arguments
#   ("path/to/echo --backend compat"); CELLS replaces the default cells with a semicolon-
#   separated list of corenet-bench arguments, e.g.
#   CELLS="--conns 1 --msg 4096 --pipeline 16;--conns 5000 --msg 64 --pipeline 1"
#   A peer runs through a wrapper that execs it (its CPU time is read from its pid), e.g.
#   printf '#!/bin/sh\nexec benches/peers/target/release/tokio-echo --addr "$2"\n' > /tmp/tokio.sh
# Prints per run: req/s, server CPU share, req/s per busy core, CPU microseconds per message,
# p50/p99, driver waits (parks) per message (approximate: whole run / measured messages x 4/3)
# and per loop turn, and the client's CPU (near 100%: the client is the limit).
set -euo pipefail
[[ $# -ge 2 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
A=$1 B=$2 ROUNDS=${3:-2} BENCH=${4:-target/release/corenet-bench}
T=$(getconf CLK_TCK)
run() { # label binary bench-args...
    local name=$1 bin=$2; shift 2
    # shellcheck disable=SC2086  # the binary may carry its arguments
    taskset -c 0 $bin --addr 127.0.0.1:7931 --cores 1 >/dev/null 2>/tmp/ab-srv.err &
    local sp=$!
    sleep 0.4
    taskset -c 1 "$BENCH" --addr 127.0.0.1:7931 --warmup 1 --duration 3 --json --progress never \
        "$@" >/tmp/ab-out.json 2>/dev/null &
    local bp=$!
    sleep 1.05
    local a w0 b w1
    a=$(awk '{print $14+$15}' "/proc/$sp/stat"); w0=$(date +%s.%N)
    sleep 2.8
    b=$(awk '{print $14+$15}' "/proc/$sp/stat"); w1=$(date +%s.%N)
    wait "$bp"; kill -INT "$sp"
    # The peers (benches/peers) ignore SIGINT: give the server 2 s to print its stats, then kill.
    for _ in $(seq 20); do kill -0 "$sp" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$sp" 2>/dev/null || true; wait "$sp" 2>/dev/null || true
    python3 - "$name" "$*" "$a" "$b" "$w0" "$w1" "$T" <<'PY'
import json, re, sys
name, args, a, b, w0, w1, hz = sys.argv[1:]
r = json.load(open('/tmp/ab-out.json'))
cpu = (float(b) - float(a)) / float(hz) / (float(w1) - float(w0))
err = open('/tmp/ab-srv.err').read()
parks = sum(int(x) for x in re.findall(r'parks=(\d+)', err))
turns = sum(int(x) for x in re.findall(r'turns=(\d+)', err))
msgs = r['rps'] * 4.0
print(f"{name:2} {args:34} rps={r['rps']:9.0f} cpu={cpu:.3f} per_core={r['rps'] / max(cpu, 1e-9):9.0f} "
      f"us_cpu/msg={cpu * 1e6 / max(r['rps'], 1):6.2f} p50={r['p50_us']:7.1f} p99={r['p99_us']:8.1f} "
      f"parks/msg~{parks / max(msgs, 1):.3f} parks/turn={parks / max(turns, 1):.2f} client={r['client_cpu']}%")
PY
}
IFS=';' read -ra CELL_LIST <<< "${CELLS:---conns 50 --msg 64 --pipeline 1;--conns 50 --msg 64 --rate 20000;--conns 50 --msg 64 --pipeline 16;--conns 500 --msg 64 --pipeline 1}"
for _ in $(seq "$ROUNDS"); do
    for cell in "${CELL_LIST[@]}"; do
        # shellcheck disable=SC2086  # the cell is a list of arguments
        run A "$A" $cell
        # shellcheck disable=SC2086
        run B "$B" $cell
    done
done
