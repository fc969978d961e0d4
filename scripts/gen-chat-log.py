"""A synthetic chat JSONL log for measuring import and eval at scale (docs/performance.md).

    python3 scripts/gen-chat-log.py N OUT.jsonl

N conversations of 10 turns, 8-40 words per message from a small vocabulary, seeded: the same
file every time. Then: ugst import OUT.jsonl --format chat-jsonl --out DIR; ugst eval DIR.
"""
import json
import random
import sys

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
words = ("hotel flight book cancel change cheap today please reservation refund order return "
         "exchange address payment the a my to for with and on in").split()


def sentence(lo, hi):
    return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))


with open(out, "w") as f:
    for i in range(n):
        messages = []
        for _ in range(10):
            messages.append({"role": "user", "content": sentence(8, 30)})
            messages.append({"role": "assistant", "content": sentence(10, 40)})
        goal = "You want to " + sentence(12, 12) + "."
        f.write(json.dumps({"id": f"c{i}", "goal": goal, "messages": messages}) + "\n")
