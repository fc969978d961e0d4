"""Converts `ugst export --format grpo` JSONL into the parquet dataset verl's RLHFDataset reads:
one row per prompt with `data_source` ("ugst"), `prompt` (the chat messages), `ability`
("user-simulation"), `reward_model` (`{"style": "rule", "ground_truth": <ugst_context>}`, which
verl hands to `ugst_reward.compute_score` as `ground_truth`) and `extra_info` (`index`,
`sample_id`, `split`).

  python to_verl_parquet.py --data grpo.jsonl --out train.parquet [--split train]
"""

import argparse
import json

DATA_SOURCE = "ugst"
ABILITY = "user-simulation"


def rows(path, split):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: not JSON ({e}); expected a line of `ugst export --format grpo`")
            missing = [k for k in ("sample_id", "prompt", "ugst_context") if k not in r]
            if missing:
                raise SystemExit(f"{path}:{n}: no {', '.join(missing)}; expected a line of `ugst export --format grpo`")
            context = r["ugst_context"]
            yield {
                "data_source": DATA_SOURCE,
                "prompt": [{"role": m["role"], "content": m["content"]} for m in r["prompt"]],
                "ability": ABILITY,
                "reward_model": {
                    "style": "rule",
                    "ground_truth": context if isinstance(context, str) else json.dumps(context),
                },
                "extra_info": {"index": n - 1, "sample_id": str(r["sample_id"]), "split": split},
            }


def convert(data, out, split="train"):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(list(rows(data, split)))
    if table.num_rows == 0:
        raise SystemExit(f"{data}: no prompts")
    pq.write_table(table, out)
    return table.num_rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="an `ugst export --format grpo` file")
    ap.add_argument("--out", required=True, help="the parquet file to write")
    ap.add_argument("--split", default="train")
    a = ap.parse_args()
    n = convert(a.data, a.out, a.split)
    print(json.dumps({"out": a.out, "rows": n}))


if __name__ == "__main__":
    main()
