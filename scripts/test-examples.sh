#!/usr/bin/env bash
# CI test of the ecosystem examples (the corenet-examples crate) against real clients, on
# both backends, loopback only, every step bounded in time:
#   http_hello   curl: three URLs over one kept-alive connection; three pipelined requests
#                sent in one write (bash's /dev/tcp), three answers in order; SIGTERM exits 0
#   tls_echo     openssl s_client: TLS 1.3 and 1.2 handshakes verified against the
#                certificate the server wrote, the echo checked; SIGTERM exits 0
#   tokio_bridge the tokio client's answer, called from a corenet task
# Installs curl and openssl with apt-get if they are missing. Builds the examples (debug,
# sharing the test build) unless --no-build. Takes about 15 s after the build.
#
# usage: scripts/test-examples.sh [--no-build]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/target/debug/examples
BUILD=1
[[ ${1:-} == --no-build ]] && BUILD=0
cd "$ROOT"

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
    echo "test-examples: installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ((BUILD)); then
    cargo build --quiet -p corenet-examples --examples
fi

TMP=$(mktemp -d)
SERVER_PID=''
MAIN=$BASHPID
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    # Only the script itself cleans up, never a subshell that inherited the trap.
    [[ $BASHPID == "$MAIN" ]] || return 0
    set +e
    if [[ -n $SERVER_PID ]]; then
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT

passed=0 failed=0
ok() {
    echo "test-examples: ok $*"
    passed=$((passed + 1))
}
fail() {
    echo "test-examples: FAIL $*" >&2
    failed=$((failed + 1))
}

# start NAME ARGS...: runs example NAME in the background and sets ADDR once it says
# `listening on <addr>`, or fails.
ADDR=''
start() {
    local name=$1
    shift
    # Emptied here, not by the child's redirection: that one may come after the first look.
    : >"$TMP/server.log"
    "$BIN/$name" "$@" >>"$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    ADDR=''
    for ((i = 0; i < 100; i++)); do
        ADDR=$(sed -n 's/^listening on \([^ ]*\)$/\1/p' "$TMP/server.log" | head -n1)
        [[ -n $ADDR ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z $ADDR ]]; then
        cat "$TMP/server.log" >&2
        return 1
    fi
}

# stop WHAT: SIGTERM, then expects exit 0 within 8 s (the examples drain for up to 5 s).
stop() {
    local what=$1 rc=0
    kill -TERM "$SERVER_PID"
    for ((i = 0; i < 80; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -9 "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
        fail "$what: still running 8 s after SIGTERM"
    else
        wait "$SERVER_PID" || rc=$?
        if ((rc == 0)); then ok "$what: SIGTERM exits 0"; else fail "$what: SIGTERM exit status $rc"; fi
    fi
    SERVER_PID=''
}

for backend in uring compat; do
    # ---- http_hello
    if start http_hello --addr 127.0.0.1:0 --cores 2 --backend "$backend"; then
        addr=$ADDR
        got=$(timeout 10 curl -sS --max-time 5 -w ' %{http_code} %{num_connects}\n' \
            "http://$addr/" "http://$addr/a" "http://$addr/b?x=1" 2>&1 || true)
        want=$'Hello, World! 200 1\nHello, World! 200 0\nHello, World! 200 0'
        if [[ $got == "$want" ]]; then
            ok "http_hello $backend: keep-alive (3 requests, 1 connection)"
        else
            fail "http_hello $backend: keep-alive: got [$got]"
        fi
        port=${addr##*:}
        # shellcheck disable=SC2016  # $1 expands in the inner bash
        got=$(timeout 10 bash -c '
            exec 3<>"/dev/tcp/127.0.0.1/$1"
            printf "GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\nGET /3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" >&3
            cat <&3' _ "$port" 2>&1 || true)
        statuses=$(grep -o 'HTTP/1.1 200 OK' <<<"$got" | wc -l)
        bodies=$(grep -o 'Hello, World!' <<<"$got" | wc -l)
        if [[ $statuses == 3 && $bodies == 3 ]]; then
            ok "http_hello $backend: 3 pipelined requests in one write, 3 answers"
        else
            fail "http_hello $backend: pipelined: $statuses statuses, $bodies bodies: [$got]"
        fi
        # An idle keep-alive connection must not hold the shutdown for the grace period (5 s).
        exec 4<>"/dev/tcp/127.0.0.1/$port"
        printf 'GET / HTTP/1.1\r\nHost: t\r\n\r\n' >&4
        status_line=''
        IFS= read -r -t 5 status_line <&4 || true
        started=$(date +%s%N)
        stop "http_hello $backend"
        elapsed_ms=$((($(date +%s%N) - started) / 1000000))
        exec 4<&-
        if [[ $status_line == HTTP/1.1\ 200* ]] && ((elapsed_ms < 2500)); then
            ok "http_hello $backend: an idle keep-alive connection ends at SIGTERM (${elapsed_ms} ms)"
        else
            fail "http_hello $backend: idle keep-alive at SIGTERM: [$status_line], exit after ${elapsed_ms} ms"
        fi
    else
        fail "http_hello $backend: did not start"
    fi

    # ---- tls_echo
    if start tls_echo --addr 127.0.0.1:0 --cores 2 --backend "$backend" \
        --cert-out "$TMP/cert.pem"; then
        addr=$ADDR
        for version in tls1_3 tls1_2; do
            # s_client ends at stdin's EOF; the pause lets the echo arrive first.
            got=$( (printf 'hello over %s\n' "$version"; sleep 1) |
                timeout 10 openssl s_client -connect "$addr" -"$version" -CAfile "$TMP/cert.pem" \
                    -verify_return_error -verify_ip 127.0.0.1 -quiet -no_ign_eof \
                    2>"$TMP/s_client.err" || true)
            if [[ $got == "hello over $version" ]]; then
                ok "tls_echo $backend: $version handshake verified, echo"
            else
                cat "$TMP/s_client.err" "$TMP/server.log" >&2
                fail "tls_echo $backend: $version: got [$got]"
            fi
        done
        stop "tls_echo $backend"
    else
        fail "tls_echo $backend: did not start"
    fi
done

# ---- tokio_bridge (it serves and calls itself, then exits)
got=$(timeout 30 "$BIN/tokio_bridge" 2>&1 || true)
if grep -qx 'tokio client got: HELLO FROM A CORENET TASK' <<<"$got"; then
    ok "tokio_bridge: the tokio client's answer reached the corenet task"
else
    fail "tokio_bridge: got [$got]"
fi

echo "test-examples: $passed passed, $failed failed"
((failed == 0))
