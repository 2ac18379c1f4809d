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

The notify protocol (systemd's, spoken when NOTIFY_SOCKET is set): with SH_READY_DELAY=SECONDS
it binds at once but answers 503 to real requests for that long (a server still loading
behind an open port), then serves and says READY=1. With WATCHDOG_USEC it sends WATCHDOG=1
from its accept loop, three times per period; while the file SH_WEDGE_FLAG exists at a turn
of that loop, the loop wedges for SH_WEDGE_SECONDS (default 5): its port still accepts (the
kernel's backlog: a TCP check passes), nothing is answered, no ping is sent. On SIGHUP (with
NOTIFY_SOCKET) it reloads gracefully: RELOADING=1, 503 for SH_RELOAD_SECONDS (default 1), then
READY=1 again.

usage: slow_backend.py PORT NAME [DELAY]
"""
import http.server
import itertools
import os
import signal
import socket
import sys
import time

def notify(message):
    """One datagram to NOTIFY_SOCKET (a leading @: an abstract name), as sd_notify does."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(message.encode(), address)


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
        if self.path != "/health" and time.monotonic() < ready_at:
            status = 503
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


ready_delay = float(os.environ.get("SH_READY_DELAY", "0"))
ready_at = time.monotonic() + ready_delay
said_ready = False
watchdog_every = int(os.environ.get("WATCHDOG_USEC", "0")) / 3e6
last_ping = 0.0
wedge_flag = os.environ.get("SH_WEDGE_FLAG", "/nonexistent")


class Server(http.server.ThreadingHTTPServer):
    # The listen backlog, as app servers have it (gunicorn 2048, uWSGI 100): set on the
    # class, since the constructor already listens.
    request_queue_size = 128
    daemon_threads = True

    def service_actions(self):
        """Each turn of the accept loop: READY=1 once loaded, the watchdog's pings, a wedge."""
        global said_ready, last_ping
        if os.path.exists(wedge_flag):
            os.unlink(wedge_flag)
            time.sleep(float(os.environ.get("SH_WEDGE_SECONDS", "5")))
        now = time.monotonic()
        if not said_ready and now >= ready_at:
            said_ready = True
            notify("READY=1\nSTATUS=serving")
        if watchdog_every and now - last_ping >= watchdog_every:
            last_ping = now
            notify("WATCHDOG=1")


def reload(signum, frame):
    global ready_at, said_ready
    notify("RELOADING=1")
    ready_at = time.monotonic() + float(os.environ.get("SH_RELOAD_SECONDS", "1"))
    said_ready = False


if os.environ.get("NOTIFY_SOCKET"):
    signal.signal(signal.SIGHUP, reload)
if os.environ.get("SH_IGNORE_TERM") == "1":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
server = Server(("127.0.0.1", port), Handler)
print(f"{name} listening on 127.0.0.1:{port}", flush=True)
workers = int(os.environ.get("SH_WORKERS", "0"))
for _ in range(workers):
    if os.fork() == 0:
        server.serve_forever(poll_interval=0.05)
if workers:
    while True:
        time.sleep(3600)
server.serve_forever(poll_interval=0.05)
