"""Client of `ugst serve reward`, standard library only.

- `score(items, url)`: POST /v1/ugst/score, returns the results list.
- `trl_reward(url)`: an async reward function for TRL's GRPOTrainer; the dataset must carry the
  `ugst_context` column written by `ugst export --format grpo`.
- `compute_score(data_source, solution_str, ground_truth, extra_info=None)`: verl's custom reward
  hook; `ground_truth` is the `ugst_context` string; the server URL comes from $UGST_REWARD_URL.

A judge failure gives `None` in TRL (the sample is then ignored) and 0.0 in verl (which needs a
number).
"""

import asyncio
import json
import os
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8100"


def score(items, url=None, timeout=600):
    """Scores [{"id", "context", "response"}] and returns the server's results in order."""
    base = (url or os.environ.get("UGST_REWARD_URL") or DEFAULT_URL).rstrip("/")
    body = json.dumps({"items": items}).encode()
    req = urllib.request.Request(
        base + "/v1/ugst/score", data=body, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())["results"]
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"ugst reward server at {base}: HTTP {e.code}: {e.read().decode()[:500]}") from e
    except urllib.error.URLError as e:
        raise RuntimeError(f"ugst reward server at {base} is not reachable ({e.reason}); start `ugst serve reward`") from e


def completion_text(completion):
    """TRL hands conversational completions as message lists and plain ones as strings."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content") or "" for m in completion if m.get("role") == "assistant")


def trl_reward(url=None):
    async def ugst_reward(prompts, completions, ugst_context, **kwargs):
        items = [
            {"id": str(i), "context": json.loads(ctx), "response": completion_text(c)}
            for i, (c, ctx) in enumerate(zip(completions, ugst_context))
        ]
        results = await asyncio.to_thread(score, items, url)
        return [r["reward"] for r in results]

    ugst_reward.__name__ = "ugst_reward"
    return ugst_reward


def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    context = json.loads(ground_truth) if isinstance(ground_truth, str) else ground_truth
    result = score([{"id": "0", "context": context, "response": solution_str}])[0]
    return float(result["reward"]) if result["reward"] is not None else 0.0
