#!/usr/bin/env bash
# The project's test command (README.md): the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
cargo test --workspace --doc
