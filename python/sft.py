"""Supervised fine-tuning of a simulator on `ugst export --format sft` data with TRL's SFTTrainer.
The loss covers the simulator's turns only (the chat's `assistant` messages: reasoning + message).
Defaults follow the paper: batch 32, learning rate 1e-6, 4 epochs.

  python sft.py --data sft.jsonl --model Qwen/Qwen2.5-7B-Instruct --out runs/sft
"""

import argparse
import json
import math

import torch
from datasets import load_dataset
from trl import SFTConfig, SFTTrainer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True, help="a local folder or a hub name")
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch-size", type=int, default=32, help="sequences per optimizer step")
    ap.add_argument("--per-device-batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-6)
    ap.add_argument("--epochs", type=float, default=4)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--max-length", type=int, default=4096)
    a = ap.parse_args()

    data = load_dataset("json", data_files=a.data, split="train")
    data = data.remove_columns([c for c in data.column_names if c != "messages"])
    per_device = min(a.per_device_batch, a.batch_size)
    world = max(torch.cuda.device_count(), 1)
    config = SFTConfig(
        output_dir=a.out,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=max(a.batch_size // (per_device * world), 1),
        learning_rate=a.lr,
        num_train_epochs=a.epochs,
        max_steps=a.max_steps,
        max_length=a.max_length,
        assistant_only_loss=True,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        bf16=torch.cuda.is_available(),
    )
    trainer = SFTTrainer(model=a.model, args=config, train_dataset=data)
    trainer.train()
    trainer.save_model(a.out)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(json.dumps({"losses": losses, "finite": all(math.isfinite(x) for x in losses), "steps": trainer.state.global_step}))


if __name__ == "__main__":
    main()
