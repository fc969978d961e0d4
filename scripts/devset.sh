#!/usr/bin/env bash
# Tracks the hand-labelled development set (data/tracking-devset/) with a judge and compares the
# final goal states with the labels: `ugst import` (the 20 labelled gpt-4o τ-airline conversations,
# with their gold decompositions) → `ugst track` → `ugst agree` → `ugst eval` (tracker cost).
#
#   bash scripts/devset.sh --config ugst.toml --tracking delta --out runs/devset-delta
#
# Reads the log in place from ../shared/data (or $UGST_TAU_LOG). Add --decompose to let the
# decomposer split the goals instead of using the gold decompositions (and score it); --limit N
# tracks only the first N conversations; --set DIR measures another labelled set (one that keeps
# its own conversations.jsonl, like data/tracking-retail, is imported from it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ugst="${UGST_BIN:-$root/${CARGO_TARGET_DIR:-target}/release/ugst}"
[ -x "$ugst" ] || ugst="${CARGO_TARGET_DIR:-$root/target}/release/ugst"
log="${UGST_TAU_LOG:-$root/../shared/data/tau_bench/historical_trajectories/gpt-4o-airline.json}"
set_dir="$root/data/tracking-devset"
config="" tracking="delta" out="" decompose=0 concurrency=2 limit=0
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --tracking) tracking="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --decompose) decompose=1; shift ;;
    --limit) limit="$2"; shift 2 ;;
    --set) set_dir="$(cd "$2" && pwd)"; shift 2 ;;
    *) echo "devset.sh: unknown argument $1 (use --config C --tracking M --out DIR [--decompose] [--limit N] [--set DIR])" >&2; exit 2 ;;
  esac
done
[ -n "$config" ] && [ -n "$out" ] || { echo "devset.sh: --config and --out are required" >&2; exit 2; }
[ -e "$out" ] && { echo "devset.sh: $out exists; choose a new --out" >&2; exit 2; }
# --limit N: only the first N labelled conversations (a cheaper, noisier measurement).
ids="$(python3 -c 'import json,sys; ids=[json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip()]; n=int(sys.argv[2]); print(",".join(ids[:n] if n else ids))' "$set_dir/final_states.jsonl" "$limit")"
gold_dec=(--decompositions "$set_dir/decompositions.jsonl")
[ "$decompose" = 1 ] && gold_dec=()
mkdir -p "$out"
if [ -f "$set_dir/conversations.jsonl" ]; then
  "$ugst" import "$set_dir/conversations.jsonl" --format chat-jsonl --only "$ids" "${gold_dec[@]}" --out "$out/imported" > /dev/null
else
  "$ugst" import "$log" --env tau-airline --only "$ids" "${gold_dec[@]}" --out "$out/imported" > /dev/null
fi
"$ugst" track "$out/imported" --config "$config" --tracking "$tracking" --concurrency "$concurrency" --out "$out/tracked"
echo "== final goal states against the labels"
"$ugst" agree --gold "$set_dir/final_states.jsonl" --pred "$out/tracked" | tee "$out/agree.txt"
"$ugst" agree --gold "$set_dir/final_states.jsonl" --pred "$out/tracked" --json > "$out/agree.json"
if [ "$decompose" = 1 ]; then
  echo "== decompositions against the labels"
  "$ugst" agree --gold "$set_dir/decompositions.jsonl" --pred "$out/tracked" | tee "$out/decompose.txt"
  "$ugst" agree --gold "$set_dir/decompositions.jsonl" --pred "$out/tracked" --json > "$out/decompose.json"
fi
"$ugst" eval "$out/tracked" --json > "$out/eval.json"
"$ugst" eval "$out/tracked" | grep -iE "tracker|role|decomposer" || true
