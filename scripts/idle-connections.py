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
def closed_by_server(socks):
    """How many of `socks` the server has closed (a read returns end of file)."""
    n = 0
    for s in socks:
        s.settimeout(0.01)
        try:
            n += s.recv(1) == b""
        except OSError:
            pass
    return n


closed = closed_by_server(socks)
time.sleep(11)
closed_later = closed_by_server(socks)
for s in socks:
    s.close()
print(json.dumps({"idle": k, "open_s": round(opened, 2), "normal_status": status, "normal_s": round(took, 3),
                  "idle_closed_then": closed, "idle_closed_11s_later": closed_later}))
