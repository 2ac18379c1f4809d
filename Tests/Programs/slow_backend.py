#!/usr/bin/env python3
"""A slow HTTP backend for the load tests: every GET but /health takes DELAY seconds (default 0.1) and
answers 200 with the backend's name. It dies at once on SIGTERM (Python's default), as most
application servers without a graceful mode do: whatever it was serving is lost.

With SH_BROKEN_FLAG set to a file that exists at start, it never listens: a program that
runs but never passes its health check. With SH_BIND_DELAY=SECONDS it loads for that long
before it binds its port, as application servers do (Zope, Java, Rails): supervisord says
RUNNING long before it serves. With SH_WORKERS=N it forks N workers that serve on its port
(a pre-fork server: gunicorn, uwsgi) while it waits; with SH_IGNORE_TERM=1 it and its
workers ignore SIGTERM, as uwsgi does by default (there TERM means reload).

With SH_RELEASE_FILE naming a file, the release it holds is read once at start, as new code
on disk is: "broken" answers 500 to 40 % of real requests (its /health still answers 200: a
missing template, a dead pool that the check does not see), "slow" takes twice DELAY, "flapping" fails its /health one
second in three (its real requests all fine); any
other content, or no file, is the good release. With SH_OUTAGE_FLAG set to a file that
exists at the time of a request, 40 % of real requests get 500 on every server, old release
or new (a database down for everyone).

usage: slow_backend.py PORT NAME [DELAY]
"""
import http.server
import itertools
import os
import signal
import sys
import time

if os.path.exists(os.environ.get("SH_BROKEN_FLAG", "/nonexistent")):
    print("broken: not listening", flush=True)
    while True:
        time.sleep(3600)

time.sleep(float(os.environ.get("SH_BIND_DELAY", "0")))

port, name = int(sys.argv[1]), sys.argv[2]
delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
try:
    with open(os.environ.get("SH_RELEASE_FILE", "/nonexistent")) as f:
        release = f.read().strip()
except OSError:
    release = "good"
if release == "slow":
    delay *= 2
outage_flag = os.environ.get("SH_OUTAGE_FLAG", "/nonexistent")
# Two of every five real requests (40 %), counted across threads.
counter = itertools.count()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        # HAProxy's health check is answered at once: a slow request is not a sick server.
        status = 200
        if self.path == "/health" and release == "flapping" and int(time.time()) % 3 == 0:
            status = 503
        if self.path != "/health":
            time.sleep(delay)
            if (release == "broken" or os.path.exists(outage_flag)) and next(counter) % 5 < 2:
                status = 500
        body = (name + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if os.environ.get("SH_IGNORE_TERM") == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
server.request_queue_size = 128
print(f"{name} listening on 127.0.0.1:{port}", flush=True)
workers = int(os.environ.get("SH_WORKERS", "0"))
for _ in range(workers):
    if os.fork() == 0:
        server.serve_forever()
if workers:
    while True:
        time.sleep(3600)
server.serve_forever()
