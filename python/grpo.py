"""GRPO of a simulator with the composite UGST reward, using TRL's GRPOTrainer. Prompts are the
conversation prefixes of `ugst export --format grpo`; every completion (reasoning + message) is
scored by a running `ugst serve reward`. Defaults follow the paper: learning rate 5e-6, 16 prompts
x 8 rollouts per step, 350 steps.

  ugst serve reward --config ugst.toml --port 8100 &
  python grpo.py --data grpo.jsonl --model runs/sft --reward-url http://127.0.0.1:8100 --out runs/grpo
"""

import argparse
import json
import math
import os
import sys

import torch
from datasets import load_dataset
from trl import GRPOConfig, GRPOTrainer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ugst_reward import trl_reward  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reward-url", default=os.environ.get("UGST_REWARD_URL", "http://127.0.0.1:8100"))
    ap.add_argument("--lr", type=float, default=5e-6)
    ap.add_argument("--prompts-per-step", type=int, default=16)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--max-steps", type=int, default=350)
    ap.add_argument("--max-completion-length", type=int, default=512)
    a = ap.parse_args()

    data = load_dataset("json", data_files=a.data, split="train")
    data = data.remove_columns([c for c in data.column_names if c not in ("prompt", "ugst_context")])
    world = max(torch.cuda.device_count(), 1)
    config = GRPOConfig(
        output_dir=a.out,
        learning_rate=a.lr,
        num_generations=a.generations,
        per_device_train_batch_size=a.prompts_per_step * a.generations // world,
        max_completion_length=a.max_completion_length,
        max_steps=a.max_steps,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        bf16=torch.cuda.is_available(),
    )
    trainer = GRPOTrainer(model=a.model, reward_funcs=trl_reward(a.reward_url), args=config, train_dataset=data)
    trainer.train()
    trainer.save_model(a.out)
    hist = [h for h in trainer.state.log_history if "loss" in h]
    losses = [h["loss"] for h in hist]
    rewards = [h.get("reward") for h in hist]
    print(json.dumps({"losses": losses, "rewards": rewards, "finite": all(math.isfinite(x) for x in losses),
                      "steps": trainer.state.global_step}))


if __name__ == "__main__":
    main()
