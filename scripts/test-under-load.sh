#!/usr/bin/env bash
# The whole test suite, ROUNDS times in a row, while one busy loop per CPU loads the machine
# (what `stress -c <CPUs>` does): a check that no test depends on timing. Run by hand.
#
# usage: scripts/test-under-load.sh [ROUNDS]   (default 5)
# Prints each round's result and the failures' names; exits non-zero if any round failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
cargo test --workspace --all-targets --no-run --quiet
busy=()
for _ in $(seq "$(nproc)"); do
    (while :; do :; done) &
    busy+=($!)
done
trap 'kill "${busy[@]}" 2>/dev/null || true' EXIT
failed=0
for round in $(seq "$ROUNDS"); do
    log=$(mktemp)
    start=$(date +%s)
    if cargo test --workspace --all-targets >"$log" 2>&1; then
        echo "round $round: ok in $(($(date +%s) - start)) s"
    else
        failed=$((failed + 1))
        echo "round $round: FAILED in $(($(date +%s) - start)) s (log: $log)"
        grep -E "^test .* FAILED$|^---- " "$log" | sed 's/^/    /' || true
        continue
    fi
    rm -f "$log"
done
echo "$((ROUNDS - failed)) of $ROUNDS rounds passed under $(nproc) busy loops"
[[ $failed -eq 0 ]]
