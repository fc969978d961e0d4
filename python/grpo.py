"""GRPO of a simulator with the composite UGST reward, using TRL's GRPOTrainer. Prompts are the
conversation prefixes of `ugst export --format grpo`; every completion (reasoning + message) is
scored by a running `ugst serve reward`.

Settings (every one explicit, since TRL 1.16's defaults are DAPO's, not GRPO's):
- from the paper: learning rate 5e-6, 16 prompts x 8 rollouts per optimizer step, 350 steps;
- GRPO as Shao et al. (2024) define it, where the paper is silent: `loss_type="grpo"` (each
  sequence's token losses averaged, then the sequences), a KL penalty to the reference model with
  `beta=0.04` (DeepSeekMath's value), clipping epsilon 0.2, one update per generation
  (`num_iterations=1`), advantages normalised within each prompt's group (`scale_rewards="group"`);
- truncated completions are kept in the loss (`--mask-truncated` masks them): a completion cut at
  `--max-completion-length` breaks the simulator's layout and earns the reward server's format
  penalty, which is the signal that teaches the model to finish its turn in time.

The 128 completions of a step are split into micro-batches of `--per-device-batch` per device and
accumulated (`gradient_accumulation_steps = prompts x generations / (per-device batch x devices)`),
so a 7B model fits one GPU at the default 8 x 16.

A completion the judge could not score is excluded (its reward is None: TRL leaves it out of its
group's baseline and gives it no advantage) and counted; a step where more than
`--max-judge-failures` of the completions are unscored stops training (an outage, not noise).
The reward curve (per step: completions scored, mean and spread of their rewards, judge
failures) is written to `<out>/curve.json` and drawn in `<out>/curve.png`.

  ugst serve reward --config ugst.toml --port 8100 &
  python grpo.py --data grpo.jsonl --model runs/sft --reward-url http://127.0.0.1:8100 --out runs/grpo
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ugst_reward import RewardCurve, trl_reward  # noqa: E402

# GRPO's own settings (Shao et al., 2024) where the UGST paper gives none.
GRPO_LOSS = "grpo"
GRPO_BETA = 0.04
GRPO_EPSILON = 0.2
GRPO_ITERATIONS = 1
GRPO_SCALE_REWARDS = "group"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reward-url", default=os.environ.get("UGST_REWARD_URL", "http://127.0.0.1:8100"))
    ap.add_argument("--lr", type=float, default=5e-6)
    ap.add_argument("--prompts-per-step", type=int, default=16)
    ap.add_argument("--generations", type=int, default=8, help="rollouts per prompt (the group)")
    ap.add_argument("--per-device-batch", type=int, default=8, help="completions per micro-batch on one device")
    ap.add_argument("--max-steps", type=int, default=350)
    ap.add_argument("--max-completion-length", type=int, default=512)
    ap.add_argument("--loss-type", default=GRPO_LOSS, choices=["grpo", "dr_grpo", "dapo", "bnpo"])
    ap.add_argument("--beta", type=float, default=GRPO_BETA, help="KL coefficient (0 drops the reference model)")
    ap.add_argument("--epsilon", type=float, default=GRPO_EPSILON)
    ap.add_argument("--mask-truncated", action="store_true", help="leave completions cut at the limit out of the loss")
    ap.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the rollouts")
    ap.add_argument("--max-judge-failures", type=float, default=0.25,
                    help="share of a step's completions that may go unscored before training stops")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def accumulation(completions_per_step, per_device, world):
    """Gradient accumulation steps so that per_device x world x steps = the step's completions."""
    micro = per_device * world
    if per_device < 1 or completions_per_step % micro:
        raise SystemExit(
            f"--per-device-batch {per_device} x {world} device(s) = {micro} must divide the "
            f"{completions_per_step} completions of a step (--prompts-per-step x --generations)"
        )
    return completions_per_step // micro


def grpo_config(a, world, cuda):
    """The GRPOConfig for the parsed flags; every setting that differs between GRPO variants is
    set here explicitly."""
    from trl import GRPOConfig

    completions = a.prompts_per_step * a.generations
    per_device = min(a.per_device_batch, completions)
    return GRPOConfig(
        output_dir=a.out,
        learning_rate=a.lr,
        num_generations=a.generations,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation(completions, per_device, world),
        loss_type=a.loss_type,
        beta=a.beta,
        epsilon=a.epsilon,
        num_iterations=GRPO_ITERATIONS,
        scale_rewards=GRPO_SCALE_REWARDS,
        mask_truncated_completions=a.mask_truncated,
        temperature=a.temperature,
        max_completion_length=a.max_completion_length,
        max_steps=a.max_steps,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=a.seed,
        bf16=cuda,
    )


def main():
    a = parse_args()
    import torch
    from datasets import load_dataset
    from trl import GRPOTrainer

    data = load_dataset("json", data_files=a.data, split="train")
    data = data.remove_columns([c for c in data.column_names if c not in ("prompt", "ugst_context")])
    world = max(torch.cuda.device_count(), 1)
    config = grpo_config(a, world, torch.cuda.is_available())
    curve = RewardCurve(max_failed_share=a.max_judge_failures)
    trainer = GRPOTrainer(
        model=a.model, reward_funcs=trl_reward(a.reward_url, curve=curve), args=config, train_dataset=data
    )
    trainer.train()
    trainer.save_model(a.out)
    curve.write(a.out)
    hist = [h for h in trainer.state.log_history if "loss" in h]
    losses = [h["loss"] for h in hist]
    print(json.dumps({
        "losses": losses,
        "rewards": [h.get("reward") for h in hist],
        "finite": all(math.isfinite(x) for x in losses),
        "steps": trainer.state.global_step,
        "judge_failures": sum(p["judge_failures"] for p in curve.points()),
        "curve": os.path.join(a.out, "curve.json"),
    }))


if __name__ == "__main__":
    main()
