#!/usr/bin/env bash
# The test suite: system packages (Chromium too, for the HTML report test), the recipes' Python
# environment (torch + TRL), the interop environment (llama-cpp-python's server, openai, LiteLLM,
# τ²-bench), the small embedded model for the real-model tests (both cached after
# the first download), then every test target of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Disk (measured 2026-12-08, docs/performance.md): the debug build and its test binaries take
# about 4 GB under target/, the Python environments about 8 GB more when they are made the first
# time. Say so before a long run rather than failing half-way through with "No space left".
home="${UGST_HOME:-$HOME/.cache/ugst}"
need_gb=4
[ -x "${UGST_PY_ENV:-$home/py-recipes}/bin/python" ] || need_gb=$((need_gb + 7))
[ -x "${UGST_INTEROP_ENV:-$home/py-interop}/bin/python" ] || need_gb=$((need_gb + 1))
free_gb=$(( $(df -Pk . | awk 'NR==2 { print $4 }') / 1024 / 1024 ))
if [ "$free_gb" -lt "$need_gb" ]; then
  echo "warning: $free_gb GB free on this disk; the test suite needs about $need_gb GB (target/, and" \
    "the Python environments under $home the first time). Free some space or set" \
    "CARGO_TARGET_DIR and UGST_HOME to a larger disk." >&2
fi

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
