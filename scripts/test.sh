#!/usr/bin/env bash
# The test suite: system packages (Chromium too, for the HTML report test), the recipes' Python
# environment (torch + TRL), the interop environment (llama-cpp-python's server, openai, LiteLLM,
# τ²-bench), the small embedded model for the real-model tests (both cached after
# the first download), then every test target of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# Disk (measured 2026-12-08, docs/performance.md): the debug build and its test binaries take
# about 4 GB under target/, the Python environments under UGST_HOME about 8 GB more when they are
# made the first time. Each is checked on the disk that will hold it (the same disk: the sum), so
# a short disk is said before a long run rather than half-way through as "No space left".
home="${UGST_HOME:-$HOME/.cache/ugst}"
env_gb=0
[ -x "${UGST_PY_ENV:-$home/py-recipes}/bin/python" ] || env_gb=$((env_gb + 7))
[ -x "${UGST_INTEROP_ENV:-$home/py-interop}/bin/python" ] || env_gb=$((env_gb + 1))
# The nearest folder that exists on the way up to $1 (df and stat need one).
existing() { local d="$1"; while [ ! -e "$d" ]; do d="$(dirname "$d")"; done; echo "$d"; }
warn_if_short() { # folder, GB it needs, what it is for
  local free_gb=$(( $(df -Pk "$(existing "$1")" | awk 'NR==2 { print $4 }') / 1024 / 1024 ))
  if [ "$free_gb" -lt "$2" ]; then
    echo "warning: $free_gb GB free on the disk of $1; $3 need about $2 GB. Free some" \
      "space there, or point them at a larger disk." >&2
  fi
}
target="${CARGO_TARGET_DIR:-target}"
if [ "$env_gb" -gt 0 ] && [ "$(stat -c %d "$(existing "$target")")" = "$(stat -c %d "$(existing "$home")")" ]; then
  warn_if_short "$target" $((4 + env_gb)) "the build (CARGO_TARGET_DIR) and the Python environments (UGST_HOME)"
else
  warn_if_short "$target" 4 "the build and its test binaries (CARGO_TARGET_DIR)"
  [ "$env_gb" -eq 0 ] || warn_if_short "$home" "$env_gb" "the Python environments (UGST_HOME)"
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
