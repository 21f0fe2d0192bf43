#!/usr/bin/env bash
# The soak (issue 8): MINUTES of mixed traffic against an async-face and a Node-face echo
# server on each backend (io_uring and compat, side by side): checksummed echoes of random
# sizes, bursts of 50 concurrent connections, resets mid-stream and abandoned connections,
# with a small receive-buffer pool that runs dry. Prints, per backend, the bytes verified and
# the errors; fails on any error. The body is tests/reliability_soak.rs (ignored in the normal
# test run).
#
# usage: scripts/soak.sh [MINUTES]      (default 1; fractions allowed: 0.5 = 30 s, as in CI)
#        CORENET_SOAK_SEED=N scripts/soak.sh 10     (another seed; the default is fixed)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-1}
secs=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60); if (s < 1) s = 1; print s }')
echo "== soak: ${secs} s per backend (both at once)"
CORENET_SOAK_SECS=$secs exec cargo test --quiet -p corenet --test reliability_soak -- \
    --ignored --nocapture --test-threads=2
