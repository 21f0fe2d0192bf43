#!/usr/bin/env bash
# HTTP side by side: wrk against the hyper hello-world on corenet (examples-eco's
# http_hello, io_uring and compat backends, through the tokio I/O adapters) and the same hyper
# service on tokio's current-thread runtime (http_hello_tokio), one pinned core each.
#
# usage: scripts/bench-http.sh [options]
#   --rounds N         rounds (default 3); the servers' order rotates from round to round
#   --duration SECS    wrk's window per run (default 5)
#   --conns N          wrk's connections (default 50; one wrk thread)
#   --server-cpu N     CPU the servers are pinned to (default 0)
#   --client-cpu N     CPU wrk is pinned to (default 1)
#   --no-build         use the binaries already built
#
# Prints one Markdown table (median req/s with min-max over the rounds, the server's CPU share
# and req/s per busy server core, median p50/p99 latency, req/s and req/s per core relative to
# tokio), which scripts/bench.sh appends to its report. Needs wrk
# (Debian's package) and taskset; loopback only. Fails if any run saw an error or a non-2xx.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3 DURATION=5 CONNS=50 SERVER_CPU=0 CLIENT_CPU=1 BUILD=1
BIN=$ROOT/target/release/examples
die() { echo "bench-http: $*" >&2; exit 2; }
say() { echo "bench-http: $*" >&2; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --conns) CONNS=$2; shift 2 ;;
        --server-cpu) SERVER_CPU=$2; shift 2 ;;
        --client-cpu) CLIENT_CPU=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"
command -v taskset >/dev/null || die "taskset is needed"
if ((BUILD)); then
    say "building http_hello and http_hello_tokio (release)"
    (cd "$ROOT" && cargo build --release --quiet -p corenet-examples \
        --example http_hello --example http_hello_tokio) || die "build failed"
fi

declare -A CMD=(
    [corenet-uring]="$BIN/http_hello --addr 127.0.0.1:0 --cores 1 --backend uring"
    [corenet-compat]="$BIN/http_hello --addr 127.0.0.1:0 --cores 1 --backend compat"
    [tokio]="$BIN/http_hello_tokio --addr 127.0.0.1:0"
)
ORDER=(corenet-uring corenet-compat tokio)

TMP=$(mktemp -d)
SERVER_PID=''
MAIN=$BASHPID
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    [[ $BASHPID == "$MAIN" ]] || return 0
    set +e
    [[ -n $SERVER_PID ]] && kill -9 "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT

HZ=$(getconf CLK_TCK)
# CPU time (user + system, all threads) the server has used, in clock ticks.
server_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# wrk prints one machine-readable line at the end: req/s, p50 and p99 in µs, errors, non-2xx.
cat >"$TMP/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.1f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

: >"$TMP/results"
failed=0
for ((round = 1; round <= ROUNDS; round++)); do
    n=${#ORDER[@]}
    for ((i = 0; i < n; i++)); do
        peer=${ORDER[$(((i + round - 1) % n))]}
        : >"$TMP/server.log"
        # shellcheck disable=SC2086  # the command line is split on spaces on purpose
        taskset -c "$SERVER_CPU" ${CMD[$peer]} >>"$TMP/server.log" 2>&1 &
        SERVER_PID=$!
        addr=''
        for ((t = 0; t < 100; t++)); do
            addr=$(sed -n 's/^listening on \([^ ]*\)$/\1/p' "$TMP/server.log" | head -n1)
            [[ -n $addr ]] && break
            sleep 0.1
        done
        if [[ -z $addr ]]; then
            say "round $round $peer: did not start: $(tail -n1 "$TMP/server.log")"
            failed=1
        else
            cpu0=$(server_ticks "$SERVER_PID")
            line=$(timeout $((DURATION + 30)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" \
                -d"${DURATION}s" -s "$TMP/report.lua" "http://$addr/" 2>&1 | grep '^RESULT' || true)
            cpu1=$(server_ticks "$SERVER_PID")
            read -r _ rps p50 p99 errors non2xx <<<"${line:-RESULT 0 0 0 1 0}"
            # The server's CPU share over the window (wrk's start-up and ending included).
            share=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$HZ" -v d="$DURATION" \
                'BEGIN { s = (b - a) / hz / d; printf "%.3f", (s > 0 ? s : 0.001) }')
            say "round $round/$ROUNDS $peer: $rps req/s, server CPU $share, p50 ${p50} us, p99 ${p99} us, $errors errors, $non2xx non-2xx"
            if ((errors > 0 || non2xx > 0)); then failed=1; fi
            echo "$peer $rps $p50 $p99 $share" >>"$TMP/results"
        fi
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=''
    done
done

# Medians over the rounds, one row per server.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v p="$1" -v c="$2" '$1 == p { print $c }' "$TMP/results"; }
tokio_rps=$(col tokio 2 | median)
tokio_per_core=$(awk '$1 == "tokio" { print $2 / $5 }' "$TMP/results" | median)
echo
echo "## HTTP: hyper on corenet and on tokio"
echo
echo "HTTP/1.1 hello-world (hyper 1.x, the same service), wrk -t1 -c$CONNS, ${DURATION}s x $ROUNDS"
echo "round(s), servers interleaved, each pinned to CPU $SERVER_CPU, wrk to CPU $CLIENT_CPU; tokio"
echo "is its current-thread runtime. Medians over the rounds; latency as wrk measures it;"
echo "*per core* = req/s / the server's CPU share (busy cores), the figure that holds up on a"
echo "busy machine."
echo
echo "| server | req/s | min-max | server CPU | req/s per core | p50 | p99 | vs tokio (req/s, per core) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for peer in "${ORDER[@]}"; do
    [[ -n $(col "$peer" 2) ]] || continue
    rps=$(col "$peer" 2 | median)
    lo=$(col "$peer" 2 | sort -n | head -n1)
    hi=$(col "$peer" 2 | sort -n | tail -n1)
    p50=$(col "$peer" 3 | median)
    p99=$(col "$peer" 4 | median)
    share=$(col "$peer" 5 | median)
    per_core=$(awk -v p="$peer" '$1 == p { print $2 / $5 }' "$TMP/results" | median)
    awk -v n="$peer" -v r="$rps" -v lo="$lo" -v hi="$hi" -v a="$p50" -v b="$p99" \
        -v s="$share" -v pc="$per_core" -v t="${tokio_rps:-0}" -v tpc="${tokio_per_core:-0}" \
        'BEGIN { printf "| %s | %.0f | %.0f-%.0f | %.0f%% | %.0f | %.0f us | %.0f us | %s |\n",
                 n, r, lo, hi, 100 * s, pc, a, b,
                 (t > 0 && tpc > 0 ? sprintf("%.2f, %.2f", r / t, pc / tpc) : "-") }'
done
((failed == 0))
