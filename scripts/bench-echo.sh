#!/usr/bin/env bash
# Benchmarks one echo server with corenet-bench and prints one line of figures.
#
# usage: scripts/bench-echo.sh [options] -- SERVER_COMMAND...
#   --name NAME        label of the output line (default: server)
#   --conns N          connections (default 50)
#   --msg BYTES        message size (default 64)
#   --pipeline N       messages in flight per connection (default 1; open loop: the most)
#   --rate R           open loop at R messages per second in total (default: closed loop)
#   --warmup SECS      warm-up before measuring (default 1)
#   --duration SECS    measured window (default 5)
#   --addr HOST:PORT   address for the client (default: taken from the server's
#                      "listening on <addr>" line)
#   --server-cpu N     CPU the server is pinned to (default 0)
#   --client-cpu N     CPU the client is pinned to (default 1)
#   --bench PATH       corenet-bench binary (default target/release/corenet-bench, built
#                      with cargo if missing)
#   --hgrm FILE        also save the latency distribution there (HdrHistogram .hgrm, us)
#   --json             print one JSON object instead of the text line (same figures plus
#                      p90_us, p999_us, p9999_us, max_us, errors, messages, enters_per_msg,
#                      sqes_per_enter, allocs_per_msg, enters_per_turn, other_cpu,
#                      psi_cpu_some)
#
# example:
#   scripts/bench-echo.sh --name tokio --conns 50 --msg 64 --pipeline 1 --duration 5 -- \
#       benches/peers/target/release/tokio-echo --addr 127.0.0.1:7001
#
# The server command must be the server itself (taskset execs it, so its PID is the one
# measured), already built, and print "listening on <addr>" once it accepts connections.
# While the client measures, `perf stat` counts the server's syscalls (raw_syscalls:sys_enter,
# and io_uring_enter alone; needs root or a permissive perf_event_paranoid) and the server's
# CPU time is read from /proc/PID/stat, whose utime+stime already sum all of its threads,
# exited ones included. other_cpu is what the rest of the machine kept busy meanwhile, in cores
# (all CPUs less /proc/stat's idle time, less the server's and the client's CPU time): above
# ~0.1 something else ran.
# sqes_per_enter is the server's io_uring SQEs (tracepoint io_uring:io_uring_submit_req) per
# io_uring_enter; allocs_per_msg its malloc/calloc/realloc calls per message (perf uprobes on
# libc; null where they cannot be set up). enters_per_turn is corenet's own count of driver
# waits per loop turn, from the "core N stats:" lines the echo example prints when it stops
# (over its whole run; null for other servers).
# psi_cpu_some is the share of the window in which some task waited for a CPU
# (/proc/pressure/cpu); wake-up-heavy runs (the open loop) raise it by themselves.
#
# Output: name, rps, server_cpu (busy server cores), rps_per_core (rps / server_cpu),
# syscalls_per_msg, p50_us, p99_us, client_cpu (% of one core; near 100 means the client,
# not the server, may be the limit).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=server CONNS=50 MSG=64 PIPELINE=1 WARMUP=1 DURATION=5 ADDR='' RATE='' HGRM='' JSON=0
SERVER_CPU=0 CLIENT_CPU=1 BENCH=$ROOT/target/release/corenet-bench

die() { echo "bench-echo: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --name) NAME=$2; shift 2 ;;
        --conns) CONNS=$2; shift 2 ;;
        --msg) MSG=$2; shift 2 ;;
        --pipeline) PIPELINE=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --hgrm) HGRM=$2; shift 2 ;;
        --json) JSON=1; shift ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --addr) ADDR=$2; shift 2 ;;
        --server-cpu) SERVER_CPU=$2; shift 2 ;;
        --client-cpu) CLIENT_CPU=$2; shift 2 ;;
        --bench) BENCH=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ $# -gt 0 ]] || die "no server command after --"

if [[ ! -x $BENCH ]]; then
    (cd "$ROOT" && cargo build --release --quiet -p corenet-bench) || die "cannot build corenet-bench"
fi

TMP=$(mktemp -d)
SERVER_PID='' CLIENT_PID=''
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    set +e
    [[ -n $CLIENT_PID ]] && kill "$CLIENT_PID" 2>/dev/null
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT

# Waits up to $2 seconds for a line matching $1 in file $3 while process $4 lives.
wait_for_line() {
    local pattern=$1 secs=$2 file=$3 pid=$4 i
    for ((i = 0; i < secs * 100; i++)); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}

# shellcheck disable=SC2317  # invoked through bash -c below
# utime+stime of process $1 in clock ticks (fields 14 and 15 of /proc/PID/stat; the command
# name in field 2 may hold spaces, so count from the last ')').
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}
export -f cpu_ticks

# shellcheck disable=SC2317  # invoked through bash -c below
# Idle clock ticks of the whole machine so far (idle + iowait of all CPUs: with a tickless
# kernel these are measured, not sampled, unlike the busy columns).
machine_ticks() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
export -f machine_ticks

# Uprobes on libc's allocator, created once (root; before the run: listing probes is slow);
# without them allocations are not counted.
LIBC=$(ldd "$(command -v "$1" || echo "$1")" 2>/dev/null | awk '/libc\.so/ { print $3; exit }')
ALLOC_EVENTS=()
if [[ -n $LIBC ]]; then
    for f in malloc calloc realloc; do
        /usr/bin/perf probe -q -x "$LIBC" "$f" >/dev/null 2>&1 || true
        /usr/bin/perf probe -l 2>/dev/null | grep -q "probe_libc:$f " && ALLOC_EVENTS+=(-e "probe_libc:$f")
    done
fi

# Starts the server pinned.
taskset -c "$SERVER_CPU" "$@" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
if ! wait_for_line "listening on" 10 "$TMP/server.log" "$SERVER_PID"; then
    cat "$TMP/server.log" >&2
    die "server did not print 'listening on' within 10 s"
fi
if [[ -z $ADDR ]]; then
    ADDR=$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$TMP/server.log" | head -n1)
fi

# Starts the client pinned; it prints "measuring" on stderr when the measured window opens.
EXTRA=()
[[ -n $RATE ]] && EXTRA+=(--rate "$RATE")
[[ -n $HGRM ]] && EXTRA+=(--hgrm "$HGRM")
taskset -c "$CLIENT_CPU" "$BENCH" --addr "$ADDR" --conns "$CONNS" --msg "$MSG" \
    --pipeline "$PIPELINE" --warmup "$WARMUP" --duration "$DURATION" --json --progress never \
    "${EXTRA[@]}" >"$TMP/client.json" 2>"$TMP/client.err" &
CLIENT_PID=$!
WAIT_SECS=$(awk -v w="$WARMUP" 'BEGIN { print int(w) + 15 }')
if ! wait_for_line "measuring" "$WAIT_SECS" "$TMP/client.err" "$CLIENT_PID"; then
    cat "$TMP/client.err" >&2
    die "client did not start measuring"
fi

# Counts the server's syscalls while its CPU time is read at both ends of the same window.
# The window is a little shorter than the client's so that it never runs past the load.
WINDOW=$(awk -v d="$DURATION" 'BEGIN { m = d / 10; if (m > 0.25) m = 0.25; print d - m }')
# Microseconds that some task waited for a CPU, so far ("some" total of /proc/pressure/cpu).
psi_total() { sed -n 's/^some .*total=\([0-9]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null || true; }
PSI0=$(psi_total) PSI_NS0=$(date +%s%N)
# shellcheck disable=SC2016  # $1 and $2 expand in the inner bash
/usr/bin/perf stat -x, -e raw_syscalls:sys_enter -e syscalls:sys_enter_io_uring_enter \
    -e io_uring:io_uring_submit_req "${ALLOC_EVENTS[@]}" \
    -p "$SERVER_PID" -o "$TMP/perf.csv" -- \
    bash -c 'cpu_ticks "$1"; date +%s%N; machine_ticks; sleep "$2"
             cpu_ticks "$1"; date +%s%N; machine_ticks' _ \
    "$SERVER_PID" "$WINDOW" >"$TMP/window" || die "perf stat failed"
PSI1=$(psi_total) PSI_NS1=$(date +%s%N)
# Share of the window in which something waited for a CPU, percent: near 0 on a quiet machine.
PSI=$(awk -v a="${PSI0:-0}" -v b="${PSI1:-0}" -v t0="$PSI_NS0" -v t1="$PSI_NS1" \
    'BEGIN { d = (t1 - t0) / 1e3; printf "%.1f", (d > 0 && b >= a) ? (b - a) / d * 100 : 0 }')

CLIENT_RC=0
wait "$CLIENT_PID" || CLIENT_RC=$?
CLIENT_PID=
kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 5 "$TMP/server.log" >&2; die "the server exited during the run"; }
# (It is stopped on purpose below, once the counters are read.)
[[ -s $TMP/client.json ]] || { cat "$TMP/client.err" >&2; die "client printed no result"; }
[[ $CLIENT_RC -eq 0 ]] || grep -v -e '^corenet-bench: [0-9]* connections' -e 'measuring for' \
    "$TMP/client.err" >&2 || true

# Reads one number from the client's flat JSON line.
json() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" "$TMP/client.json"; }

# One counter from perf's CSV (0 when not counted).
counted() { awk -F, -v e="$1" '$3 == e { print (($1 ~ /^[0-9]+$/) ? $1 : 0) }' "$TMP/perf.csv"; }
SYSCALLS=$(counted raw_syscalls:sys_enter)
ENTERS=$(counted syscalls:sys_enter_io_uring_enter)
SQES=$(counted io_uring:io_uring_submit_req)
ALLOCS=-1
if [[ ${#ALLOC_EVENTS[@]} -gt 0 ]]; then
    ALLOCS=$(( $(counted probe_libc:malloc) + $(counted probe_libc:calloc) + $(counted probe_libc:realloc) ))
fi
# corenet's echo prints its cores' counters when it stops: stop it now (SIGINT: graceful).
kill -INT "$SERVER_PID" 2>/dev/null || true
for _ in $(seq 600); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.01; done
read -r TURNS PARKS < <(awk '/core [0-9]+ stats:/ {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "turns") t += kv[2]; if (kv[1] == "parks") p += kv[2] }
    } END { print t + 0, p + 0 }' "$TMP/server.log")
mapfile -t W <"$TMP/window"   # ticks0, ns0, machine0, ticks1, ns1, machine1
awk -v name="$NAME" -v rps="$(json rps)" -v p50="$(json p50_us)" -v p90="$(json p90_us)" \
    -v p99="$(json p99_us)" -v p999="$(json p999_us)" -v p9999="$(json p9999_us)" \
    -v max="$(json max_us)" -v messages="$(json messages)" -v json="$JSON" \
    -v ccpu="$(json client_cpu)" -v errors="$(json errors)" -v sys="${SYSCALLS:-0}" \
    -v enters="${ENTERS:-0}" -v psi="${PSI:-0}" -v sqes="${SQES:-0}" -v allocs="$ALLOCS" \
    -v turns="${TURNS:-0}" -v parks="${PARKS:-0}" \
    -v t0="${W[0]}" -v n0="${W[1]}" -v m0="${W[2]}" -v t1="${W[3]}" -v n1="${W[4]}" \
    -v m1="${W[5]}" -v hz="$(getconf CLK_TCK)" -v ncpu="$(nproc --all)" '
BEGIN {
    secs = (n1 - n0) / 1e9
    cpu = (t1 - t0) / hz / secs
    per_core = cpu > 0 ? rps / cpu : 0
    per_msg = rps > 0 ? sys / (rps * secs) : 0
    enters_per_msg = rps > 0 ? enters / (rps * secs) : 0
    sqes_per_enter = enters > 0 ? sprintf("%.3f", sqes / enters) : "null"
    allocs_per_msg = (allocs >= 0 && rps > 0) ? sprintf("%.5f", allocs / (rps * secs)) : "null"
    enters_per_turn = turns > 0 ? sprintf("%.3f", parks / turns) : "null"
    # Busy cores of the whole machine that were neither the server nor the client.
    other = ncpu - (m1 - m0) / hz / secs - cpu - ccpu / 100
    if (json) {
        printf "{\"name\":\"%s\",\"rps\":%.1f,\"server_cpu\":%.4f,\"rps_per_core\":%.1f,", name, rps, cpu, per_core
        printf "\"syscalls_per_msg\":%.4f,\"enters_per_msg\":%.4f,", per_msg, enters_per_msg
        printf "\"sqes_per_enter\":%s,\"allocs_per_msg\":%s,\"enters_per_turn\":%s,", sqes_per_enter, allocs_per_msg, enters_per_turn
        printf "\"p50_us\":%s,\"p90_us\":%s,\"p99_us\":%s,\"p999_us\":%s,\"p9999_us\":%s,\"max_us\":%s,", p50, p90, p99, p999, p9999, max
        printf "\"errors\":%d,\"client_cpu\":%s,\"messages\":%d,\"other_cpu\":%.2f,\"psi_cpu_some\":%s}\n", errors, ccpu, messages, other, psi
    } else {
        printf "%s rps=%.0f server_cpu=%.2f rps_per_core=%.0f syscalls_per_msg=%.2f p50_us=%.1f p99_us=%.1f client_cpu=%.1f%%%s\n",
            name, rps, cpu, per_core, per_msg, p50, p99, ccpu, (errors > 0 ? " errors=" errors : "")
    }
}'
if awk -v c="$(json client_cpu)" 'BEGIN { exit !(c >= 90) }'; then
    echo "bench-echo: warning: client CPU at $(json client_cpu)%, the client may be the bottleneck" >&2
fi
exit "$CLIENT_RC"
