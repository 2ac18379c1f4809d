#!/usr/bin/env python3
"""make bench: plays supervisord over the eventlistener protocol against the listener and
against a minimal C floor (bench/floor.c), interleaved, with a real HAProxy over a unix
socket and over TCP. Prints figures; it never passes or fails on speed.

Latency of one event: from writing the event to reading "RESULT 2\\nOK" and "READY\\n".
The listener acknowledges an event before applying it, so its figure holds the previous
event's exchange with HAProxy; the floor's holds its own. In a stream of events both are
one protocol round trip plus one HAProxy exchange per event."""
import argparse, os, platform, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACK = b"RESULT 2\nOKREADY\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_haproxy(run):
    env = dict(os.environ)
    tcp = free_port()
    env.update(SH_STATS_TCP=f"ipv4@127.0.0.1:{tcp}", SH_STATS_UNIX=f"{run}/admin.sock",
               SH_STATS_USER=f"{run}/user.sock", SH_FRONTEND=f"127.0.0.1:{free_port()}",
               SH_APP_HOST="127.0.0.1", SH_WEB1_PORT=str(free_port()), SH_WEB2_PORT=str(free_port()),
               SH_API_PORT_BASE="40000", SH_API_PORT_1="40001")
    p = subprocess.Popen(["haproxy", "-db", "-f", f"{TOP}/examples/haproxy.cfg"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(f"{run}/admin.sock"):
            break
        time.sleep(0.05)
    time.sleep(0.1)
    return p, tcp


def unix_command(path, line):
    """One runtime API command over a unix socket, its whole answer (None when it failed)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(1)
    try:
        s.connect(path)
        s.sendall(line)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    except OSError:
        return None
    finally:
        s.close()


def read_exactly(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise RuntimeError(f"closed after {buf!r}")
        buf += chunk
    return buf


def event(i):
    state = b"STOPPED" if i % 2 == 0 else b"RUNNING"
    payload = b"processname:web1 groupname:web1 from_state:STARTING pid:4242"
    return (b"ver:3.0 server:supervisor serial:%d pool:haproxy poolserial:%d eventname:PROCESS_STATE_%s len:%d\n"
            % (i, i, state, len(payload)) + payload)


def run_events(cmd, n):
    """Per-event latencies (ns) and the peak RSS (kB) after n events."""
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    fin, fout = p.stdin.fileno(), p.stdout.fileno()
    assert read_exactly(fout, 6) == b"READY\n"
    events = [event(i) for i in range(n)]
    lat = []
    for ev in events:
        t = time.perf_counter_ns()
        os.write(fin, ev)
        if read_exactly(fout, len(ACK)) != ACK:
            raise RuntimeError("bad acknowledgement")
        lat.append(time.perf_counter_ns() - t)
    with open(f"/proc/{p.pid}/status") as f:
        hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
    p.stdin.close()
    p.wait()
    return lat, hwm


def time_to_ready(cmd, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter_ns()
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             bufsize=0, env={})
        read_exactly(p.stdout.fileno(), 6)
        times.append(time.perf_counter_ns() - t)
        p.stdin.close()
        p.wait()
    return statistics.median(times) / 1e6


def cpu_ns(pid):
    """CPU time a process has used, in ns (/proc/PID/schedstat)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def hanging_acks(listener, run, n=200):
    """Acknowledgement latency while two stats sockets accept and never answer (--timeout 30)."""
    socks = []
    for k in range(2):
        s = socket.socket(socket.AF_UNIX)
        s.bind(f"{run}/hang{k}.sock")
        s.listen(64)
        socks.append(s)
    cmd = [listener, "--timeout", "30", "--resync", "0", "--socket", f"unix://{run}/hang0.sock",
           "--socket", f"unix://{run}/hang1.sock", "web1:web/web1"]
    try:
        lat, _ = run_events(cmd, n)
    finally:
        for s in socks:
            s.close()
    return lat


def scale(listener, run, n):
    """n mapped servers in n/100 backends of a real HAProxy: CPU for the start-up check, the
    wait of the first event behind it, and the CPU of each resync."""
    cfg = f"{run}/scale-{n}.cfg"
    with open(cfg, "w") as f:
        f.write(f"global\n    stats socket {run}/scale-{n}.sock mode 600 level admin\n"
                "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n")
        for b in range(max(1, n // 100)):
            f.write(f"backend b{b}\n")
            for i in range(b * 100, min(n, (b + 1) * 100)):
                f.write(f"    server s{i} 127.0.0.1:9\n")
    h = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(f"{run}/scale-{n}.sock"):
                break
            time.sleep(0.05)
        time.sleep(0.2)
        mappings = [f"p{i}:b{i // 100}/s{i}" for i in range(n)]
        log = f"{run}/scale-{n}.log"
        p = subprocess.Popen([listener, "--verbose", "--resync", "1", f"unix://{run}/scale-{n}.sock"] + mappings,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log, "w"), bufsize=0)
        fin, fout = p.stdin.fileno(), p.stdout.fileno()
        t = time.perf_counter_ns()
        assert read_exactly(fout, 6) == b"READY\n"
        os.write(fin, event(1))
        read_exactly(fout, len(ACK))
        first_ack = (time.perf_counter_ns() - t) / 1e6
        while "read 'show servers state'" not in open(log).read():
            time.sleep(0.01)
        startup = cpu_ns(p.pid) / 1e6
        before, reads_before = cpu_ns(p.pid), open(log).read().count("read 'show servers state'")
        time.sleep(5.2)
        reads = open(log).read().count("read 'show servers state'") - reads_before
        per_resync = (cpu_ns(p.pid) - before) / 1e6 / max(1, reads)
        p.stdin.close()
        p.wait()
        return startup, first_ack, per_resync
    finally:
        h.terminate()
        h.wait()


def watch_cost(run, n=1000, reads=50):
    """What one read of a watched batch (`restart --rolling --healthy-for`: show info, then
    show stat of the batch's backend) costs HAProxy with n servers in that backend: its CPU
    per read, the answer's size and its wall time."""
    cfg = f"{run}/watch-{n}.cfg"
    sock = f"{run}/watch-{n}.sock"
    with open(cfg, "w") as f:
        f.write(f"global\n    stats socket {sock} mode 600 level admin\n"
                "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n"
                "backend app\n")
        for i in range(n):
            f.write(f"    server s{i} 127.0.0.1:9\n")
    h = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(sock) and unix_command(sock, b"show info\n"):
                break
            time.sleep(0.05)
        before, t, size = cpu_ns(h.pid), time.perf_counter_ns(), 0
        for _ in range(reads):
            unix_command(sock, b"show info\n")
            size = len(unix_command(sock, b"show stat app 4 -1\n") or b"")
        wall = (time.perf_counter_ns() - t) / 1e6 / reads
        return (cpu_ns(h.pid) - before) / 1e6 / reads, size, wall
    finally:
        h.terminate()
        h.wait()


def wrap_memory(static, run):
    """Two static wraps around `sleep`: the second one's private dirty memory (its own: heap,
    stack, data) and its proportional share of what it maps (code pages are shared between
    the two), and its CPU over 2 idle seconds."""
    cmd = [static, "wrap", "--supervisor", "none", f"unix://{run}/admin.sock", "web/web1", "--", "sleep", "1000"]
    ps = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    time.sleep(0.5)
    p = ps[1]
    before = cpu_ns(p.pid)
    time.sleep(2)
    idle = (cpu_ns(p.pid) - before) / 1e6
    fields = {}
    with open(f"/proc/{p.pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                fields[k] = int(v.split()[0])
    for q in ps:
        q.terminate()
        q.wait()
    return fields.get("Private_Dirty", 0), fields.get("Pss", 0), fields.get("Rss", 0), idle


def listener_idle(listener, run, seconds=5):
    """The listener's CPU per idle second with default options (reload check every second,
    resync every 30 s) against a real HAProxy."""
    p = subprocess.Popen([listener, "--supervisor", "none", f"unix://{run}/admin.sock", "web1:web/web1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    read_exactly(p.stdout.fileno(), 6)
    time.sleep(1)
    before = cpu_ns(p.pid)
    time.sleep(seconds)
    per_second = (cpu_ns(p.pid) - before) / 1e6 / seconds
    p.stdin.close()
    p.wait()
    return per_second


def gate_cost(listener, run, rounds=5):
    """The readiness gate's own cost: from the program's first listen to ready in HAProxy,
    for a server HAProxy checks (inter 500 ms, rise 2: at least one interval before the
    second check passes) and for one without a check (the connect probe, every 200 ms)."""
    ports = (free_port(), free_port())
    cfg = f"{run}/gate.cfg"
    with open(cfg, "w") as f:
        f.write(f"global\n    stats socket {run}/gate.sock mode 600 level admin\n"
                "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
                "backend app\n    option httpchk GET /\n"
                f"    server checked 127.0.0.1:{ports[0]} check inter 500 rise 2 fall 2\n"
                f"    server unchecked 127.0.0.1:{ports[1]}\n")
    h = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def admin(line):
        s = socket.socket(socket.AF_UNIX)
        s.connect(f"{run}/gate.sock")
        s.sendall(line.encode() + b"\n")
        out = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
        s.close()
        return out.decode()

    for _ in range(100):
        if os.path.exists(f"{run}/gate.sock"):
            break
        time.sleep(0.05)
    time.sleep(0.2)
    p = subprocess.Popen([listener, "--resync", "0", f"unix://{run}/gate.sock", "checked:app/checked", "unchecked:app/unchecked"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    fin, fout = p.stdin.fileno(), p.stdout.fileno()
    read_exactly(fout, 6)
    serial = [0]

    def send(state, name):
        serial[0] += 1
        payload = f"processname:{name} groupname:{name} from_state:STARTING pid:1".encode()
        os.write(fin, b"ver:3.0 server:supervisor serial:%d pool:p poolserial:%d eventname:PROCESS_STATE_%s len:%d\n"
                 % (serial[0], serial[0], state.encode(), len(payload)) + payload)
        read_exactly(fout, len(ACK))

    def ready(name):
        for line in admin("show servers state app").split("\n"):
            f = line.split(" ")
            if len(f) > 6 and f[3] == name:
                return int(f[6]) & 0x09 == 0
        return False

    costs = {"checked": [], "unchecked": []}
    try:
        for _ in range(rounds):
            for k, name in enumerate(("checked", "unchecked")):
                send("STOPPED", name)
                while ready(name):
                    time.sleep(0.01)
                send("RUNNING", name)
                time.sleep(1.0)  # the program loads; the gate holds it out
                srv = socket.socket()
                srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                srv.bind(("127.0.0.1", ports[k]))
                srv.listen(64)
                stop = [False]

                def serve():
                    while not stop[0]:
                        try:
                            c, _ = srv.accept()
                        except OSError:
                            return
                        c.recv(4096)
                        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                        c.close()
                import threading
                t = threading.Thread(target=serve, daemon=True)
                t.start()
                t0 = time.perf_counter()
                while not ready(name) and time.perf_counter() - t0 < 10:
                    time.sleep(0.005)
                costs[name].append(time.perf_counter() - t0)
                stop[0] = True
                srv.close()
    finally:
        p.stdin.close()
        p.wait()
        h.terminate()
        h.wait()
    return {k: statistics.median(v) * 1000 for k, v in costs.items()}


def agent_answers(listener, n=20000, clients=4):
    """The agent port: the latency of one answer (connect, `web/web1\\n`, the line back, close:
    one HAProxy agent check, from a Python client), and answers per CPU-second of the
    listener (its one core) under `clients` client processes asking in closed loops."""
    port = free_port()
    p = subprocess.Popen([listener, "--supervisor", "none", "--ready-when", "running", "--agent", f"127.0.0.1:{port}",
                          "web1:web/web1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    read_exactly(p.stdout.fileno(), 6)
    p.stdin.write(event(1))
    read_exactly(p.stdout.fileno(), len(ACK))

    def ask():
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"web/web1\n")
        answer = s.recv(64)
        s.close()
        return answer

    while ask() != b"ready\n":
        time.sleep(0.01)
    latencies = []
    for _ in range(2000):
        t0 = time.perf_counter_ns()
        ask()
        latencies.append(time.perf_counter_ns() - t0)
    loop = ("import socket,sys\nfor _ in range(int(sys.argv[2])):\n"
            " s=socket.create_connection(('127.0.0.1',int(sys.argv[1])));s.sendall(b'web/web1\\n');s.recv(64);s.close()\n")
    before = cpu_ns(p.pid)
    t0 = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", loop, str(port), str(n // clients)]) for _ in range(clients)]
    for c in procs:
        c.wait()
    wall = time.monotonic() - t0
    cpu = (cpu_ns(p.pid) - before) / 1e9
    with open(f"/proc/{p.pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
    p.stdin.close()
    p.wait()
    return pct(latencies, 0.5) / 1e3, pct(latencies, 0.99) / 1e3, n / cpu, n / wall, rss


def reload_windows(listener, reloads=5):
    """After `kill -USR2` of a master-worker HAProxy, how long the new worker has a stopped
    program's server ready and UP (in rotation) before something takes it out, on each path:
    push with the show info poll (the default), the agent alone, push with --state-file, and
    the agent with the balancer's own state dump before the reload. Checks `inter 2s`, the
    stopped server second of two (its first check half an interval into the worker's life)."""
    results = {}
    for path in ("push", "agent", "push+state-file", "agent+dump"):
        run = tempfile.mkdtemp(prefix="sh-bench-reload-")
        agent, app1, app2, front = free_port(), free_port(), free_port(), free_port()
        state = f"{run}/server-state"
        uses_state = "state" in path or "dump" in path
        pull = f" agent-check agent-addr 127.0.0.1 agent-port {agent} agent-inter 500" if path.startswith("agent") else ""
        cfg = (f"global\n    stats socket {run}/admin.sock mode 600 level admin\n"
               + (f"    server-state-file {state}\n" if uses_state else "")
               + "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
               + ("    load-server-state-from-file global\n" if uses_state else "")
               + f"frontend f\n    bind 127.0.0.1:{front}\n    default_backend web\nbackend web\n"
               + f"    server app1 127.0.0.1:{app1} check inter 2s{pull} agent-send \"web/app1\\n\"\n"
               + f"    server app2 127.0.0.1:{app2} check inter 2s{pull} agent-send \"web/app2\\n\"\n")
        with open(f"{run}/h.cfg", "w") as f:
            f.write(cfg)
        ha = subprocess.Popen(["haproxy", "-W", "-db", "-f", f"{run}/h.cfg"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", app1))
        server.listen(64)
        for _ in range(100):
            if os.path.exists(f"{run}/admin.sock"):
                break
            time.sleep(0.05)
        time.sleep(0.2)
        args = [listener, "--supervisor", "none", "--ready-when", "running"]
        if path.startswith("agent"):
            args += ["--agent", f"127.0.0.1:{agent}"]
        else:
            args += (["--state-file", state] if uses_state else []) + [f"unix://{run}/admin.sock"]
        p = subprocess.Popen(args + ["app1:web/app1", "app2:web/app2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, bufsize=0)
        read_exactly(p.stdout.fileno(), 6)
        for i, (name, st) in enumerate(((b"app1", b"RUNNING"), (b"app2", b"STOPPED"))):
            payload = b"processname:%s groupname:%s from_state:STARTING pid:1" % (name, name)
            p.stdin.write(b"ver:3.0 server:supervisor serial:%d pool:haproxy poolserial:%d eventname:PROCESS_STATE_%s len:%d\n"
                          % (i + 1, i + 1, st, len(payload)) + payload)
            read_exactly(p.stdout.fileno(), len(ACK))

        def sample():
            data = unix_command(f"{run}/admin.sock", b"show info;show stat\n")
            if data is None:
                return None, None
            text = data.decode(errors="replace")
            pid = next((l.split(":")[1].strip() for l in text.splitlines() if l.startswith("Pid:")), None)
            row = next((l.split(",") for l in text.splitlines() if l.startswith("web,app2,")), None)
            return pid, (row[17] if row and len(row) > 17 else None)

        time.sleep(1.5)
        windows = []
        for _ in range(reloads):
            if path == "agent+dump":
                with open(state, "wb") as f:
                    f.write(unix_command(f"{run}/admin.sock", b"show servers state\n") or b"")
            old, _ = sample()
            ha.send_signal(signal.SIGUSR2)
            t0 = time.monotonic()
            first = None
            while time.monotonic() - t0 < 5:
                pid, status = sample()
                now = time.monotonic()
                if pid and pid != old:
                    first = first or now
                    if status is not None and not status.startswith("UP"):
                        windows.append((now - first) * 1000)
                        break
                time.sleep(0.002)
            time.sleep(1.5)
        results[path] = windows
        p.stdin.close()
        p.wait()
        ha.terminate()
        ha.wait()
        server.close()
        shutil.rmtree(run, ignore_errors=True)
    return results


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listener", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--static", help="the static build: its RSS, start-up time and size are the deployed figures")
    ap.add_argument("--print", help="a static Swift binary that only prints READY: the Swift floor")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--events", type=int, default=500, help="events per run; runs alternate floor and listener")
    a = ap.parse_args()
    run = tempfile.mkdtemp(prefix="sh-bench-")
    haproxy, tcp = start_haproxy(run)
    try:
        transports = {
            # The floor sends one `set server` per event: so does the listener with the
            # readiness gate off (its cost is measured on its own, gate_cost).
            "unix": ([a.listener, "--resync", "0", "--ready-when", "running", f"unix://{run}/admin.sock", "web1:web/web1"],
                     [a.floor, f"unix:{run}/admin.sock", "web/web1"]),
            "tcp": ([a.listener, "--resync", "0", "--ready-when", "running", f"tcp://127.0.0.1:{tcp}", "web1:web/web1"],
                    [a.floor, f"tcp:127.0.0.1:{tcp}", "web/web1"]),
        }
        results = {(t, w): [] for t in transports for w in ("listener", "floor")}
        for r in range(a.rounds):
            for t, (listener, floor) in transports.items():
                order = [("floor", floor), ("listener", listener)]
                if r % 2:
                    order.reverse()
                for who, cmd in order:
                    results[(t, who)] += run_events(cmd, a.events)[0]
        _, rss = run_events(transports["unix"][0], 3000)
        static_rss = None
        if a.static and os.path.exists(a.static):
            _, static_rss = run_events([a.static] + transports["unix"][0][1:], 3000)
        _, floor_rss = run_events(transports["unix"][1], 3000)
        static = a.static if a.static and os.path.exists(a.static) else None
        ready = time_to_ready((static or a.listener, f"unix://{run}/admin.sock", "web1:web/web1"), 100)
        floor_ready = time_to_ready((a.floor, f"unix:{run}/admin.sock", "web/web1"), 100)
        size = os.path.getsize(static) if static else None
        hang = hanging_acks(a.listener, run)
        scales = {n: scale(a.listener, run, n) for n in (100, 1000, 10000)}
        watch = watch_cost(run)
        wrap_dirty = wrap_pss = wrap_rss = wrap_idle = None
        if static:
            wrap_dirty, wrap_pss, wrap_rss, wrap_idle = wrap_memory(static, run)
        idle = listener_idle(static or a.listener, run)
        gate = gate_cost(a.listener, run)
        agent = agent_answers(static or a.listener)
        windows = reload_windows(a.listener)
        print_ready = print_rss = None
        if a.print:
            print_ready = time_to_ready([a.print], 100)
            p = subprocess.Popen([a.print], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
            read_exactly(p.stdout.fileno(), 6)
            with open(f"/proc/{p.pid}/status") as f:
                print_rss = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
            p.stdin.close()
            p.wait()
    finally:
        haproxy.terminate()
        haproxy.wait()
        shutil.rmtree(run, ignore_errors=True)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    hv = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine: {os.cpu_count()} cores, {cpu}, Linux {platform.release()}; {hv}")
    print(f"events: {a.rounds} rounds x {a.events} events per run, floor and listener interleaved\n")
    print(f"{'':24} {'p50 us':>8} {'p99 us':>8} {'events/s':>9} {'p50 vs floor':>13}")
    for t in transports:
        floor_p50 = pct(results[(t, 'floor')], 0.5)
        for who in ("floor", "listener"):
            lat = results[(t, who)]
            p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
            eps = len(lat) / (sum(lat) / 1e9)
            print(f"{who + ' over ' + t:24} {p50 / 1e3:8.1f} {p99 / 1e3:8.1f} {eps:9.0f} {p50 / floor_p50:12.2f}x")
    print()
    if static_rss:
        print(f"peak RSS after 3,000 events: listener {static_rss / 1024:.2f} MB static ({rss / 1024:.2f} MB dynamically linked), floor {floor_rss / 1024:.2f} MB")
    else:
        print(f"peak RSS after 3,000 events: listener {rss / 1024:.2f} MB, floor {floor_rss / 1024:.2f} MB")
    print(f"exec to first READY (median of 100): listener {ready:.2f} ms{' (static)' if static else ''}, floor {floor_ready:.2f} ms")
    if print_rss:
        print(f"static Swift print binary: peak RSS {print_rss / 1024:.2f} MB, exec to READY {print_ready:.2f} ms")
    if size:
        print(f"static binary: {size / 1e6:.2f} MB ({size} bytes)")
    print(f"\nacknowledgements with two stats sockets that never answer (--timeout 30): "
          f"p50 {pct(hang, 0.5) / 1e3:.1f} us, p99 {pct(hang, 0.99) / 1e3:.1f} us, max {max(hang) / 1e3:.1f} us")
    print(f"\n{'mapped servers':>15} {'start-up check CPU ms':>22} {'first ack ms':>13} {'CPU per resync ms':>18}")
    for n, (startup, first, resync) in scales.items():
        print(f"{n:>15,} {startup:>22.1f} {first:>13.2f} {resync:>18.2f}")
    print(f"\nrestart --rolling --healthy-for, one read of a batch in a backend of 1,000 servers (show info + show stat "
          f"of that backend, once a second): HAProxy CPU {watch[0]:.2f} ms a read ({watch[0] / 10:.2f} % of a core), "
          f"answer {watch[1] / 1024:.0f} KiB, {watch[2]:.1f} ms wall")
    print(f"\nlistener idle, default options (show info every second): {idle:.3f} ms of CPU per second")
    print(f"agent port: one answer p50 {agent[0]:.0f} us, p99 {agent[1]:.0f} us (connect to close, Python client); "
          f"{agent[2]:,.0f} answers per CPU-second of the listener ({agent[3]:,.0f}/s wall, 4 client processes); peak RSS {agent[4] / 1024:.2f} MB")
    print("after a reload, a stopped program's server in the new worker's rotation (median of 5, ms): "
          + ", ".join(f"{k} {statistics.median(v):.0f}" if v else f"{k} ?" for k, v in windows.items()))
    print(f"readiness gate, first listen to ready in HAProxy (median of 5): checked server {gate['checked']:.0f} ms "
          f"(inter 500 ms x rise 2 = 1000 ms), no check (connect probe every 200 ms) {gate['unchecked']:.0f} ms")
    if wrap_dirty is not None:
        print(f"wrap (static) around sleep, two running: {wrap_dirty} kB private dirty, {wrap_pss} kB proportional "
              f"share of {wrap_rss} kB resident; CPU over 2 idle seconds {wrap_idle:.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
