#!/usr/bin/env bash
# The test suite: system packages, the small embedded model for the real-model tests (cached in
# $UGST_HOME after the first download), then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cargo build --locked -p ugst
./target/debug/ugst setup --model qwen2.5-coder-0.5b
cargo test --locked --workspace
