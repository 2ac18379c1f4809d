import Foundation
import Glibc
import Testing

// `wrap`: drain before the stop signal reaches the program. Under load with the real
// programs (and a control run without it that must lose requests), then each behaviour on
// its own against a real HAProxy.

/// Restarts app1 with supervisorctl and app2 over XML-RPC (as memmon does) under a
/// closed-loop load; returns the client's counts.
private func restartBothUnderLoad(_ stack: LoadStack) throws -> (ok: Int, failed: Int, detail: String) {
    try stack.start()
    try stack.startLoad(clients: 8)
    usleep(800_000)
    #expect(stack.ctl("restart", "app1").contains("app1: started"))
    #expect(waitUntil(20) { stack.allUp() }, "app1 back: \(serverView(stack.adminSocket))")
    usleep(500_000)
    try stack.restartOverXMLRPC("app2")
    #expect(waitUntil(20) { stack.allUp() }, "app2 back: \(serverView(stack.adminSocket))")
    usleep(500_000)
    return try stack.stopLoad()
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct WrapUnderLoad {
    @Test func aRestartOfEachWrappedProgramLosesNoRequest() throws {
        let stack = try LoadStack(.wrapped)
        defer { stack.stop() }
        let r = try restartBothUnderLoad(stack)
        print("wrap under load: \(r.detail)")
        #expect(r.failed == 0, "\(r.detail)\n\(stack.dir.read("app1.err"))\n\(stack.dir.read("app2.err"))")
        #expect(r.ok > 50, "the load ran: \(r.detail)")
        let wrapLog = stack.dir.read("app1.err") + stack.dir.read("app2.err")
        #expect(wrapLog.contains("SIGTERM: draining app/app1") && wrapLog.contains("SIGTERM: draining app/app2"), "\(wrapLog)")
        #expect(wrapLog.contains("drained after"), "\(wrapLog)")
        for line in wrapLog.split(separator: "\n") where line.contains("drained after") { print("  \(line)") }
    }

    /// uwsgi's default: TERM reloads, and it runs workers. Restarted by supervisorctl under
    /// load: drained, TERM passed on (and ignored), then the program's whole process group
    /// killed before stopwaitsecs ends, so the new one binds its port: RUNNING again, no
    /// failed request, and nothing left of the old group (counted by process group).
    @Test func aProgramThatIgnoresTERMAndForksWorkersIsRestartedWithNothingLeftBehind() throws {
        let stack = try LoadStack(.wrapped, backends: .init(workers: 2, ignoreTerm: true, stopWaitSecs: 4))
        defer { stack.stop() }
        try stack.start()
        let wrapper = try #require(pid_t(stack.ctl("pid", "app1").trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(waitUntil(5) { !children(of: wrapper).isEmpty })
        let program = try #require(children(of: wrapper).first)
        #expect(waitUntil(5) { processes(inGroup: program).count == 3 }, "the program and its two workers: \(processes(inGroup: program))")
        try stack.startLoad(clients: 8)
        usleep(800_000)
        #expect(stack.ctl("restart", "app1").contains("app1: started"), "\(stack.dir.read("app1.err"))")
        #expect(waitUntil(20) { stack.allUp() }, "app1 back: \(serverView(stack.adminSocket))")
        usleep(500_000)
        let r = try stack.stopLoad()
        print("TERM-ignoring workers under wrap: \(r.detail)")
        #expect(r.failed == 0, "\(r.detail)")
        #expect(processes(inGroup: program).isEmpty, "left of the old group: \(processes(inGroup: program))")
        #expect(stack.ctl("status", "app1").contains("RUNNING"))
        let log = stack.dir.read("app1.err")
        #expect(log.contains("SIGKILL to its process group before supervisord kills the wrapper"), "\(log)")
        #expect(!stack.dir.read("supervisord.log").contains("with SIGKILL"), "supervisord never had to kill the wrapper")
    }

    /// The control: the same restarts without wrap lose the requests in flight, with the
    /// listener running. A test that cannot fail proves nothing.
    @Test func withoutWrapTheSameRestartsLoseRequests() throws {
        let stack = try LoadStack(.plain)
        defer { stack.stop() }
        let r = try restartBothUnderLoad(stack)
        print("no wrap under load: \(r.detail)")
        #expect(r.failed > 0, "\(r.detail)")
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct WrapUnderSupervisord {
    /// Without the listener, wrap keeps its servers right by itself: maint until supervisord
    /// reports the program RUNNING, then ready; its drain bound is half of stopwaitsecs.
    @Test func aloneItKeepsItsServersRight() throws {
        let stack = try LoadStack(.wrapped, listener: false)
        defer { stack.stop() }
        try stack.start()
        #expect(stack.ctl("stop", "app1").contains("app1: stopped"))
        #expect(serverView(stack.adminSocket)["app/app1"]?.admin == "maint")
        #expect(stack.ctl("start", "app1").contains("app1: started"))
        #expect(waitUntil(10) { stack.allUp() }, "\(serverView(stack.adminSocket))")
        let log = stack.dir.read("app1.err")
        #expect(log.contains("draining app/app1 (at most 5000 ms)"), "stopwaitsecs=10 from supervisord: \(log)")
        let lines = log.split(separator: "\n")
        let started = lines.lastIndex { $0.contains("RUNNING: app/app1 ready") }
        let stopped = lines.lastIndex { $0.contains("program was killed by SIGTERM; app/app1 to maint") }
        #expect(started != nil && stopped != nil && stopped! < started!, "\(log)")
    }

    /// supervisord shutting down stops every wrapped program through its wrapper: each
    /// server ends in maint and no program is left behind.
    @Test func supervisordsShutdownLeavesEveryServerInMaint() throws {
        let stack = try LoadStack(.wrapped)
        defer { stack.stop() }
        try stack.start()
        #expect(stack.shutDownSupervisord() == 0)
        let view = serverView(stack.adminSocket)
        #expect(view["app/app1"]?.admin == "maint" && view["app/app2"]?.admin == "maint", "\(view)")
        let left = try run("/usr/bin/pgrep", ["-f", Programs.backend + " (" + stack.appPorts[0].map(String.init).joined(separator: "|") + ")"])
        #expect(left.out.isEmpty, "backends left running: \(left.out)")
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct WrapStopWait {
    /// `wrap` as `user=nobody` while supervisord's socket is out of its reach (a 0700 folder):
    /// stopwaitsecs cannot be read. A program whose graceful stop takes 10 s (stopwaitsecs=30
    /// in truth) is never killed on a guess; `stopWait` gives `--stop-wait` (the control).
    private func stop(stopWait: [String]) throws -> (status: Int32?, graceful: Bool, log: String) {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        defer { haproxy.stop() }
        let binDir = TempDir()
        chmod(binDir.path, 0o777)
        let copy = binDir.file("supervisor-haproxy")
        try FileManager.default.copyItem(atPath: Paths.staticBinary, toPath: copy)
        let marker = binDir.file("graceful")
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = "unix://" + dir.file("supervisor.sock")
        env["SUPERVISOR_PROCESS_NAME"] = "web2"
        let program = "trap 'sleep 10; echo done > \(marker); exit 0' TERM; while :; do sleep 0.2; done"
        let w = try Child(which("setpriv"), ["--reuid=65534", "--regid=65534", "--clear-groups", copy, "wrap", "--ready-when", "running"]
                          + stopWait + [haproxy.tcpAddress, "web/web2", "--", "/bin/sh", "-c", program],
                          environment: env, stderr: dir.file("wrap.log"))
        defer { w.stop() }
        guard waitUntil(10, { dir.read("wrap.log").contains("ready at once") || dir.read("wrap.log").contains("RUNNING") }) else {
            throw TestFailure("not started: \(dir.read("wrap.log"))")
        }
        w.signal(SIGTERM)
        let status = w.waitExit(20)
        return (status, FileManager.default.fileExists(atPath: marker), dir.read("wrap.log"))
    }

    @Test func aStopWaitItCannotReadIsNeverGuessed() throws {
        let r = try stop(stopWait: [])
        #expect(r.log.contains("supervisord's stopwaitsecs for web2 unknown (connect unix://") && r.log.contains("Permission denied"), "\(r.log)")
        #expect(r.graceful, "the program's graceful stop was cut short: \(r.log)")
        #expect(r.status == 0, "\(r.log)")
        #expect(!r.log.contains("SIGKILL"), "\(r.log)")
    }

    @Test func anExplicitStopWaitWins() throws {
        let r = try stop(stopWait: ["--stop-wait", "4"])
        #expect(!r.log.contains("stopwaitsecs for web2 unknown"), "not asked: \(r.log)")
        #expect(r.log.contains("SIGKILL to its process group before supervisord kills the wrapper"), "\(r.log)")
        #expect(!r.graceful)
    }
}

/// Runs `wrap` on a command against the example HAProxy's unix socket; returns the child.
private func wrap(_ haproxy: HAProxy, _ servers: [String], _ command: [String], options: [String] = [],
                  dir: TempDir, pipeStdin: Bool = false, pipeStdout: Bool = false) throws -> Child {
    var env = ProcessInfo.processInfo.environment
    env["SUPERVISOR_SERVER_URL"] = nil
    // The wrapped commands here serve nothing behind the servers: the readiness gate is off.
    return try Child(Paths.binary, ["wrap", "--verbose", "--ready-when", "running"] + options + [haproxy.unixAddress] + servers + ["--"] + command,
                     environment: env, pipeStdin: pipeStdin, pipeStdout: pipeStdout, stderr: dir.file("wrap.log"))
}

/// The pids whose parent is `pid`.
private func children(of pid: pid_t) -> [pid_t] {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
    return text.split(separator: " ").compactMap { pid_t($0) }
}

private func alive(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    return !stat.contains(") Z ")
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct WrapBehaviour {
    @Test func readyAtOnceWithoutSupervisordAndMaintWhenTheProgramExitsWithItsStatus() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        try haproxy.set("web/web1", "maint")
        // The program ends when the test says so, not after some time.
        let w = try wrap(haproxy, ["web/web1", "static/web1"],
                         ["sh", "-c", "while [ ! -e \(dir.file("end")) ]; do sleep 0.02; done; exit 3"], dir: dir)
        #expect(haproxy.waitFor(["web/web1", "static/web1"], "ready", seconds: 5), "\(dir.read("wrap.log"))")
        _ = FileManager.default.createFile(atPath: dir.file("end"), contents: nil)
        #expect(w.waitExit(10) == 3, "the program's own exit status: \(dir.read("wrap.log"))")
        #expect(haproxy.states()["web/web1"] == "maint" && haproxy.states()["static/web1"] == "maint",
                "maint before the wrapper ended")
        #expect(dir.read("wrap.log").contains("program exited with status 3 by itself"))
    }

    /// maint and then ready within a millisecond of each other at start: ready must win.
    /// Commands on two connections reach HAProxy in no set order, so a newer one waits for
    /// the one in flight.
    @Test func aNewerStateNeverOvertakesAnOlderOne() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        for round in 0..<20 {
            try haproxy.set("web/web2", "drain")
            let w = try wrap(haproxy, ["web/web2"], ["sh", "-c", "while [ ! -e \(dir.file("end\(round)")) ]; do sleep 0.02; done"], dir: dir)
            #expect(waitUntil(5) { dir.read("wrap.log").contains("web/web2 ready") }, "\(dir.read("wrap.log"))")
            #expect(haproxy.states()["web/web2"] == "ready", "round \(round): \(dir.read("wrap.log"))")
            _ = FileManager.default.createFile(atPath: dir.file("end\(round)"), contents: nil)
            #expect(w.waitExit(10) == 0)
        }
    }

    /// A program that forks into the background and exits 0 at once escaped wrap (and
    /// supervisord): said, not silently taken for a clean exit.
    @Test func aDaemonThatForksAwayIsSaid() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let w = try wrap(haproxy, ["web/web2"], ["sh", "-c", "setsid sleep 5 </dev/null >/dev/null 2>&1 & exit 0"], dir: dir)
        #expect(w.waitExit(10) == 0)
        #expect(dir.read("wrap.log").contains("exited with status 0 by itself") && dir.read("wrap.log").contains("forked into the background"), "\(dir.read("wrap.log"))")
    }

    @Test func deathBySignalIsPassedOn() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let w = try wrap(haproxy, ["web/web2"], ["sh", "-c", "sleep 0.3; kill -KILL $$"], dir: dir)
        #expect(w.waitExit(10) == 128 + SIGKILL)
        #expect(haproxy.states()["web/web2"] == "maint")
        #expect(dir.read("wrap.log").contains("program was killed by SIGKILL by itself"))
    }

    @Test func stdioEnvironmentAndDirectoryAreThePrograms() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let w = try wrap(haproxy, ["web/web2"], ["sh", "-c", "read x; echo \"got $x in $(pwd) as $SH_STATS_UNIX\"; echo to-stderr >&2"],
                         dir: dir, pipeStdin: true, pipeStdout: true)
        w.write("hello\n")
        w.closeStdin()
        #expect(w.waitExit(10) == 0)
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(w.stdoutFD!, &buf, buf.count)
        let out = String(decoding: buf[0..<max(0, n)], as: UTF8.self)
        #expect(out == "got hello in \(FileManager.default.currentDirectoryPath) as \(ProcessInfo.processInfo.environment["SH_STATS_UNIX"] ?? "")\n")
        #expect(dir.read("wrap.log").contains("to-stderr"))
    }

    @Test func theProgramHasItsOwnGroupAndDiesWithAKilledWrapper() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let w = try wrap(haproxy, ["web/web2"], ["sleep", "1000"], dir: dir)
        #expect(waitUntil(5) { !children(of: w.pid).isEmpty })
        let child = try #require(children(of: w.pid).first)
        #expect(getpgid(child) == child, "its own process group")
        #expect(getpgid(child) != getpgid(w.pid))
        w.signal(SIGKILL)
        #expect(w.waitExit(5) == 128 + SIGKILL)
        #expect(waitUntil(5) { !alive(child) }, "no orphan after the wrapper's SIGKILL")
    }

    @Test func aProgramThatIgnoresSIGTERMEndsWithTheWrappersSIGKILL() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let w = try wrap(haproxy, ["web/web2"], ["sh", "-c", "trap '' TERM; exec sleep 1000"], dir: dir)
        #expect(waitUntil(5) { !children(of: w.pid).isEmpty && dir.read("wrap.log").contains("ready at once") })
        let child = try #require(children(of: w.pid).first)
        w.signal(SIGTERM)
        #expect(waitUntil(5) { dir.read("wrap.log").contains("passing SIGTERM to the program's process group") }, "\(dir.read("wrap.log"))")
        usleep(300_000)
        #expect(alive(child) && w.running, "the program ignores SIGTERM; the wrapper waits for it")
        #expect(haproxy.states()["web/web2"] == "drain")
        // supervisord's SIGKILL after stopwaitsecs.
        w.signal(SIGKILL)
        #expect(waitUntil(5) { !alive(child) }, "the program dies with the wrapper")
    }

    @Test func otherSignalsArePassedOnAtOnce() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let w = try wrap(haproxy, ["web/web2"], ["sh", "-c", "trap 'echo got-hup >&2' HUP; trap 'echo got-usr1 >&2; exit 9' USR1; while :; do sleep 0.05; done"], dir: dir)
        #expect(waitUntil(5) { dir.read("wrap.log").contains("ready at once") })
        w.signal(SIGHUP)
        #expect(waitUntil(5) { dir.read("wrap.log").contains("got-hup") }, "\(dir.read("wrap.log"))")
        w.signal(SIGUSR1)
        #expect(w.waitExit(5) == 9)
        #expect(dir.read("wrap.log").contains("SIGHUP: passed on to the program"))
    }

    /// As tini: a signal that would end the wrapper (ALRM, XCPU, PROF, PWR...) is passed on
    /// to the program instead; the wrapper and its drain stay.
    @Test func everyOtherSignalIsPassedOnNoneEndsTheWrapper() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let names = ["ALRM", "XCPU", "PROF", "PWR", "VTALRM", "TTIN", "URG"]
        let traps = names.map { "trap 'echo got-\($0) >&2' \($0);" }.joined(separator: " ")
        let w = try wrap(haproxy, ["web/web2"], ["sh", "-c", "\(traps) while :; do sleep 0.05; done"], dir: dir)
        #expect(waitUntil(5) { dir.read("wrap.log").contains("ready at once") })
        for (name, sig) in zip(names, [SIGALRM, SIGXCPU, SIGPROF, SIGPWR, SIGVTALRM, SIGTTIN, SIGURG]) {
            w.signal(sig)
            #expect(waitUntil(5) { dir.read("wrap.log").contains("got-\(name)") }, "\(name): \(dir.read("wrap.log"))")
            #expect(w.running && dir.read("wrap.log").contains("SIG\(name): passed on to the program"))
        }
        #expect(haproxy.states()["web/web2"] == "ready")
        w.signal(SIGTERM)
        #expect(w.waitExit(10) == 128 + SIGTERM)
        #expect(dir.read("wrap.log").contains("SIGTERM: draining web/web2"))
        #expect(haproxy.states()["web/web2"] == "maint")
    }

    /// A program that cannot be watched (pidfd_open refused, as by an old kernel or a
    /// seccomp filter) is killed and reaped: no zombie is left to whoever reaps orphans.
    @Test func aProgramThatCannotBeWatchedIsKilledAndReaped() throws {
        let dir = TempDir()
        let source = dir.file("nopidfd.c"), library = dir.file("nopidfd.so")
        try """
            #define _GNU_SOURCE
            #include <dlfcn.h>
            #include <errno.h>
            #include <stdarg.h>
            #include <sys/syscall.h>
            long syscall(long n, ...) {
                va_list ap; va_start(ap, n);
                long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
                long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
                va_end(ap);
                if (n == SYS_pidfd_open) { errno = ENOSYS; return -1; }
                long (*real)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
                return real(n, a, b, c, d, e, f);
            }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        let cc = try run(which("cc"), ["-shared", "-fPIC", "-o", library, source, "-ldl"])
        #expect(cc.status == 0, "\(cc.err)")
        // A subreaper runs the wrapper: an unreaped child would be handed to it as a zombie.
        let script = """
            import ctypes, os, subprocess, sys, time
            ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
            env = dict(os.environ, LD_PRELOAD=sys.argv[1])
            env.pop("SUPERVISOR_SERVER_URL", None)
            p = subprocess.run([sys.argv[2], "wrap", "--ready-when", "running", "unix:///nonexistent.sock", "web/web1",
                                "--", "sleep", "1000"], env=env, stderr=subprocess.PIPE, timeout=20)
            time.sleep(0.3)
            try:
                left = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                left = (0, 0)
            print(p.returncode, "zombie" if left[0] else "none")
            sys.stderr.write(p.stderr.decode())
            """
        let r = try run("/usr/bin/python3", ["-c", script, library, Paths.binary])
        #expect(r.out == "1 none\n", "\(r.out)\(r.err)")
        #expect(r.err.contains("pidfd_open sleep: Function not implemented; not started"), "\(r.err)")
    }

    /// Against a hanging socket, a stop arriving while a `set` is in flight waits for it, but
    /// the drain then has only what is left of its own timeout (one timeout in all, not two),
    /// and the log says what is true: not drained there.
    @Test func aHangingSocketCostsAStopOneTimeoutAndIsNotCalledDrained() throws {
        let dir = TempDir()
        let hang = try StandIn(unixPath: dir.file("hang.sock"), mode: .hang)
        defer { hang.stop() }
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let w = try Child(Paths.binary, ["wrap", "--ready-when", "running", "--timeout", "1", "unix://" + hang.path, "web/web1",
                                         "--", "sleep", "1000"], environment: env, stderr: dir.file("wrap.log"))
        #expect(waitUntil(5) { !children(of: w.pid).isEmpty })
        w.signal(SIGTERM)
        #expect(w.waitExit(10) == 128 + SIGTERM, "\(dir.read("wrap.log"))")
        let log = dir.read("wrap.log")
        #expect(!log.contains("drained after"), "\(log)")
        #expect(log.contains("not set to drain there"), "\(log)")
        #expect(log.contains("drain ended after") && log.contains("not drained at unix://\(hang.path); passing SIGTERM"), "\(log)")
        // maint at start, ready, the drain and maint at the end: at most 3 connections, the
        // ready that waited behind maint having had no time left of its own.
        #expect(hang.connectionCount <= 3, "\(hang.connectionCount) connections\n\(log)")
    }

    @Test func haproxyDownNeverHoldsUpAStop() throws {
        let dir = TempDir()
        let hang = try StandIn(unixPath: dir.file("hang.sock"), mode: .hang)
        defer { hang.stop() }
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let w = try Child(Paths.binary, ["wrap", "--ready-when", "running", "--timeout", "1", "--socket", "unix://" + dir.file("none.sock"),
                                         "--socket", "unix://" + hang.path, "web/web1", "--", "sleep", "1000"],
                          environment: env, stderr: dir.file("wrap.log"))
        #expect(waitUntil(5) { !children(of: w.pid).isEmpty })
        usleep(1_200_000) // the start-up maint/ready exchanges have timed out
        w.signal(SIGTERM)
        // At most one --timeout for the drain and one for maint, then the program's end.
        #expect(w.waitExit(6) == 128 + SIGTERM, "\(dir.read("wrap.log"))")
        let log = dir.read("wrap.log")
        #expect(log.contains("connect unix://\(dir.path)/none.sock: No such file or directory"), "\(log)")
        #expect(log.contains("read unix://\(hang.path): timed out"), "\(log)")
    }

    @Test func severalSocketsAreDrainedAndSetToMaint() throws {
        let dir = TempDir()
        let apps = AppPorts()
        let h1 = try HAProxy(dir: dir, name: "h1", apps: apps).start()
        let h2 = try HAProxy(dir: dir, name: "h2", apps: apps).start()
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let w = try Child(Paths.binary, ["wrap", "--ready-when", "running", "--socket", h1.unixAddress, "--socket", h2.tcpAddress, "api/api0", "api/api1",
                                         "--", "sleep", "1000"], environment: env, stderr: dir.file("wrap.log"))
        #expect(h1.waitFor(["api/api0", "api/api1"], "ready") && h2.waitFor(["api/api0", "api/api1"], "ready"))
        try h1.set("api/api0", "maint")
        w.signal(SIGTERM)
        #expect(w.waitExit(10) == 128 + SIGTERM, "\(dir.read("wrap.log"))")
        #expect(h1.waitFor(["api/api0", "api/api1"], "maint", seconds: 1) && h2.waitFor(["api/api0", "api/api1"], "maint", seconds: 1))
        #expect(dir.read("wrap.log").contains("drained after"), "idle servers are not waited on")
    }

    @Test(arguments: [
        (["wrap", "/nonexistent.sock", "web/web1", "--", "/nonexistent/program"], 127, "/nonexistent/program: No such file or directory"),
        (["wrap", "/nonexistent.sock", "web/web1", "--", "/etc"], 126, "/etc: Permission denied"),
        (["wrap", "/nonexistent.sock", "we\\b/web1", "--", "true"], 2, "BACKEND contains a backslash"),
        (["wrap", "/nonexistent.sock", "web/web1", "true"], 2, "missing '-- COMMAND'"),
        (["wrap", "/nonexistent.sock", "--", "true"], 2, "missing BACKEND/SERVER"),
        (["wrap", "/nonexistent.sock", "web/web1", "--"], 2, "missing COMMAND"),
        (["wrap", "--drain-timeout", "x", "/a.sock", "web/web1", "--", "true"], 2, "--drain-timeout 'x'"),
        (["wrap", "tcp://u:p@127.0.0.1:1", "web/web1", "--", "true"], 2, "takes no user or password"),
    ])
    func errorsAsEnvAndExecGiveThem(_ args: [String], _ status: Int32, _ message: String) throws {
        let r = try run(Paths.binary, args, seconds: 10)
        #expect(r.status == status, "\(r.err)")
        #expect(r.err.contains(message), "\(r.err)")
        #expect(r.out.isEmpty)
    }

    @Test func helpListsTheCommands() throws {
        let h = try run(Paths.binary, ["--help"])
        #expect(h.status == 0 && h.out.contains("wrap") && h.out.contains("check"))
        let w = try run(Paths.binary, ["wrap", "--help"])
        #expect(w.status == 0 && w.out.contains("--drain-timeout SECONDS"))
    }
}
