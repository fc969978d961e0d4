#!/usr/bin/env python3
"""Turns labels.txt (the hand labels, one block per conversation) into the two files ugst reads:
decompositions.jsonl ({"id", "state"}) and final_states.jsonl ({"id", "turn", "statuses",
"reasons"}). Run it after editing labels.txt; a test checks that the three files agree. Another
labelled set in the same form is built with `python3 build.py DIR`."""
import json, re, sys
from pathlib import Path

here = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
blocks, cur = [], None
for n, line in enumerate((here / "labels.txt").read_text().splitlines(), 1):
    if not line.strip():
        continue
    if line.startswith("@ "):
        cid, turn = line[2:].split()
        cur = {"id": cid, "turn": int(turn), "items": []}
        blocks.append(cur)
        continue
    m = re.match(r"^(\s*)(prof|pol|obj|req|pref): (.+?) => ([A-Z]+): (.+)$", line)
    if not m or cur is None:
        sys.exit(f"labels.txt:{n}: expected 'kind: text => STATUS: reason'")
    cur["items"].append((m.group(2), m.group(3), m.group(4), m.group(5), n))

dec, fin = [], []
for b in blocks:
    state = {"user_profile": [], "user_policy": [], "task_objectives": []}
    statuses, reasons = {}, {}
    for kind, text, status, reason, n in b["items"]:
        if kind == "prof":
            state["user_profile"].append(text); cid = f"prof-{len(state['user_profile'])}"
        elif kind == "pol":
            state["user_policy"].append(text); cid = f"pol-{len(state['user_policy'])}"
        elif kind == "obj":
            state["task_objectives"].append({"text": text, "requirements": [], "preferences": []})
            cid = f"obj-{len(state['task_objectives'])}"
        else:
            if not state["task_objectives"]:
                sys.exit(f"labels.txt:{n}: a {kind} before any objective")
            o = state["task_objectives"][-1]
            key = "requirements" if kind == "req" else "preferences"
            o[key].append(text)
            cid = f"{kind}-{len(state['task_objectives'])}.{len(o[key])}"
        statuses[cid] = status
        reasons[cid] = reason
    dec.append({"id": b["id"], "state": state})
    fin.append({"id": b["id"], "turn": b["turn"], "statuses": statuses, "reasons": reasons})

(here / "decompositions.jsonl").write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dec))
(here / "final_states.jsonl").write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in fin))
print(f"{len(blocks)} conversations, {sum(len(f['statuses']) for f in fin)} labels")
