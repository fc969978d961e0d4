#!/usr/bin/env bash
# The test suite: system packages (Chromium too, for the HTML report test), the recipes' Python
# environment (torch + TRL), the interop environment (llama-cpp-python's server, openai, LiteLLM,
# τ²-bench), the small embedded model for the real-model tests (both cached after
# the first download), then every test target of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh --browser
# The training recipes' test runs TRL on CPU in this environment.
UGST_PYTHON="$(bash scripts/python-env.sh)"
export UGST_PYTHON
# The interop tests run llama.cpp's server, the openai SDK, LiteLLM and τ²-bench from this one.
UGST_INTEROP_PYTHON="$(bash scripts/interop-env.sh)"
export UGST_INTEROP_PYTHON
cargo build --locked -p ugst-cli
"${CARGO_TARGET_DIR:-target}/debug/ugst" setup --model qwen2.5-coder-0.5b
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --workspace --all-targets 2>&1 | tee "$log"
# One closing line over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
