"""Load on a ugst server from outside with httpx (a client we did not write), for docs/performance.md.

    PY=~/.cache/ugst/py-interop/bin/python   # the interop environment (scripts/interop-env.sh)
    $PY scripts/load-servers.py URL chat|sim|reward N CLIENTS

N requests from CLIENTS concurrent clients: requests/s, p50 and p99; then a normal request while
1,000 idle half-open connections are held. `sim` names goal hotel-1 (ugst goals demo).
"""
import asyncio, json, socket, sys, time
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

def idle(host, port, k=1000):
    socks = []
    for _ in range(k):
        s = socket.create_connection((host, port))
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    t = time.perf_counter()
    try:
        r = httpx.post(url, json=body(0), timeout=60)
        status = r.status_code
    except Exception as e:
        status = repr(e)
    took = time.perf_counter() - t
    closed = 0
    for s in socks:
        s.settimeout(0.01)
        try:
            if s.recv(1) == b"":
                closed += 1
        except (socket.timeout, BlockingIOError, OSError):
            pass
        s.close()
    return {"idle": k, "normal_request_status": status, "normal_request_s": took, "idle_closed_by_then": closed}

res = asyncio.run(load())
host, port = url.split("//")[1].split("/")[0].split(":")
res.update(idle(host, int(port)))
print(json.dumps(res))
