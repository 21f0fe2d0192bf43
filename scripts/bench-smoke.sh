#!/usr/bin/env bash
# CI smoke test of the benchmark tooling: builds corenet-bench and the echo example (release),
# then runs corenet-bench for about 2 s against the echo example on each backend (io_uring and
# compat; 1 core, 50 connections, 64-byte messages, every echoed byte verified), and once more
# on io_uring with 2 cores and 2 load threads (--threads 2), and fails unless each run reports
# zero errors and a non-zero req/s. No peers, no perf, no pinning. Takes about 15 s after the
# build.
#
# usage: scripts/bench-smoke.sh [--no-build]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/target/release/corenet-bench
ECHO=$ROOT/target/release/examples/echo
BUILD=1
[[ ${1:-} == --no-build ]] && BUILD=0

cd "$ROOT"
if ((BUILD)); then
    cargo build --release --quiet -p corenet-bench
    cargo build --release --quiet --example echo
fi

TMP=$(mktemp -d)
SERVER_PID=''
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    set +e
    stop_server
    rm -rf "$TMP"
    exit "$rc"
}
# shellcheck disable=SC2317  # invoked by cleanup and below
stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    # SIGTERM drains open connections for up to 5 s; past 8 s it is killed.
    for ((i = 0; i < 80; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=''
}
trap cleanup EXIT

passed=0 failed=0
# backend:cores and load threads
for run in uring:1 compat:1 uring:2; do
    backend=${run%:*} n=${run#*:}
    : >"$TMP/server.log"
    "$ECHO" --addr 127.0.0.1:0 --cores "$n" --backend "$backend" >"$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    addr=''
    for ((i = 0; i < 100; i++)); do
        addr=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$TMP/server.log" | head -n1)
        [[ -n $addr ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $addr ]]; then
        cat "$TMP/server.log" >&2
        echo "bench-smoke: FAIL $run: the echo server did not start" >&2
        failed=$((failed + 1))
        stop_server
        continue
    fi
    rc=0
    timeout 60 "$BENCH" --addr "$addr" --conns 50 --msg 64 --warmup 0.5 --duration 2 --json \
        --threads "$n" --progress never >"$TMP/client.json" 2>"$TMP/client.err" || rc=$?
    line=$(cat "$TMP/client.json")
    rps=$(sed -n 's/.*"rps":\([0-9.]*\).*/\1/p' <<<"$line")
    errors=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"$line")
    if ((rc == 0)) && [[ $errors == 0 ]] && awk -v r="${rps:-0}" 'BEGIN { exit !(r > 0) }'; then
        echo "bench-smoke: ok $run: $line"
        passed=$((passed + 1))
    else
        cat "$TMP/client.err" >&2
        echo "bench-smoke: FAIL $run (rc $rc): ${line:-no result}" >&2
        failed=$((failed + 1))
    fi
    stop_server
done
echo "bench-smoke: $passed passed, $failed failed"
((failed == 0))
