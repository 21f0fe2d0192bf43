#!/usr/bin/env bash
# Cross-target checks: clippy (-D warnings) for the macOS targets on this Linux host.
# Apple targets can be checked and linted here, not linked (no SDK).
# Windows is not checked yet: the engine is Unix-only until the compat backend's Windows
# port (named pipes, IOCP through mio) lands.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(x86_64-apple-darwin aarch64-apple-darwin)
rustup target add "${targets[@]}" >/dev/null
for t in "${targets[@]}"; do
    echo "== clippy --target $t"
    # corenet-examples builds ring (C and assembly) for its target: host-only.
    cargo clippy --workspace --exclude corenet-examples --all-targets --target "$t" -- -D warnings
done
