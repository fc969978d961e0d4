"""Load on a ugst server from outside with httpx (a client we did not write), for docs/performance.md.

    PY=~/.cache/ugst/py-interop/bin/python   # the interop environment (scripts/interop-env.sh)
    $PY scripts/load-servers.py URL chat|sim|reward N CLIENTS

N requests from CLIENTS concurrent clients: requests/s, p50 and p99. `sim` names goal hotel-1
(ugst goals demo). Idle connections: scripts/idle-connections.py.
"""
import asyncio, json, sys, time
import httpx

url, body_kind, n, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def body(i):
    if body_kind == "chat":
        return {"model": "mock", "messages": [{"role": "user", "content": f"Hello number {i}, can you help me book a hotel?"}]}
    if body_kind == "sim":
        return {"model": "any", "ugst_goal_id": "hotel-1", "messages": [{"role": "system", "content": "You are a hotel agent."}]}
    if body_kind == "reward":
        ctx = {"decomposition": {"user_profile": ["You are Ana."], "user_policy": [],
               "task_objectives": [{"text": "Book a hotel.", "requirements": [], "preferences": []}]}}
        return {"items": [{"id": str(i), "context": ctx, "response": f"I would like to book a hotel {i}."}]}

async def load():
    lat = []
    errors = 0
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(limits=limits, timeout=60) as c:
        q = asyncio.Queue()
        for i in range(n):
            q.put_nowait(i)
        async def worker():
            nonlocal errors
            while not q.empty():
                i = q.get_nowait()
                t = time.perf_counter()
                r = await c.post(url, json=body(i))
                lat.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors += 1
        t0 = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(conc)])
        wall = time.perf_counter() - t0
    lat.sort()
    return {"requests": n, "clients": conc, "rps": n / wall, "p50_ms": lat[len(lat)//2]*1000,
            "p99_ms": lat[int(len(lat)*0.99)-1]*1000, "errors": errors}

print(json.dumps(asyncio.run(load())))
