#!/usr/bin/env python3
"""A closed-loop HTTP client for the load tests: CLIENTS threads, each sending one request at
a time to URL, until the file STOPFILE exists or MAX_SECONDS pass. Counts every request: a
2xx answer is a success, anything else (an HTTP error such as HAProxy's 502 or 503, a reset,
a timeout) a failure. Prints one JSON line with the counts when it ends, and for the first
100 failures when each was sent ("failed_sent": [wall-clock seconds, what came back]). A
request that took over a second is also counted as hung ("hung", and for the first 100 when
each was sent: "hung_sent"), whatever came back.

TIMEOUT (default 15) is how long one request may take before the client gives up on it (a
user who does not wait): a failure, and the client goes on with its next request.

usage: load_client.py URL CLIENTS STOPFILE MAX_SECONDS [TIMEOUT]
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

url, clients, stopfile, max_seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 15
u = urllib.parse.urlsplit(url)
lock = threading.Lock()
counts = {"ok": 0, "failed": 0, "by_status": {}, "errors": {}, "failed_sent": [], "hung": 0, "hung_sent": []}
end = time.monotonic() + max_seconds


def worker():
    while time.monotonic() < end and not os.path.exists(stopfile):
        sent = time.time()
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
            c.request("GET", u.path or "/")
            r = c.getresponse()
            r.read()
            c.close()
            key, ok = str(r.status), 200 <= r.status < 300
        except Exception as e:  # a reset or a timeout is a failed request too
            key, ok = type(e).__name__, False
        took = time.time() - sent
        with lock:
            counts["ok" if ok else "failed"] += 1
            if took > 1:
                counts["hung"] += 1
                if len(counts["hung_sent"]) < 100:
                    counts["hung_sent"].append(round(sent, 3))
            if not ok:
                bucket = counts["by_status"] if key.isdigit() else counts["errors"]
                bucket[key] = bucket.get(key, 0) + 1
                if len(counts["failed_sent"]) < 100:
                    counts["failed_sent"].append([round(sent, 3), key])


threads = [threading.Thread(target=worker) for _ in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(counts), flush=True)
