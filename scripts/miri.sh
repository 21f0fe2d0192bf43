#!/usr/bin/env bash
# Runs the logic modules' unit tests under miri (issue 8): receive-buffer accounting
# (buf::pool, buf::chunk, buf::write_pool), the receive queue and its compaction
# (reactor::rx_queue), the send slot's byte limit (reactor::send_slot), the split of a
# receive completion over ring descriptors (uring::split), the op token encoding (backend), the timer heap
# (time::timers), the compat backend's registrations (mio over miri's epoll shim), and the
# facade's parsers (Port, is_ip, error codes, text decoding). Only
# tests that make no syscalls miri cannot model: no sockets, no rings, no threads of cores.
# Run by hand, not in CI (miri is slow and needs nightly):
#
#   rustup toolchain install nightly --component miri rust-src
#   scripts/miri.sh                 # all of the above
#   scripts/miri.sh buf::pool       # one filter, in the engine crate
set -euo pipefail
cd "$(dirname "$0")/.."
export MIRIFLAGS=${MIRIFLAGS:-"-Zmiri-disable-isolation"}
# Miri builds into its own target directory; keep it apart from the normal build.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/miri}
cargo +nightly miri setup >/dev/null
if (($#)); then
    exec cargo +nightly miri test -p corenet-engine --lib -- "$@"
fi
echo "== miri: corenet-engine logic modules"
cargo +nightly miri test -p corenet-engine --lib -- buf:: backend:: time::timers \
    reactor::rx_queue reactor::send_slot uring::split
echo "== miri: corenet-compat registrations"
cargo +nightly miri test -p corenet-compat --lib -- registry
echo "== miri: corenet parsers and error codes"
cargo +nightly miri test -p corenet --lib -- net::port net::is_ip error:: net::socket::encoding
