#!/usr/bin/env python3
"""Hostile clients for an agent port, all at once: SLOW connections that trickle a byte every
half second and never end a line (slowloris), FLOOD connections opened as fast as the kernel
takes them (a thousand at a time held open, then closed), LONG connections that each send
1 MB with no end of line, and GARBAGE lines of random bytes. Prints one JSON line: every
distinct answer read back (as Python's repr), and the counts.

usage: agent_hostile.py PORT SLOW FLOOD LONG GARBAGE
"""
import json
import os
import random
import resource
import socket
import sys
import threading
import time

port, slow, flood, long_, garbage = (int(a) for a in sys.argv[1:6])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
lock = threading.Lock()
answers = {}
counts = {"slow_closed_by_peer": 0, "flood_opened": 0, "flood_failed": 0, "long_closed_by_peer": 0, "garbage_sent": 0}


def note(answer):
    with lock:
        answers[repr(answer)] = answers.get(repr(answer), 0) + 1


def read_all(s):
    s.settimeout(5)
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data


def slowloris():
    socks = []
    for _ in range(slow):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            pass
    for _ in range(8):
        for s in list(socks):
            try:
                s.send(b"x")
            except OSError:
                socks.remove(s)
                with lock:
                    counts["slow_closed_by_peer"] += 1
        time.sleep(0.5)
    for s in socks:
        s.close()


def flooder():
    left = flood
    while left > 0:
        batch = []
        for _ in range(min(1000, left)):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect_ex(("127.0.0.1", port))
                batch.append(s)
            except OSError:
                with lock:
                    counts["flood_failed"] += 1
                s.close()
        left -= len(batch) or 1000
        with lock:
            counts["flood_opened"] += len(batch)
        time.sleep(0.2)
        for s in batch:
            s.close()


def long_line():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        chunk = b"a" * 65536
        for _ in range(16):
            s.sendall(chunk)
    except OSError:
        with lock:
            counts["long_closed_by_peer"] += 1
        return
    note(read_all(s))
    s.close()


def garbage_line(seed):
    r = random.Random(seed)
    line = bytes(r.randrange(256) for _ in range(r.randrange(1, 200))).replace(b"\n", b"").replace(b"\r", b"") + b"\n"
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(line)
        note(read_all(s))
        s.close()
        with lock:
            counts["garbage_sent"] += 1
    except OSError:
        note(b"<refused>")


threads = [threading.Thread(target=slowloris), threading.Thread(target=flooder)]
threads += [threading.Thread(target=long_line) for _ in range(long_)]
threads += [threading.Thread(target=garbage_line, args=(k,)) for k in range(garbage)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"answers": answers, "counts": counts}), flush=True)
