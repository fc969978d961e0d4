"""Client of `ugst serve reward`, standard library only.

- `score(items, url)`: POST /v1/ugst/score, returns the results list.
- `trl_reward(url, curve=None)`: an async reward function for TRL's GRPOTrainer; the dataset must
  carry the `ugst_context` column written by `ugst export --format grpo`.
- `compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)`: verl's
  custom reward hook; `ground_truth` is the `ugst_context` string; the server URL comes from
  $UGST_REWARD_URL (or `reward_url` in verl's `custom_reward_function.reward_kwargs`).
- `RewardCurve`: per training step, the completions scored, the mean and spread of their rewards
  and the judge failures; written as JSON and drawn as a PNG.

Backpressure (503 when the server's queue is full, 429) is retried, honouring Retry-After, up to
a deadline ($UGST_REWARD_RETRY_DEADLINE_S, 600 s), then raised. A server started with
`--api-key-env VAR` takes the key from $UGST_REWARD_API_KEY.

A judge outage never becomes a reward: items the judge failed on are scored again once. If the
judge still fails, the TRL path gives those completions `None` (TRL 1.16 leaves a completion
that no reward function scored out of its group's baseline and gives it no advantage) and counts
them; when more than the curve's allowed share of a call fails (none without a curve), it raises
`JudgeFailed` naming the items and the reasons, so training stops instead of learning from a
made-up number. verl needs a number for every item, so `compute_score` always raises. The
OpenRLHF endpoint refuses such a batch with 503 for the same reason.
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


def score_retried(items, url=None):
    """Scores items; those the judge failed on are scored once more. Returns (rewards, failures):
    a reward per item in order (None where the judge still failed) and [(id, error)]."""
    results = score(items, url)
    failed = [i for i, r in enumerate(results) if r.get("reward") is None]
    if failed:
        again = score([items[i] for i in failed], url)
        for i, r in zip(failed, again):
            results[i] = r
    rewards = [None if r.get("reward") is None else float(r["reward"]) for r in results]
    failures = [(items[i]["id"], results[i].get("error")) for i, r in enumerate(rewards) if r is None]
    return rewards, failures


def judge_failed(failures, total):
    detail = "; ".join(f"item {i}: {e}" for i, e in failures)
    return JudgeFailed(
        f"the ugst judge failed on {len(failures)} of {total} item(s) after a retry, "
        f"so no reward is given for them: {detail}"
    )


def score_all(items, url=None):
    """Scores items and returns their rewards in order; a judge failure is retried once, then
    raised as `JudgeFailed` (never replaced by a number)."""
    rewards, failures = score_retried(items, url)
    if failures:
        raise judge_failed(failures, len(items))
    return rewards


class RewardCurve:
    """The rewards a GRPO run was given, per optimizer step: how many completions were scored,
    the mean and spread (population standard deviation) of their rewards, their range, and how
    many the judge could not score (left out of the mean, counted here)."""

    def __init__(self, max_failed_share=0.25):
        self.max_failed_share = max_failed_share
        self._steps = {}

    def add(self, step, rewards, failures):
        """Records one scored call of `step`: its rewards (None where unscored) and the
        [(id, error)] of the unscored. Raises `JudgeFailed` when more than the allowed share of
        the call's completions went unscored."""
        unscored = sum(r is None for r in rewards)
        if unscored and unscored > self.max_failed_share * len(rewards):
            raise judge_failed(failures, len(rewards))
        s = self._steps.setdefault(step, {"rewards": [], "judge_failures": 0})
        s["rewards"].extend(r for r in rewards if r is not None)
        s["judge_failures"] += unscored

    def points(self):
        out = []
        for step in sorted(self._steps):
            r, failed = self._steps[step]["rewards"], self._steps[step]["judge_failures"]
            mean = sum(r) / len(r) if r else None
            std = (sum((x - mean) ** 2 for x in r) / len(r)) ** 0.5 if r else None
            out.append({"step": step, "scored": len(r), "mean": mean, "std": std,
                        "min": min(r) if r else None, "max": max(r) if r else None,
                        "judge_failures": failed})
        return out

    def write(self, out_dir, title="GRPO with the UGST reward"):
        """Writes `curve.json` and `curve.png` into `out_dir`; returns their paths."""
        os.makedirs(out_dir, exist_ok=True)
        points = self.points()
        path = os.path.join(out_dir, "curve.json")
        with open(path, "w") as f:
            json.dump({"points": points}, f, indent=1)
        png = os.path.join(out_dir, "curve.png")
        draw_curve(points, png, title)
        return path, png


def draw_curve(points, png, title):
    """Mean reward per step with a band of one standard deviation, judge failures as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    pts = [p for p in points if p["mean"] is not None]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    steps = [p["step"] for p in pts]
    mean = [p["mean"] for p in pts]
    lo = [p["mean"] - p["std"] for p in pts]
    hi = [p["mean"] + p["std"] for p in pts]
    ax.fill_between(steps, lo, hi, alpha=0.25, label="± 1 std")
    ax.plot(steps, mean, marker="o", markersize=3, label="mean reward")
    ax.set_xlabel("optimizer step")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("UGST reward")
    failed = [(p["step"], p["judge_failures"]) for p in points if p["judge_failures"]]
    total = sum(n for _, n in failed)
    ax.set_title(f"{title} (judge failures: {total}, excluded)")
    if failed:
        ax2 = ax.twinx()
        ax2.bar([s for s, _ in failed], [n for _, n in failed], alpha=0.3, color="tab:red", label="judge failures")
        ax2.set_ylabel("judge failures")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def completion_text(completion):
    """TRL hands conversational completions as message lists and plain ones as strings."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content") or "" for m in completion if m.get("role") == "assistant")


def trl_reward(url=None, curve=None):
    """TRL's reward function. Without a curve any completion the judge could not score raises
    `JudgeFailed`; with one, up to its share goes unscored (None) and is counted per step."""
    curve = curve or RewardCurve(max_failed_share=0.0)

    async def ugst_reward(prompts, completions, ugst_context, trainer_state=None, log_metric=None, **kwargs):
        items = [
            {"id": str(i), "context": json.loads(ctx), "response": completion_text(c)}
            for i, (c, ctx) in enumerate(zip(completions, ugst_context))
        ]
        rewards, failures = await asyncio.to_thread(score_retried, items, url)
        step = (trainer_state.global_step if trainer_state is not None else 0) + 1
        curve.add(step, rewards, failures)
        if log_metric is not None:
            log_metric("ugst/judge_failures", float(len(failures)))
        return rewards

    ugst_reward.__name__ = "ugst_reward"
    return ugst_reward


def compute_score(data_source, solution_str, ground_truth, extra_info=None, reward_url=None, **kwargs):
    """verl's custom reward function. `reward_url` may come from verl's
    `custom_reward_function.reward_kwargs`; other keywords verl passes are accepted and unused."""
    context = json.loads(ground_truth) if isinstance(ground_truth, str) else ground_truth
    return score_all([{"id": "0", "context": context, "response": solution_str}], reward_url)[0]
