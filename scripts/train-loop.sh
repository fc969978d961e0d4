#!/usr/bin/env bash
# The paper's stages 2 and 3 as one closed loop, then each checkpoint measured as a simulator:
#
#   1. teacher   ugst runs reasoning-mode simulators on τ-retail *train* goals (the conversations
#                carry reasoning traces about the goal state)
#   2. sft       TRL SFT of a real small instruct model on those traces (python/sft.py)
#   3. grpo      TRL GRPO of the SFT checkpoint, every completion scored by `ugst serve reward`
#                (python/grpo.py; reward curve in grpo/curve.json and grpo/curve.png)
#   4. eval      the base, SFT and GRPO checkpoints each served by `transformers serve` and run by
#                ugst as the simulator on held-out τ-retail *test* goals; `ugst eval` compares their
#                goal alignment with 95% intervals
#
# Everything lands in --out: one folder per stage, stages.json (wall time per stage), summary.json
# (sizes, steps, the curve, the comparison) and eval.md (the comparison table).
#
#   bash scripts/train-loop.sh --out runs/loop                 # this machine's size (see docs/training.md)
#   bash scripts/train-loop.sh --tiny --out /tmp/loop          # CI: a random 2-layer model, mock judge, 2+2 steps
#
# Options (defaults in brackets, tiny's after the slash):
#   --config C          ugst config for the teacher, agent, tracker and reward judge [the embedded
#                       1.5B in every role, as ugst without a config / the mock]
#   --base GGUF         the model to train [the embedded 0.5B GGUF / a random tiny model]
#   --data D            τ-bench data [$UGST_SHARED_DATA/tau_bench or ../shared/data/tau_bench]
#   --train-goals N     teacher conversations [8 / 2]      --heldout-goals N  eval goals [6 / 2]
#   --max-turns T       turns per conversation [4 / 3]     --sft-epochs E     [2 / 1 step]
#   --grpo-steps S      [6 / 2]   --prompts-per-step P [2 / 2]   --generations G [4 / 2]
#   --max-completion-length L  GRPO rollout tokens [192 / 16]
#   --sim-tokens K      token limit of a checkpoint's turn in the eval runs [256 / 32]
# Environment: UGST_BIN (the ugst binary; else target/release/ugst, built if missing), UGST_PYTHON
# (the recipes' python; else scripts/python-env.sh makes it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

tiny=0 out="" config="" base="" data=""
train_goals="" heldout_goals="" sim_tokens="" max_turns="" sft_epochs="" grpo_steps="" prompts="" generations="" completion=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) tiny=1 ;;
    --out) out="$2"; shift ;;
    --config) config="$2"; shift ;;
    --base) base="$2"; shift ;;
    --data) data="$2"; shift ;;
    --train-goals) train_goals="$2"; shift ;;
    --heldout-goals) heldout_goals="$2"; shift ;;
    --max-turns) max_turns="$2"; shift ;;
    --sft-epochs) sft_epochs="$2"; shift ;;
    --grpo-steps) grpo_steps="$2"; shift ;;
    --prompts-per-step) prompts="$2"; shift ;;
    --generations) generations="$2"; shift ;;
    --max-completion-length) completion="$2"; shift ;;
    --sim-tokens) sim_tokens="$2"; shift ;;
    -h|--help) sed -n "2,$(grep -n "^set -euo" "$0" | cut -d: -f1)p" "$0" | grep "^#" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "train-loop: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$out" ] || { echo "train-loop: --out DIR is required (see --help)" >&2; exit 2; }
if [ "$tiny" = 1 ]; then
  : "${train_goals:=2}" "${heldout_goals:=2}" "${max_turns:=3}" "${grpo_steps:=2}" "${prompts:=2}" "${generations:=2}" "${completion:=16}" "${sim_tokens:=32}"
else
  : "${train_goals:=8}" "${heldout_goals:=6}" "${max_turns:=4}" "${sft_epochs:=2}" "${grpo_steps:=6}" "${prompts:=2}" "${generations:=4}" "${completion:=192}" "${sim_tokens:=256}"
fi
if [ -z "$data" ]; then
  data="${UGST_SHARED_DATA:-$root/../shared/data}/tau_bench"
fi
[ -f "$data/retail/tasks_train.json" ] || { echo "train-loop: no τ-retail tasks under $data (give --data, the τ-bench folder)" >&2; exit 2; }

mkdir -p "$out"
out="$(cd "$out" && pwd)"
ugst="${UGST_BIN:-$root/target/release/ugst}"
if [ ! -x "$ugst" ]; then
  echo "train-loop: building ugst (release) …" >&2
  (cd "$root" && cargo build --release -p ugst-cli >&2)
fi
py="${UGST_PYTHON:-$(bash "$root/scripts/python-env.sh")}"
serve_bin="$(dirname "$py")/transformers"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1

# Without --config: the mock (tiny) or ugst's default, the embedded model in every role, written
# out because `ugst serve reward` takes a config.
if [ -z "$config" ]; then
  config="$out/ugst.toml"
  if [ "$tiny" = 1 ]; then
    printf '[models.mock]\nprovider = "mock"\nmodel = "mock"\n\n[cache]\npath = "%s/cache.sqlite"\n' "$out" > "$config"
  else
    printf '[models.embedded]\nprovider = "embedded"\nmodel = "qwen2.5-coder-1.5b"\n' > "$config"
  fi
fi
cfg=(--config "$config")
if [ "$tiny" = 0 ] && [ -z "$base" ]; then
  base="${UGST_HOME:-$HOME/.cache/ugst}/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Each finished stage leaves $out/.done-STAGE, so a loop cut short resumes where it stopped; a
# stage that runs again makes every later one run again. Wall times go to stages.json.
order=(teacher base sft grpo eval-base eval-sft eval-grpo)
stages="$out/stages.json"
[ -f "$stages" ] || echo '{}' > "$stages"
stage_start=0
begin() {
  if [ -f "$out/.done-$1" ]; then echo "== train-loop: $1 already done (rm $out/.done-$1 to redo)" >&2; return 1; fi
  local later=0
  for st in "${order[@]}"; do
    [ "$later" = 1 ] && rm -f "$out/.done-$st"
    [ "$st" = "$1" ] && later=1
  done
  stage_start=$(date +%s); echo "== train-loop: $1 ($(date -u +%H:%M:%S))" >&2
}
finish() {
  local secs=$(( $(date +%s) - stage_start ))
  "$py" -c 'import json,sys; p,k,v=sys.argv[1],sys.argv[2],int(sys.argv[3]); d=json.load(open(p)); d[k]=v; json.dump(d,open(p,"w"),indent=1)' "$stages" "$1" "$secs"
  touch "$out/.done-$1"
  echo "   $1: ${secs} s" >&2
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url, what, pid
  for _ in $(seq 1 600); do
    if "$py" -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null; then return 0; fi
    kill -0 "$3" 2>/dev/null || { echo "train-loop: $2 exited before it answered (log above)" >&2; exit 1; }
    sleep 1
  done
  echo "train-loop: $2 did not answer at $1 within 600 s" >&2; exit 1
}

# 1. teacher conversations with reasoning traces, on train goals
if begin teacher; then
  resume=()
  [ -d "$out/teacher" ] && resume=(--resume --retry-failed)
  "$ugst" run "${cfg[@]}" --quiet --env tau-retail --data "$data" --split train --limit "$train_goals" \
    --mode reasoning --max-turns "$max_turns" --concurrency 2 "${resume[@]}" --out "$out/teacher" >&2
  mkdir -p "$out/data"
  # Only conversations whose every turn kept the reasoning layout: a turn where the teacher broke
  # it would teach the broken layout.
  "$ugst" export "$out/teacher" --format sft --require-reasoning --force --out "$out/data/sft.jsonl" >&2
  if [ ! -s "$out/data/sft.jsonl" ]; then
    echo "train-loop: no teacher conversation kept the reasoning layout in every turn; give more --train-goals or a stronger teacher (--config)" >&2
    exit 1
  fi
  finish teacher
fi

# the model to train
if begin base; then
  if [ "$tiny" = 1 ] && [ -z "$base" ]; then
    "$py" "$root/python/tiny_model.py" --data "$out/data/sft.jsonl" --out "$out/base" >&2
  else
    [ -f "$base" ] || "$ugst" setup --model qwen2.5-coder-0.5b --no-encoder >&2
    "$py" "$root/python/from_gguf.py" --gguf "$base" --out "$out/base" >&2
  fi
  "$ugst" export "$out/teacher" --format grpo --require-reasoning --force --tokenizer "$out/base/tokenizer.json" --out "$out/data/grpo.jsonl" >&2
  finish base
fi

# 2. SFT on the reasoning traces
if begin sft; then
  sft_args=(--batch-size 2 --per-device-batch 1)
  if [ "$tiny" = 1 ]; then sft_args+=(--max-steps 1 --lr 1e-4); else sft_args+=(--epochs "$sft_epochs" --lr 1e-5); fi
  "$py" "$root/python/sft.py" --data "$out/data/sft.jsonl" --model "$out/base" --out "$out/sft" "${sft_args[@]}" \
    | tee "$out/sft.log.json" >&2
  finish sft
fi

# 3. GRPO with the UGST reward from `ugst serve reward`
if begin grpo; then
  port=$(free_port)
  "$ugst" serve reward "${cfg[@]}" --port "$port" > "$out/reward-server.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/healthz" "ugst serve reward" "${pids[-1]}"
  "$py" "$root/python/grpo.py" --data "$out/data/grpo.jsonl" --model "$out/sft" --out "$out/grpo" \
    --reward-url "http://127.0.0.1:$port" --max-steps "$grpo_steps" --prompts-per-step "$prompts" \
    --generations "$generations" --per-device-batch "$generations" --max-completion-length "$completion" \
    | tee "$out/grpo.log.json" >&2
  kill "${pids[-1]}" 2>/dev/null || true
  finish grpo
fi

# 4. each checkpoint as the simulator on held-out goals
for ck in base sft grpo; do
  begin "eval-$ck" || continue
  port=$(free_port)
  "$serve_bin" serve "$out/$ck" --port "$port" --device cpu --dtype float32 \
    > "$out/serve-$ck.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/health" "transformers serve ($ck)" "${pids[-1]}"
  # The other roles as configured; the simulator is the served checkpoint, with a turn's length
  # bounded. The cache is off, so a retrained checkpoint at the same path is never answered from
  # an earlier one's cache.
  evalcfg="$out/eval-$ck.toml"
  "$py" - "$config" "$evalcfg" "http://127.0.0.1:$port/v1" "$out/$ck" "$sim_tokens" <<'EOF'
import json, sys, tomllib
src, dst, url, model, tokens = sys.argv[1:]
text = open(src).read()
cfg = tomllib.loads(text)
if "trainee" in cfg.get("models", {}):
    sys.exit(f"train-loop: {src} already defines [models.trainee], the name the loop gives the checkpoint")
if "roles" not in cfg:  # one model played every role; keep it so when the trainee joins
    (only,) = cfg["models"]
    text += "\n[roles]\n" + "".join(f'{r} = "{only}"\n' for r in ("decomposer", "tracker", "agent", "simulator"))
text += (f'\n[models.trainee]\nprovider = "openai"\nbase_url = {json.dumps(url)}\nmodel = {json.dumps(model)}\n'
         f"max_tokens = {int(tokens)}\ntimeout_s = 900\n")
open(dst, "w").write(text)
EOF
  rm -rf "$out/eval/$ck"
  # A checkpoint that finishes no conversation is a result (compared as 0 conversations), not a
  # reason to stop the loop.
  if ! "$ugst" --no-cache run --config "$evalcfg" --quiet --env tau-retail --data "$data" --split test \
    --limit "$heldout_goals" --mode reasoning --max-turns "$max_turns" --concurrency 1 \
    --simulator-model trainee --out "$out/eval/$ck" >&2; then
    echo "train-loop: the $ck checkpoint finished no held-out conversation (errors above)" >&2
  fi
  kill "${pids[-1]}" 2>/dev/null || true
  finish "eval-$ck"
done

"$ugst" eval "$out/eval/base" "$out/eval/sft" "$out/eval/grpo" --label base --label sft --label grpo --markdown | tee "$out/eval.md" >&2
"$ugst" eval "$out/eval/base" "$out/eval/sft" "$out/eval/grpo" --label base --label sft --label grpo --json > "$out/eval.json"

"$py" - "$out" "$tiny" "${base:-tiny random model}" <<'EOF'
import json, os, sys
out, tiny, base = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
def lines(p):
    with open(p) as f:
        return sum(1 for l in f if l.strip())
def last_json(p):
    with open(p) as f:
        return json.loads([l for l in f if l.startswith("{")][-1])
grpo = last_json(os.path.join(out, "grpo.log.json"))
summary = {
    "tiny": tiny,
    "base": base,
    "data": {"sft_chats": lines(os.path.join(out, "data/sft.jsonl")),
             "grpo_prompts": lines(os.path.join(out, "data/grpo.jsonl"))},
    "sft": last_json(os.path.join(out, "sft.log.json")),
    "grpo": {"steps": grpo["steps"], "judge_failures": grpo["judge_failures"],
             "curve": json.load(open(os.path.join(out, "grpo/curve.json")))["points"]},
    "stages_s": json.load(open(os.path.join(out, "stages.json"))),
    "eval": json.load(open(os.path.join(out, "eval.json"))),
}
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
print(json.dumps({"summary": os.path.join(out, "summary.json"), "curve_png": os.path.join(out, "grpo/curve.png"),
                  "stages_s": summary["stages_s"]}))
EOF
