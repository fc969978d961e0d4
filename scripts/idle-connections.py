"""K idle half-open connections (headers never finished) against a server, then a normal request:
how long it took, and how many idle connections the server had closed then and 11 s later.

    $PY scripts/idle-connections.py URL K
"""
import json, socket, sys, time
import httpx
url, k = sys.argv[1], int(sys.argv[2])
host, port = url.split("//")[1].split("/")[0].split(":")
t0 = time.perf_counter()
socks = []
for _ in range(k):
    s = socket.create_connection((host, int(port)), timeout=60)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
opened = time.perf_counter() - t0
t = time.perf_counter()
try:
    r = httpx.post(url, json={"model": "mock", "messages": [{"role": "user", "content": "hi"}]}, timeout=60)
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
    except OSError:
        pass
time.sleep(11)
closed_later = 0
for s in socks:
    s.settimeout(0.01)
    try:
        if s.recv(1) == b"":
            closed_later += 1
    except OSError:
        pass
    s.close()
print(json.dumps({"idle": k, "open_s": round(opened, 2), "normal_status": status, "normal_s": round(took, 3),
                  "idle_closed_then": closed, "idle_closed_11s_later": closed_later}))
