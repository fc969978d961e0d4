"""LiteLLM, which keeps its own table of what OpenAI's reasoning models accept, against ugst's mock
in its reasoning-model mode (`ugst serve mock --reasoning-model`): LiteLLM's request for a model
it knows as a reasoning model must pass the mock's documented 400s; a name it does not know must
get the 400 OpenAI sends for `max_tokens`; the usage's reasoning tokens must be read; and
LiteLLM's own refusal of a temperature is printed so the Rust test can read its wording. Prints
one JSON line per check; exits 1 on the first failure.
Usage: reasoning_clients.py MOCK_BASE_URL"""

import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402

base = sys.argv[1]
messages = [{"role": "user", "content": "Hi, I need a hotel in the north."}]


def report(name, ok, **facts):
    print(json.dumps({"check": name, "ok": bool(ok), **facts}), flush=True)
    if not ok:
        sys.exit(1)


# A model LiteLLM knows as a reasoning model: it renames max_tokens and drops the temperature.
r = litellm.completion(
    model="openai/o3-mini",
    api_base=base,
    api_key="not-needed",
    messages=messages,
    max_tokens=64,
    temperature=0,
    drop_params=True,
)
details = getattr(r.usage, "completion_tokens_details", None)
reasoning = getattr(details, "reasoning_tokens", None)
report(
    "litellm o3-mini request accepted",
    bool(r.choices[0].message.content),
    content=r.choices[0].message.content[:60],
)
report("litellm reads reasoning tokens", reasoning == 64, reasoning_tokens=reasoning)

# A name LiteLLM does not know: it sends max_tokens, and the mock answers as OpenAI does.
try:
    litellm.completion(
        model="openai/house-reasoner",
        api_base=base,
        api_key="not-needed",
        messages=messages,
        max_tokens=64,
        num_retries=0,
    )
    report("litellm unknown name refused", False, why="no 400 came back")
except litellm.BadRequestError as e:
    report(
        "litellm unknown name refused",
        "max_completion_tokens" in str(e),
        message=str(e)[:300],
    )

# LiteLLM's own refusal, before anything is sent (what its proxy answers such a request with).
try:
    litellm.completion(
        model="openai/o3-mini",
        api_base=base,
        api_key="not-needed",
        messages=messages,
        temperature=0,
        drop_params=False,
        num_retries=0,
    )
    report("litellm refuses temperature", False, why="LiteLLM sent it")
except Exception as e:  # noqa: BLE001 - the class differs between LiteLLM versions
    report("litellm refuses temperature", "temperature" in str(e), message=str(e))
