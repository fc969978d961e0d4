"""Client of `ugst serve reward`, standard library only.

- `score(items, url)`: POST /v1/ugst/score, returns the results list.
- `trl_reward(url)`: an async reward function for TRL's GRPOTrainer; the dataset must carry the
  `ugst_context` column written by `ugst export --format grpo`.
- `compute_score(data_source, solution_str, ground_truth, extra_info=None)`: verl's custom reward
  hook; `ground_truth` is the `ugst_context` string; the server URL comes from $UGST_REWARD_URL.

A judge outage never becomes a reward: items the judge failed on are scored again once, and if
the judge still fails, `JudgeFailed` is raised, naming the items and the reasons. TRL and verl
then stop with that message instead of training on a made-up 0 (TRL turns `None` into NaN and a
sample whose every reward is NaN into 0; verl needs a number). The OpenRLHF endpoint refuses such
a batch with 503 for the same reason.
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


class JudgeFailed(RuntimeError):
    """The reward server's judge could not score some items, even after one retry."""


def score_all(items, url=None):
    """Scores items and returns their rewards in order; a judge failure is retried once, then
    raised as `JudgeFailed` (never replaced by a number)."""
    results = score(items, url)
    failed = [i for i, r in enumerate(results) if r.get("reward") is None]
    if failed:
        again = score([items[i] for i in failed], url)
        for i, r in zip(failed, again):
            results[i] = r
        still = [(items[i]["id"], results[i].get("error")) for i in failed if results[i].get("reward") is None]
        if still:
            detail = "; ".join(f"item {i}: {e}" for i, e in still)
            raise JudgeFailed(
                f"the ugst judge failed on {len(still)} of {len(items)} item(s) after a retry, "
                f"so no reward is given for them: {detail}"
            )
    return [float(r["reward"]) for r in results]


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
        return await asyncio.to_thread(score_all, items, url)

    ugst_reward.__name__ = "ugst_reward"
    return ugst_reward


def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    context = json.loads(ground_truth) if isinstance(ground_truth, str) else ground_truth
    return score_all([{"id": "0", "context": context, "response": solution_str}])[0]
