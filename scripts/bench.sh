#!/usr/bin/env bash
# The side-by-side echo benchmark: corenet (io_uring and compat backends) against tokio,
# monoio, glommio, a raw io_uring loop and Node.js, on one pinned core each.
#
# usage: scripts/bench.sh [options]
#   --quick            5 cells, 1 round, short windows: under 2 minutes once built
#   --rounds N         rounds (default 3; --quick: 1)
#   --warmup SECS      warm-up of each run (default 1; --quick: 0.5)
#   --duration SECS    measured window of each run (default 3; --quick: 1)
#   --rate R           total req/s of the open-loop cell (default 20000)
#   --cells LIST       comma-separated cells instead of the matrix: CONNSxMSGxPIPELINE for the
#                      closed loop, CONNSxMSG@RATE for the open loop (e.g. 5000x64x1,50x64@20000)
#   --peers LIST       comma-separated subset of: corenet-uring, corenet-compat, tokio,
#                      monoio, glommio, uring-raw, node (default: all that are available)
#   --out DIR          where results go (default target/bench)
#   --server-cpu N     CPU the servers are pinned to (default 0)
#   --client-cpu N     CPU corenet-bench is pinned to (default 1)
#   --no-build         use the binaries already built
#   --no-http          skip the HTTP comparison (scripts/bench-http.sh: wrk against hyper on
#                      corenet and on tokio's current-thread runtime), which otherwise follows
#                      the echo matrix when wrk is installed and is appended to report.md
#
# Matrix: connections {1, 50, 500, 5000} x message {64, 4096} B x pipeline {1, 16}, closed
# loop, plus one open-loop cell (50 connections x 64 B at --rate req/s, latency from each
# message's scheduled send time). Within a round every cell runs every peer in turn (the
# peers' order rotates from round to round), each on a fresh server and port, through
# scripts/bench-echo.sh (server pinned to one CPU, load generator to the other; req/s,
# server CPU share, syscalls per message via perf, latency percentiles, client CPU).
#
# Writes DIR/results.json (machine, config, every run, per-cell medians and min-max),
# DIR/report.md (one Markdown table), DIR/rps_per_core.svg, DIR/latency.svg and
# DIR/hgrm/*.hgrm (each run's latency distribution), and prints report.md.
#
# The machine should be otherwise idle: its CPU use is checked for a second before each round
# and a busy machine is warned about (and recorded), and so is each run during which something
# else kept more than a quarter of a core busy (other_cpu: /proc/stat less server and client). Needs perf (root or a permissive
# perf_event_paranoid) and taskset; `node` is optional.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0 ROUNDS='' WARMUP='' DURATION='' RATE=20000 PEERS_WANTED='' CELLS_WANTED=''
OUT=$ROOT/target/bench
SERVER_CPU=0 CLIENT_CPU=1 BUILD=1 HTTP=1
PEER_BIN=$ROOT/benches/peers/target/release
BENCH=$ROOT/target/release/corenet-bench
ECHO=$ROOT/target/release/examples/echo
BUSY=0.25     # cores kept busy by something else than the server and client: a busy machine

die() { echo "bench: $*" >&2; exit 2; }
say() { echo "bench: $*" >&2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) QUICK=1; shift ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --warmup) WARMUP=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --peers) PEERS_WANTED=$2; shift 2 ;;
        --cells) CELLS_WANTED=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --server-cpu) SERVER_CPU=$2; shift 2 ;;
        --client-cpu) CLIENT_CPU=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-http) HTTP=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

# Cells: "conns msg pipeline rate" (rate 0: closed loop).
CELLS=()
if ((QUICK)); then
    : "${ROUNDS:=1}" "${WARMUP:=0.5}" "${DURATION:=1}"
    CELLS=("50 64 1 0" "50 64 16 0" "500 64 1 0" "50 4096 1 0" "50 64 1 $RATE")
else
    : "${ROUNDS:=3}" "${WARMUP:=1}" "${DURATION:=3}"
    for c in 1 50 500 5000; do
        for m in 64 4096; do
            for p in 1 16; do CELLS+=("$c $m $p 0"); done
        done
    done
    CELLS+=("50 64 1 $RATE")
fi
if [[ -n $CELLS_WANTED ]]; then
    IFS=, read -r -a WANTED <<<"$CELLS_WANTED"
    CELLS=()
    for w in "${WANTED[@]}"; do
        if [[ $w =~ ^([0-9]+)x([0-9]+)x([0-9]+)$ ]]; then
            CELLS+=("${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[3]} 0")
        elif [[ $w =~ ^([0-9]+)x([0-9]+)@([0-9]+)$ ]]; then
            CELLS+=("${BASH_REMATCH[1]} ${BASH_REMATCH[2]} 1 ${BASH_REMATCH[3]}")
        else
            die "bad cell $w (CONNSxMSGxPIPELINE or CONNSxMSG@RATE)"
        fi
    done
fi

# ---- build ----------------------------------------------------------------------------------
BUILT_PEERS=()
if ((BUILD)); then
    say "building corenet-bench and the echo example (release)"
    (cd "$ROOT" && cargo build --release --quiet -p corenet-bench && cargo build --release --quiet --example echo) ||
        die "build failed"
    for bin in tokio-echo monoio-echo glommio-echo uring-echo; do
        say "building peer $bin (release)"
        if (cd "$ROOT/benches/peers" && cargo build --release --quiet --bin "$bin"); then
            BUILT_PEERS+=("$bin")
        else
            say "warning: peer $bin does not build; left out"
        fi
    done
else
    for bin in tokio-echo monoio-echo glommio-echo uring-echo; do
        [[ -x $PEER_BIN/$bin ]] && BUILT_PEERS+=("$bin")
    done
fi
[[ -x $BENCH && -x $ECHO ]] || die "missing $BENCH or $ECHO (run without --no-build)"

# Peer name -> command line (PORT is replaced by the run's port).
declare -A CMD=(
    [corenet-uring]="$ECHO --addr 127.0.0.1:PORT --cores 1 --backend uring"
    [corenet-compat]="$ECHO --addr 127.0.0.1:PORT --cores 1 --backend compat"
)
ORDER=(corenet-uring corenet-compat)
for pair in tokio:tokio-echo monoio:monoio-echo glommio:glommio-echo uring-raw:uring-echo; do
    name=${pair%%:*} bin=${pair#*:}
    if [[ " ${BUILT_PEERS[*]} " == *" $bin "* && -x $PEER_BIN/$bin ]]; then
        CMD[$name]="$PEER_BIN/$bin --addr 127.0.0.1:PORT"
        ORDER+=("$name")
    fi
done
if command -v node >/dev/null; then
    # node itself is the server process (taskset execs it): its PID is the one measured.
    CMD[node]="$(command -v node) $ROOT/benches/peers/node-echo.js --addr 127.0.0.1:PORT"
    ORDER+=(node)
else
    say "node is not on PATH: the Node.js peer is left out"
fi
if [[ -n $PEERS_WANTED ]]; then
    IFS=, read -r -a WANTED <<<"$PEERS_WANTED"
    ORDER=()
    for p in "${WANTED[@]}"; do
        [[ -n ${CMD[$p]:-} ]] || die "peer $p is unknown or unavailable"
        ORDER+=("$p")
    done
fi

# ---- environment ----------------------------------------------------------------------------
# 5000 connections need as many descriptors in the client and in each server.
HARD=$(ulimit -Hn)
WANT_FDS=20000
if [[ $HARD != unlimited ]] && ((HARD < WANT_FDS)); then WANT_FDS=$HARD; fi
ulimit -Sn "$WANT_FDS" 2>/dev/null || say "warning: cannot raise the descriptor limit to $WANT_FDS"
NOFILE=$(ulimit -Sn)
CELLS_OK=()
for cell in "${CELLS[@]}"; do
    read -r c _ <<<"$cell"
    if [[ $NOFILE != unlimited ]] && ((c + 100 > NOFILE)); then
        say "warning: cell $cell needs more than the $NOFILE descriptors allowed; left out"
    else
        CELLS_OK+=("$cell")
    fi
done
CELLS=("${CELLS_OK[@]}")
[[ -r /proc/pressure/cpu ]] || say "warning: no /proc/pressure/cpu: machine load is not checked"
command -v perf >/dev/null || die "perf is needed (syscall counts)"

# JSON string escaping for the few strings written here.
jstr() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/ }
    s=${s//$'\n'/ }
    printf '"%s"' "$s"
}
psi_some() { sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null || echo 0; }
idle_ticks() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
# Cores kept busy over one second while nothing of ours runs (idle time is measured, not
# sampled, on a tickless kernel).
machine_busy() {
    local i0 i1
    i0=$(idle_ticks)
    sleep 1
    i1=$(idle_ticks)
    awk -v a="$i0" -v b="$i1" -v n="$(nproc --all)" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.2f", n - (b - a) / hz }'
}

mkdir -p "$OUT/hgrm"
rm -f "$OUT"/hgrm/*.hgrm
RUNS=$OUT/runs.jsonl FAILS=$OUT/failures.jsonl WARNS=$OUT/warnings.jsonl
: >"$RUNS"; : >"$FAILS"; : >"$WARNS"
warn() { say "warning: $*"; jstr "$*" >>"$WARNS"; echo >>"$WARNS"; }

VULNS=''
for f in /sys/devices/system/cpu/vulnerabilities/*; do
    [[ -r $f ]] || continue
    VULNS+="${VULNS:+,}$(jstr "$(basename "$f")"):$(jstr "$(<"$f")")"
done
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
MACHINE="{\"date\":$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)"),\"kernel\":$(jstr "$(uname -r)"),\
\"cpu\":$(jstr "${CPU_MODEL:-unknown}"),\"cpus\":$(nproc),\"vulnerabilities\":{$VULNS},\
\"node\":$(jstr "$(node --version 2>/dev/null || echo none)"),\
\"rustc\":$(jstr "$(rustc --version 2>/dev/null || echo unknown)")}"

say "peers: ${ORDER[*]}"
say "${#CELLS[@]} cells x ${#ORDER[@]} peers x $ROUNDS round(s); warm-up ${WARMUP}s, window ${DURATION}s"

# ---- runs -----------------------------------------------------------------------------------
PORT=$((20000 + RANDOM % 10000))
next_port() {
    # A fresh port per server start, skipping ports something already listens on.
    while :; do
        PORT=$((PORT + 1))
        ((PORT > 60000)) && PORT=20001
        ss -Htln "sport = :$PORT" 2>/dev/null | grep -q . || return 0
    done
}

STARTED=$SECONDS BUSY_RUNS=0 ALL_RUNS=0
for ((round = 1; round <= ROUNDS; round++)); do
    busy=$(machine_busy)
    if awk -v b="$busy" -v t="$BUSY" 'BEGIN { exit !(b > t) }'; then
        warn "round $round: the machine is busy before the round ($busy cores in use, cpu pressure avg10 $(psi_some)%); figures will be low and noisy"
    fi
    # Rotate the peers' order each round so that no peer always runs first or last.
    n=${#ORDER[@]}
    ROT=()
    for ((i = 0; i < n; i++)); do ROT+=("${ORDER[$(((i + round - 1) % n))]}"); done
    for cell in "${CELLS[@]}"; do
        read -r c m p r <<<"$cell"
        label="${c}x${m}x${p}"
        ((r > 0)) && label="${c}x${m}@${r}"
        for peer in "${ROT[@]}"; do
            next_port
            # shellcheck disable=SC2206  # the command line is split on spaces on purpose
            cmd=(${CMD[$peer]//PORT/$PORT})
            args=(--name "$peer" --json --conns "$c" --msg "$m" --pipeline "$p"
                --warmup "$WARMUP" --duration "$DURATION" --server-cpu "$SERVER_CPU"
                --client-cpu "$CLIENT_CPU" --bench "$BENCH"
                --hgrm "$OUT/hgrm/$peer-$label-r$round.hgrm")
            ((r > 0)) && args+=(--rate "$r")
            say "round $round/$ROUNDS  $label  $peer  (port $PORT, $((SECONDS - STARTED)) s)"
            ALL_RUNS=$((ALL_RUNS + 1))
            rc=0
            line=$("$ROOT/scripts/bench-echo.sh" "${args[@]}" -- "${cmd[@]}" 2>"$OUT/last.err") || rc=$?
            line=$(grep '^{' <<<"$line" | tail -n1 || true)
            if [[ -n $line ]]; then
                prefix="{\"peer\":$(jstr "$peer"),\"round\":$round,\"conns\":$c,\"msg\":$m,\"pipeline\":$p,\"rate\":$r,"
                echo "$prefix${line#"{\"name\":\"$peer\","}" >>"$RUNS"
                ((rc == 0)) || say "  $peer reported errors (rc $rc): $(grep -m1 'error' "$OUT/last.err" || true)"
                other=$(sed -n 's/.*"other_cpu":\([-0-9.]*\).*/\1/p' <<<"$line")
                if awk -v o="${other:-0}" -v t="$BUSY" 'BEGIN { exit !(o > t) }'; then
                    BUSY_RUNS=$((BUSY_RUNS + 1))
                    say "  the machine was busy during this run (others used $other cores)"
                fi
            else
                why=$(grep -v -e '^corenet-bench: [0-9]* connections' -e 'measuring for' "$OUT/last.err" | tail -n1)
                say "  $peer failed: ${why:-exit $rc}"
                echo "{\"peer\":$(jstr "$peer"),\"cell\":$(jstr "$label"),\"round\":$round,\"why\":$(jstr "${why:-exit $rc}")}" >>"$FAILS"
            fi
        done
    done
done
rm -f "$OUT/last.err"
((BUSY_RUNS == 0)) || warn "during $BUSY_RUNS of $ALL_RUNS runs something else used more than $BUSY cores: rerun those on a quiet machine"

# ---- results and report ---------------------------------------------------------------------
join_lines() { paste -sd, "$1"; }
PEERS_JSON=$(for p in "${ORDER[@]}"; do jstr "$p"; echo; done | paste -sd,)
{
    echo "{\"machine\":$MACHINE,"
    echo "\"config\":{\"quick\":$( ((QUICK)) && echo true || echo false),\"rounds\":$ROUNDS,\"warmup\":$WARMUP,\"duration\":$DURATION,\"rate\":$RATE,\"server_cpu\":$SERVER_CPU,\"client_cpu\":$CLIENT_CPU,\"nofile\":\"$NOFILE\",\"peers\":[$PEERS_JSON],\"seconds\":$((SECONDS - STARTED))},"
    echo "\"warnings\":[$(join_lines "$WARNS")],"
    echo "\"failures\":[$(join_lines "$FAILS")],"
    echo "\"runs\":[$(join_lines "$RUNS")]}"
} >"$OUT/results.json"
rm -f "$RUNS" "$FAILS" "$WARNS"
"$BENCH" report "$OUT/results.json"
if ((HTTP)) && command -v wrk >/dev/null; then
    say "HTTP: wrk against hyper on corenet and on tokio (scripts/bench-http.sh)"
    http_args=(--rounds "$ROUNDS" --duration "$DURATION" --server-cpu "$SERVER_CPU"
        --client-cpu "$CLIENT_CPU")
    ((BUILD)) || http_args+=(--no-build)
    "$ROOT/scripts/bench-http.sh" "${http_args[@]}" >>"$OUT/report.md" ||
        say "warning: the HTTP comparison failed (scripts/bench-http.sh)"
elif ((HTTP)); then
    say "wrk is not installed: the HTTP comparison is left out (apt-get install wrk)"
fi
cat "$OUT/report.md"
say "done in $((SECONDS - STARTED)) s: $OUT/results.json, report.md, rps_per_core.svg, latency.svg"
