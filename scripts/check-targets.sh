#!/usr/bin/env bash
# Cross-target checks: clippy (-D warnings) for macOS and Windows on this Linux host.
# Apple and MSVC targets can be checked and linted here, not linked (no SDK, no link.exe);
# scripts/test-windows.sh links and runs the Windows tests (windows-gnu, under Wine).
set -euo pipefail
cd "$(dirname "$0")/.."
apple=(x86_64-apple-darwin aarch64-apple-darwin)
windows=(x86_64-pc-windows-msvc x86_64-pc-windows-gnu)
rustup target add "${apple[@]}" "${windows[@]}" >/dev/null
for t in "${apple[@]}"; do
    echo "== clippy --target $t"
    # corenet-examples builds ring (C and assembly) for its target: host-only.
    cargo clippy --workspace --exclude corenet-examples --all-targets --target "$t" -- -D warnings
done
for t in "${windows[@]}"; do
    echo "== clippy --target $t"
    # The library crates and their tests (the bench tool and the examples are Unix/host-only).
    cargo clippy -p corenet -p corenet-engine -p corenet-compat --lib --tests --target "$t" \
        -- -D warnings
done
