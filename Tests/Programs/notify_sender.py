#!/usr/bin/env python3
"""Sends hostile (or plain) datagrams to a notify socket, as a stranger or as the program's
own user would, for wrap --notify's tests. Prints how many datagrams the socket took.

  ready     READY=1, five times (sent as another uid: must change nothing)
  huge      one 64 KiB datagram that ends in READY=1
  garbage   binary junk, lines without '=', unknown keys, READY=0, a lower-case ready=1
  flood     STATUS=<n> as fast as the socket takes them, for SECONDS (default 2)
  fds       STATUS=x with three descriptors passed along (SCM_RIGHTS), 200 times

usage: notify_sender.py NAME MODE [SECONDS]
"""
import array
import os
import socket
import sys
import time

name, mode = sys.argv[1], sys.argv[2]
address = "\0" + name[1:] if name.startswith("@") else name
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setblocking(False)


def send(data, fds=None):
    """One datagram; waits (bounded) while the receiver's queue is full."""
    end = time.monotonic() + 2
    while True:
        try:
            if fds:
                s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))], 0, address)
            else:
                s.sendto(data, address)
            return 1
        except BlockingIOError:
            if time.monotonic() > end:
                return 0
            time.sleep(0.001)


sent = 0
if mode == "ready":
    sent = sum(send(b"READY=1\n") for _ in range(5))
elif mode == "huge":
    sent = send(b"A" * 65000 + b"\nREADY=1\n")
elif mode == "garbage":
    junk = [bytes(range(256)), b"READY", b"=1", b"\n\n\n", b"X_UNKNOWN=1\nERRNO=2", b"READY=0", b"ready=1",
            b"STATUS=\x1b[31mred\x1b[0m\nline two", b"\x00READY=1"]
    sent = sum(send(j) for j in junk)
elif mode == "flood":
    end = time.monotonic() + float(sys.argv[3] if len(sys.argv) > 3 else 2)
    n = 0
    while time.monotonic() < end:
        n += 1
        try:
            s.sendto(b"STATUS=%d" % n, address)
            sent += 1
        except BlockingIOError:
            time.sleep(0.0005)
elif mode == "fds":
    devnull = os.open("/dev/null", os.O_RDONLY)
    sent = sum(send(b"STATUS=x", [devnull, devnull, devnull]) for _ in range(200))
print(sent, flush=True)
