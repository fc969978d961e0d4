#!/usr/bin/env python3
"""Writes the finished conversations of a ugst run (its run.sqlite) as conversations.jsonl in
`ugst import --format chat-jsonl` form: {"id", "goal", "messages"} with the user's messages and
the agent's visible replies — what a tracker reads. Tool calls and tool results are left out:
they quote the τ-retail database, which is read in place and never copied here. The goal states
the run's tracker wrote are left out too, so whoever labels the set never sees a tracker's
reading.

    python3 export.py RUN_DIR [--only id,id] > conversations.jsonl
"""
import json, sqlite3, sys

run = sys.argv[1]
only = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[2] == "--only" else None
db = sqlite3.connect(f"{run}/run.sqlite")
rows = db.execute(
    "select c.goal_id, g.goal from conversations c join goals g on g.id = c.goal_id "
    "where c.status = 'finished' order by g.idx").fetchall()
for gid, goal in rows:
    cid = "retail-" + gid.rsplit("/", 1)[-1]
    if only and cid not in only:
        continue
    msgs = []
    for (rec,) in db.execute("select record from turns where goal_id = ? order by idx", (gid,)):
        t = json.loads(rec)
        msgs.append({"role": "user", "content": t["user"]})
        if t.get("agent") is not None:
            msgs.append({"role": "assistant", "content": t["agent"]})
    print(json.dumps({"id": cid, "goal": json.loads(goal)["goal"], "messages": msgs}, ensure_ascii=False))
