#!/usr/bin/env python3
"""Strangers posing as load balancers on an agent port: from each source address given,
poll NAME (as HAProxy's agent-send does) every EVERY seconds, for SECONDS in all; with EVERY
0, poll twice 6 s apart and then stop (a poller that stays "current" and is never told).
Prints one line per distinct answer read back, with its count.

usage: agent_pollers.py PORT NAME EVERY SECONDS SOURCE...
"""
import socket
import sys
import threading
import time

port, name, every, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
sources = sys.argv[5:]
answers = {}
lock = threading.Lock()


def poll(source):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(source, 0))
        s.sendall((name + "\n").encode())
        data = s.recv(256)
        s.close()
    except OSError as e:
        data = repr(e).encode()
    with lock:
        answers[data] = answers.get(data, 0) + 1


def run(source):
    end = time.monotonic() + seconds
    if every == 0:
        poll(source)
        time.sleep(6)
        poll(source)
        return
    while time.monotonic() < end:
        poll(source)
        time.sleep(every)


threads = [threading.Thread(target=run, args=(s,)) for s in sources]
for t in threads:
    t.start()
for t in threads:
    t.join()
for a, n in sorted(answers.items()):
    print(f"{n} {a!r}")
