"""Real clients against `ugst serve simulator` (and `ugst serve reward`): the official openai SDK
and LiteLLM, plain and streamed, content as a string and as parts, system and developer roles;
then a harness-style call with no goal id. Prints one JSON line per check; exits 1 on the first
failure. Usage: simulator_clients.py SIMULATOR_BASE_URL GOAL_ID [REWARD_BASE_URL]

With $UGST_SERVE_KEY set (servers started with --api-key-env), every client sends it as its API
key, the way τ²-bench passes `api_key` through LiteLLM, and a wrong key must get 401."""

import json
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
import openai  # noqa: E402
import requests  # noqa: E402

base, goal = sys.argv[1], sys.argv[2]
reward = sys.argv[3] if len(sys.argv) > 3 else None
headers = {"x-ugst-goal": goal}
key = os.environ.get("UGST_SERVE_KEY", "not-needed")


def report(name, ok, **facts):
    print(json.dumps({"check": name, "ok": bool(ok), **facts}), flush=True)
    if not ok:
        sys.exit(1)


def history(parts):
    """An agent-side conversation: the simulated user spoke once, the agent answered."""
    first = [{"type": "text", "text": "Hi, I need a hotel."}] if parts else "Hi, I need a hotel."
    return [
        {"role": "system", "content": "You are a hotel booking agent."},
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": first},
        {"role": "assistant", "content": "Sure. Which area and price range?"},
    ]


client = openai.OpenAI(base_url=base, api_key=key)
for parts in (False, True):
    r = client.chat.completions.create(
        model="ugst", messages=history(parts), extra_headers=headers
    )
    text = r.choices[0].message.content
    report(
        f"openai-sdk plain content={'parts' if parts else 'string'}",
        text and r.usage is not None and r.usage.total_tokens >= 0,
        text=text,
        usage=r.usage.model_dump() if r.usage else None,
        sdk=openai.__version__,
    )

stream = client.chat.completions.create(
    model="ugst",
    messages=history(True),
    extra_headers=headers,
    stream=True,
    stream_options={"include_usage": True},
)
pieces, usage = [], None
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
    if chunk.usage is not None:
        usage = chunk.usage
report("openai-sdk stream", "".join(pieces) and usage is not None, text="".join(pieces),
       usage=usage.model_dump() if usage else None)

kw = dict(model="openai/ugst", api_base=base, api_key=key, extra_headers=headers)
r = litellm.completion(messages=history(False), **kw)
report("litellm plain", r.choices[0].message.content and r.usage is not None,
       text=r.choices[0].message.content, litellm=litellm.__version__ if hasattr(litellm, "__version__") else "")
pieces = [
    c.choices[0].delta.content or ""
    for c in litellm.completion(messages=history(True), stream=True, **kw)
    if c.choices
]
report("litellm stream", "".join(pieces), text="".join(pieces))

# A harness calling its user model: no goal id, the instructions in the system prompt, the
# roles flipped (the agent's lines are `user`).
scenario = (
    "Simulate a customer.\n<scenario>\nYou want to cancel order #W2378156 because you no longer "
    "need it. Your name is Yusuf Rossi, zip code 19122.\n</scenario>"
)
flipped = [
    {"role": "system", "content": scenario},
    {"role": "user", "content": "Hi! How can I help you today?"},
]
r = litellm.completion(model="openai/ugst", api_base=base, api_key=key, messages=flipped)
text = r.choices[0].message.content
report("litellm harness-style (goal from <scenario>)", text and "###" not in text, text=text)
flipped += [
    {"role": "assistant", "content": text},
    {"role": "user", "content": "YOU ARE BEING TRANSFERRED TO A HUMAN AGENT. PLEASE HOLD ON."},
]
r = litellm.completion(model="openai/ugst", api_base=base, api_key=key, messages=flipped)
report("litellm harness-style transfer", r.choices[0].message.content == "###TRANSFER###",
       text=r.choices[0].message.content)

if "UGST_SERVE_KEY" in os.environ:
    try:
        openai.OpenAI(base_url=base, api_key="wrong-key").chat.completions.create(
            model="ugst", messages=history(False), extra_headers=headers)
        report("openai-sdk wrong key refused", False)
    except openai.AuthenticationError as e:
        report("openai-sdk wrong key refused", e.status_code == 401, status=e.status_code)

if reward:
    # `ugst serve reward` with plain requests (the project's own client has its own test).
    context = {
        "goal": "You want to book a hotel in the north with free wifi.",
        "history": [
            {"speaker": "user", "text": "Hi, I need a hotel in the north."},
            {"speaker": "agent", "text": "I found two hotels in the north."},
        ],
    }
    response = ("<think>\nProgress: a hotel is found.\nPlan: ask about wifi.\n"
                "Alignment: on goal.\n</think>\nDoes it have free wifi?")
    r = requests.post(f"{reward}/v1/ugst/score", timeout=120,
                      headers={"authorization": f"Bearer {key}"},
                      json={"items": [{"id": "a", "context": context, "response": response}]})
    res = r.json()["results"][0] if r.ok else {}
    report("requests reward score", r.ok and isinstance(res.get("reward"), float),
           status=r.status_code, result=res, requests=requests.__version__)
