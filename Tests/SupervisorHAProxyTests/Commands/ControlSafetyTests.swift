import Foundation
import Glibc
import Testing
@testable import SupervisorHAProxy

// restart, stop, start on every host: the tool found however it is installed, each process's
// servers only on its own sockets, any number of servers, every supervisord call bounded, and
// never a half-done drain left behind (a give-up, a signal at any step).

private func control(_ args: [String], seconds: Double = 120) throws -> (status: Int32, out: String, err: String) {
    var env = ProcessInfo.processInfo.environment
    env["SUPERVISOR_SERVER_URL"] = nil
    return try run(Paths.binary, args, environment: env, seconds: seconds)
}

/// Every app's HAProxy state explained by its program's: RUNNING and ready, or not running
/// and maint. The names of those that are not.
private func unexplained(_ stack: LoadStack) -> [String] {
    let view = serverView(stack.adminSocket), status = stack.status()
    return stack.apps.compactMap { app in
        let admin = view["app/\(app)"]?.admin ?? "?"
        let state = status[app] ?? "?"
        return (state == "RUNNING") == (admin == "ready") && (state == "RUNNING" || admin == "maint") ? nil : "\(app) \(state) but \(admin)"
    }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct ControlOnEveryHost {
    /// The listener installed under another name (the build's static one): found all the same,
    /// and a rolling restart under load loses no request.
    @Test func aListenerInstalledAsSupervisorHAProxyStaticIsFoundAndTheRollLosesNothing() throws {
        let dir = TempDir()
        let installed = dir.file("supervisor-haproxy-static")
        try FileManager.default.createSymbolicLink(atPath: installed, withDestinationPath: Paths.binary)
        let stack = try LoadStack(.plain, listenerBinary: installed)
        defer { stack.stop() }
        try stack.start()
        try stack.startLoad(clients: 8)
        usleep(800_000)
        let r = try control(["restart", "--rolling", "-c", stack.config(), "app1", "app2"])
        usleep(500_000)
        let load = try stack.stopLoad()
        print("restart --rolling, listener as supervisor-haproxy-static: \(load.detail)")
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("2 mapping(s) on 1 socket(s)"), "\(r.out)")
        #expect(load.failed == 0 && load.ok > 50, "\(load.detail)")
    }

    /// A NAME no HAProxy server is mapped to: refused before anything is touched (exit 2,
    /// saying what was looked at), unless --no-haproxy; and then only the mapped ones drain.
    @Test func aNameNoServerIsMappedToIsRefusedUnlessToldNoHAProxy() throws {
        let stack = try LoadStack(.plain, listener: false)
        defer { stack.stop() }
        try stack.start()
        let pids = stack.apps.map { stack.pid($0) }
        let r = try control(["restart", "--rolling", "-c", stack.config(), "app1"])
        #expect(r.status == 2, "\(r.out)\(r.err)")
        #expect(r.err.contains("no HAProxy server is mapped to app1: looked at the command lines of unix://"), "\(r.err)")
        #expect(r.err.contains("(0 supervisor-haproxy listener(s) and wrap(s) among 2 process(es))"), "\(r.err)")
        #expect(stack.apps.map { stack.pid($0) } == pids, "nothing touched")
        let forced = try control(["restart", "--ready-when", "running", "--no-haproxy", "-c", stack.config(),
                                  "--socket", "unix://" + stack.adminSocket, "--map", "app1:app/app1", "app1", "app2"])
        #expect(forced.status == 0, "\(forced.out)\(forced.err)")
        #expect(forced.out.contains("draining app1:") && !forced.out.contains("draining app1, app2"), "\(forced.out)")
        #expect(forced.out.contains("app2: no HAProxy server is mapped to it (--no-haproxy)"), "\(forced.out)")
        #expect(stack.pid("app2") != pids[1])
    }

    /// Two HAProxy instances on one host, each program wrapped towards its own: a stop sends
    /// web1's servers to web1's socket only.
    @Test func eachProcessesServersGoOnlyToItsOwnSockets() throws {
        let dir = TempDir()
        let apps = AppPorts()
        let h1 = try HAProxy(dir: dir, name: "h1", apps: apps).start()
        let h2 = try HAProxy(dir: dir, name: "h2", apps: apps).start()
        let wrap = "\(Paths.binary) wrap --ready-when running"
        let config = supervisordBase(dir: dir.path) + """
            [program:web1]
            command=\(wrap) \(h1.unixAddress) web/web1 -- /bin/sleep 1000
            startsecs=0
            [program:api1]
            command=\(wrap) \(h2.unixAddress) api/api1 -- /bin/sleep 1000
            startsecs=0
            """
        try config.write(toFile: dir.file("supervisord.conf"), atomically: true, encoding: .utf8)
        let sd = try Child(Real.supervisord, ["-c", dir.file("supervisord.conf")], stdout: dir.file("sd.out"), stderr: dir.file("sd.err"))
        defer { sd.stop() }
        #expect(waitUntil(20) { supervisorStatus(supervisorctl(dir.file("supervisord.conf"), ["status"])).values.filter { $0 == "RUNNING" }.count == 2 })
        #expect(h1.waitFor(["web/web1"], "ready") && h2.waitFor(["api/api1"], "ready"))
        let r = try control(["stop", "-c", dir.file("supervisord.conf"), "web1"])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("2 mapping(s) on 2 socket(s)"), "\(r.out)")
        #expect(h1.states()["web/web1"] == "maint")
        #expect(h2.states()["web/web1"] == "ready", "h2 is not web1's: \(r.out)\(r.err)")
        #expect(!r.err.contains("No such"), "\(r.err)")
    }

    /// A drain that cannot be done everywhere (one socket hangs): not stopped, and the sockets
    /// where it was drained get it back; exit 1 naming the socket.
    /// `stop` of `apps` with a second socket that hangs (the drain cannot be done there).
    private func stopBesideAHangingSocket(_ stack: LoadStack, _ apps: [String]) throws -> (r: (status: Int32, out: String, err: String), hang: String) {
        let hang = try StandIn(unixPath: stack.dir.file("hang.sock"), mode: .hang)
        defer { hang.stop() }
        let r = try control(["stop", "--timeout", "1", "-c", stack.config(), "--socket", "unix://" + stack.adminSocket,
                             "--socket", "unix://" + hang.path] + apps.flatMap { ["--map", "\($0):app/\($0)"] } + apps)
        return (r, hang.path)
    }

    @Test func aGiveUpPutsHAProxyBackAsItFoundIt() throws {
        let stack = try LoadStack(.plain, listener: false)
        defer { stack.stop() }
        try stack.start()
        let pid = stack.pid("app1")
        let (r, hangPath) = try stopBesideAHangingSocket(stack, ["app1"])
        #expect(r.status == 1, "\(r.out)\(r.err)")
        #expect(r.err.contains("cannot drain app1"), "\(r.err)")
        #expect(r.out.contains("put back: app/app1 ready at unix://\(stack.adminSocket) (as before the command; supervisord says RUNNING)"), "\(r.out)")
        #expect(r.err.contains("left as they are: app/app1 at unix://\(hangPath) (what they were before the command could not be read there)"), "\(r.err)")
        #expect(serverView(stack.adminSocket)["app/app1"]?.admin == "ready", "not left in drain")
        #expect(stack.pid("app1") == pid)
    }

    /// The operator had app1 in maint and app2 in drain before a stop that gives up (a second
    /// socket hangs): each is put back as it was, never to ready on a guess from
    /// supervisord's RUNNING (which the 1.x-era rule did: the control is the test above,
    /// where ready was what it had been).
    @Test func aGiveUpPutsBackWhatTheOperatorHadSet() throws {
        let stack = try LoadStack(.plain, listener: false)
        defer { stack.stop() }
        try stack.start()
        _ = adminCommand(stack.adminSocket, "set server app/app1 state maint")
        _ = adminCommand(stack.adminSocket, "set server app/app2 state drain")
        #expect(serverView(stack.adminSocket)["app/app1"]?.admin == "maint" && serverView(stack.adminSocket)["app/app2"]?.admin == "drain")
        let (r, _) = try stopBesideAHangingSocket(stack, ["app1", "app2"])
        #expect(r.status == 1, "\(r.out)\(r.err)")
        #expect(r.err.contains("cannot drain app1, app2"), "\(r.err)")
        #expect(r.out.contains("put back: app/app1 maint at unix://\(stack.adminSocket) (as before the command; supervisord says RUNNING)"), "\(r.out)")
        #expect(r.out.contains("put back: app/app2 drain at unix://\(stack.adminSocket) (as before the command; supervisord says RUNNING)"), "\(r.out)")
        let view = serverView(stack.adminSocket)
        #expect(view["app/app1"]?.admin == "maint" && view["app/app2"]?.admin == "drain", "\(view)")
        #expect(stack.status()["app1"] == "RUNNING" && stack.status()["app2"] == "RUNNING")
    }

    /// A supervisord that accepts and never answers: --timeout bounds every call.
    @Test func timeoutBoundsEveryCallToSupervisord() throws {
        let dir = TempDir()
        let hang = try StandIn(unixPath: dir.file("sd.sock"), mode: .hang)
        defer { hang.stop() }
        let r = try control(["restart", "--timeout", "1", "--supervisor", "unix://" + hang.path, "web1"], seconds: 20)
        #expect(r.status == 2, "\(r.out)\(r.err)")
        #expect(r.err.contains("unix://\(hang.path): timed out"), "\(r.err)")
    }

    /// A NAME that is not UTF-8 is shown as its own bytes.
    @Test func aNameThatIsNotUTF8IsShownAsItsBytes() throws {
        let r = try run("/bin/sh", ["-c", "exec \"$0\" restart \"$(printf 'web\\377\\3561')\"", Paths.binary])
        #expect(r.status == 2 && r.err.contains("argument 2 is not valid UTF-8: 'web\\xff\\xee1'"), "\(r.err)")
    }
}

@Suite(.serialized, .timeLimit(.minutes(6))) struct ControlUnderSignals {
    /// SIGINT, SIGHUP and SIGTERM at each step of a restart (during the drain, once stopped,
    /// once started): the drain is undone or the step finished, the command exits 1, and no
    /// server is left in a state its program's state does not explain.
    @Test(arguments: [SIGINT, SIGHUP, SIGTERM])
    func aSignalAtAnyStepLeavesEveryServerExplained(_ sig: Int32) throws {
        let stack = try LoadStack(.plain, listener: false, backends: .init(delay: 4))
        defer { stack.stop() }
        try stack.start()
        let here = ["-c", stack.config(), "--socket", "unix://" + stack.adminSocket, "--map", "app1:app/app1", "--map", "app2:app/app2"]
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        for (k, moment) in ["draining app1: 1 session(s)", "stopped app1 after", "started app1 after"].enumerated() {
            // Slow requests in flight, one on each server (round robin), keep the drain waiting.
            let get = "import urllib.request, threading; u = 'http://127.0.0.1:\(stack.frontendPort)/'; "
                + "t = [threading.Thread(target=urllib.request.urlopen, args=(u,)) for _ in range(2)]; [x.start() for x in t]; [x.join() for x in t]"
            let request = try Child("/usr/bin/python3", ["-c", get])
            defer { request.stop() }
            usleep(300_000)
            let pid = stack.pid("app1")
            let out = stack.dir.file("r\(k).out"), err = stack.dir.file("r\(k).err")
            let c = try Child(Paths.binary, ["restart"] + here + ["app1"], environment: env, stdout: out, stderr: err)
            #expect(waitUntil(30) { stack.dir.read("r\(k).out").contains(moment) }, "\(stack.dir.read("r\(k).out"))")
            c.signal(sig)
            #expect(c.waitExit(60) == 1, "\(signalName(sig)) at '\(moment)': \(stack.dir.read("r\(k).out"))\(stack.dir.read("r\(k).err"))")
            #expect(waitUntil(10) { unexplained(stack).isEmpty }, "\(signalName(sig)) at '\(moment)': \(unexplained(stack))\n\(stack.dir.read("r\(k).out"))\(stack.dir.read("r\(k).err"))")
            #expect(waitUntil(20) { stack.status()["app1"] == "RUNNING" })
            let said = stack.dir.read("r\(k).err")
            if k == 0 {
                #expect(said.contains("\(signalName(sig)) during the drain of app1: nothing stopped"), "\(said)")
                #expect(stack.pid("app1") == pid, "undone: not stopped")
            } else {
                #expect(said.contains("\(signalName(sig)): the step under way was finished"), "\(said)")
                #expect(stack.pid("app1") != pid, "finished: restarted")
            }
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(4))) struct ControlUnderRepeatedSignals {
    /// A rolling restart of app1 and app2 (a slow request in flight keeps a drain waiting),
    /// TERM once its output says `moment`, and TERM again `gapMs` later.
    private func restartSignalledTwice(at moment: String, gapMs: UInt32) throws -> (status: Int32?, out: String, err: String, unexplained: [String], failed: Int) {
        let stack = try LoadStack(.plain, listener: false, backends: .init(delay: 4))
        defer { stack.stop() }
        try stack.start()
        try stack.startLoad(clients: 4)
        let get = "import urllib.request, threading; u = 'http://127.0.0.1:\(stack.frontendPort)/'; "
            + "t = [threading.Thread(target=urllib.request.urlopen, args=(u,)) for _ in range(2)]; [x.start() for x in t]; [x.join() for x in t]"
        let request = try Child("/usr/bin/python3", ["-c", get])
        defer { request.stop() }
        usleep(300_000)
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let c = try Child(Paths.binary, ["restart", "-c", stack.config(), "--socket", "unix://" + stack.adminSocket,
                                         "--map", "app1:app/app1", "--map", "app2:app/app2", "--rolling", "app1", "app2"],
                          environment: env, stdout: stack.dir.file("r.out"), stderr: stack.dir.file("r.err"))
        guard waitUntil(30, { stack.dir.read("r.out").contains(moment) }) else {
            throw TestFailure("never drained: \(stack.dir.read("r.out"))\(stack.dir.read("r.err"))")
        }
        c.signal(SIGTERM)
        usleep(gapMs * 1000)
        c.signal(SIGTERM)
        let status = c.waitExit(60)
        _ = waitUntil(10) { unexplained(stack).isEmpty }
        let load = try stack.stopLoad()
        print("restart --rolling, TERM twice \(gapMs) ms apart at '\(moment)': \(load.detail)")
        return (status, stack.dir.read("r.out"), stack.dir.read("r.err"), unexplained(stack), load.failed)
    }

    /// The second TERM 150 ms after the first, while app1's start is being finished: a copy
    /// (GNU timeout signals the command, then its whole group), not a second request.
    @Test func twoCopiesOfOneTermAreOneRequest() throws {
        let r = try restartSignalledTwice(at: "stopped app1 after", gapMs: 150)
        #expect(r.status == 1, "not 143: the copy did not abandon the step\n\(r.out)\(r.err)")
        #expect(r.failed == 0, "under load, nothing lost")
        #expect(r.out.contains("SIGTERM again") && r.out.contains("a copy of the first"), "\(r.out)")
        #expect(r.err.contains("SIGTERM: stopped before app2; not touched: app2"), "\(r.err)")
        #expect(r.unexplained.isEmpty, "\(r.unexplained)")
    }

    /// The control: a real second request (700 ms later, while app1's start is finished)
    /// still exits at once (143), and says what it leaves where.
    @Test func aSecondTermLaterExitsAtOnceSayingWhatItLeaves() throws {
        let r = try restartSignalledTwice(at: "stopped app1 after", gapMs: 700)
        #expect(r.status == 128 + SIGTERM, "\(r.out)\(r.err)")
        #expect(r.err.contains("SIGTERM again: exiting now; left: app/app1 at unix://"), "\(r.err)")
    }

    /// The same through GNU timeout itself, as a cancelled CI job: whenever it fires, the
    /// command exits 1 and every server is as its program's state explains.
    @Test func aRestartUnderGNUTimeoutLeavesEveryServerExplained() throws {
        let stack = try LoadStack(.plain, listener: false, backends: .init(delay: 4))
        defer { stack.stop() }
        try stack.start()
        let get = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:\(stack.frontendPort)/')"
        let request = try Child("/usr/bin/python3", ["-c", get])
        defer { request.stop() }
        usleep(300_000)
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let r = try run(which("timeout"), ["-s", "TERM", "2", Paths.binary, "restart", "-c", stack.config(), "--socket", "unix://" + stack.adminSocket,
                                           "--map", "app1:app/app1", "--map", "app2:app/app2", "--rolling", "app1", "app2"],
                        environment: env, seconds: 60)
        #expect(r.status == 124 || r.status == 1, "timeout's 124 for a command that ended on its TERM, never 143: \(r.out)\(r.err)")
        #expect(!r.err.contains("again: exiting now"), "\(r.err)")
        #expect(waitUntil(10) { unexplained(stack).isEmpty }, "\(unexplained(stack))\n\(r.out)\(r.err)")
    }
}

@Suite(.serialized, .timeLimit(.minutes(8))) struct ControlOfAThousandServers {
    /// 500 processes: every `set server` line split into as many requests as it takes;
    /// stop, start and a batched rolling restart each end with every server as it should be.
    @Test func aGroupOf500IsStoppedStartedAndRolled() throws {
        let names = (0..<500).map { String(format: "api_%03d", $0) }
        let fleet = try Fleet(backends: [("api", names)], programs: """
            [program:api]
            command=/bin/sleep 1000
            process_name=api_%(process_num)03d
            numprocs=500
            startsecs=0
            stopwaitsecs=2
            """, listener: nil)
        defer { fleet.stop() }
        try fleet.startHAProxy()
        try fleet.startSupervisord(running: 500)
        // supervisord's answer for 500 processes takes seconds to stream on a busy machine:
        // each exchange may take 10 s here (the default 2 s bounds a host's usual dozens).
        var here = ["--quiet", "--timeout", "10", "--ready-when", "running", "--supervisor", "unix://" + fleet.supervisorSocket,
                    "--socket", "unix://" + fleet.adminSocket]
        for n in names { here += ["--map", "api:\(n):api/\(n)"] }
        let servers = names.map { "api/" + $0 }
        let stop = try control(["stop"] + here + ["api:*"], seconds: 200)
        #expect(stop.status == 0, "\(stop.err)")
        #expect(fleet.waitFor(servers, "maint", seconds: 5), "\(fleet.states().values.filter { $0 != "maint" }.count) not in maint")
        #expect(fleet.status().values.filter { $0 == "STOPPED" }.count == 500)
        let start = try control(["start"] + here + ["api:*"], seconds: 200)
        #expect(start.status == 0, "\(start.err)")
        #expect(fleet.waitFor(servers, "ready", seconds: 5), "\(fleet.states().values.filter { $0 != "ready" }.count) not ready")
        let before = fleet.ctl("status")
        let roll = try control(["restart", "--rolling", "--batch", "25%"] + here + ["api:*"], seconds: 300)
        #expect(roll.status == 0, "\(roll.err)")
        #expect(fleet.waitFor(servers, "ready", seconds: 5))
        #expect(fleet.status().values.filter { $0 == "RUNNING" }.count == 500)
        #expect(fleet.ctl("status") != before, "restarted")
    }
}
