"""Client of `ugst serve reward`, standard library only.

- `score(items, url)`: POST /v1/ugst/score, returns the results list.
- `trl_reward(url)`: an async reward function for TRL's GRPOTrainer; the dataset must carry the
  `ugst_context` column written by `ugst export --format grpo`.
- `compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)`: verl's
  custom reward hook; `ground_truth` is the `ugst_context` string; the server URL comes from
  $UGST_REWARD_URL.

Backpressure (503 when the server's queue is full, 429) is retried, honouring Retry-After, up to
a deadline ($UGST_REWARD_RETRY_DEADLINE_S, 600 s), then raised. A server started with
`--api-key-env VAR` takes the key from $UGST_REWARD_API_KEY.

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


# Backpressure: 503 (the server's queue is full) and 429 are retried, honouring Retry-After, until
# this many seconds have passed since the first try; then the last error is raised.
RETRY_DEADLINE_S = float(os.environ.get("UGST_REWARD_RETRY_DEADLINE_S", "600"))
# The wait between tries when the server sends no Retry-After, doubling up to the cap.
RETRY_FIRST_WAIT_S = 1.0
RETRY_MAX_WAIT_S = 30.0


def retry_after(value, fallback):
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return fallback
    try:
        secs = float(value)
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime
            import datetime

            when = parsedate_to_datetime(value)
            secs = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        except (TypeError, ValueError):
            return fallback
    if secs != secs or secs < 0:  # NaN or negative
        return fallback
    return min(secs, RETRY_MAX_WAIT_S)


def score(items, url=None, timeout=600, deadline_s=None, sleep=None):
    """Scores [{"id", "context", "response"}] and returns the server's results in order.

    A 503 or 429 is retried (honouring Retry-After) until `deadline_s` (default
    $UGST_REWARD_RETRY_DEADLINE_S, 600) has passed, then raised. The key in
    $UGST_REWARD_API_KEY, when set, is sent as `Authorization: Bearer`."""
    import time

    sleep = sleep or time.sleep
    deadline_s = RETRY_DEADLINE_S if deadline_s is None else deadline_s
    base = (url or os.environ.get("UGST_REWARD_URL") or DEFAULT_URL).rstrip("/")
    body = json.dumps({"items": items}).encode()
    headers = {"content-type": "application/json"}
    key = os.environ.get("UGST_REWARD_API_KEY")
    if key:
        headers["authorization"] = f"Bearer {key}"
    started = time.monotonic()
    wait = RETRY_FIRST_WAIT_S
    tries = 0
    while True:
        tries += 1
        req = urllib.request.Request(base + "/v1/ugst/score", data=body, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())["results"]
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:500]
            pause = retry_after(e.headers.get("retry-after"), wait)
            if e.code in (429, 503) and time.monotonic() - started + pause <= deadline_s:
                sleep(pause)
                wait = min(wait * 2, RETRY_MAX_WAIT_S)
                continue
            if e.code in (429, 503):
                raise RuntimeError(
                    f"ugst reward server at {base}: still HTTP {e.code} after {tries} tries over "
                    f"{time.monotonic() - started:.0f} s (deadline {deadline_s:.0f} s, "
                    f"UGST_REWARD_RETRY_DEADLINE_S): {detail}"
                ) from e
            raise RuntimeError(f"ugst reward server at {base}: HTTP {e.code}: {detail}") from e
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


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    context = json.loads(ground_truth) if isinstance(ground_truth, str) else ground_truth
    return score_all([{"id": "0", "context": context, "response": solution_str}])[0]
