import Foundation
import CSocketShim
import Glibc
import Testing
@testable import SupervisorHAProxy

// restart, stop, start: supervisord and HAProxy in step, found through supervisord itself.
// Under load with real backends (0 failed requests), then halts, refusals and errors.

@Suite(.serialized, .timeLimit(.minutes(3))) struct RollingRestart {
    /// Not wrapped, the listener beside them, sockets and mappings found through supervisord
    /// (its configuration found as supervisorctl finds it, -c): no request lost.
    @Test func aRollingRestartUnderLoadLosesNoRequest() throws {
        let stack = try LoadStack(.plain)
        defer { stack.stop() }
        try stack.start()
        let pids = stack.apps.map { stack.pid($0) }
        try stack.startLoad(clients: 8)
        usleep(800_000)
        let r = try stack.control(["restart", "--rolling", "-c", stack.config(), "app1", "app2"])
        usleep(500_000)
        let load = try stack.stopLoad()
        print("restart --rolling under load: \(load.detail)\n\(r.out)")
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(load.failed == 0, "\(load.detail)\n\(r.out)")
        #expect(load.ok > 50)
        #expect(stack.allUp(), "every program RUNNING and UP again")
        #expect(zip(pids, stack.apps.map { stack.pid($0) }).allSatisfy { $0 != $1 }, "each was restarted")
        #expect(r.out.contains("1 mapping(s) on 1 socket(s)") || r.out.contains("2 mapping(s) on 1 socket(s)"), "found through supervisord: \(r.out)")
        // One at a time: app1 UP again before app2 is drained.
        let lines = r.out.split(separator: "\n").map(String.init)
        let app1Up = lines.firstIndex { $0.contains("app1 UP on every socket") }
        let app2Drain = lines.firstIndex { $0.contains("draining app2") }
        #expect(app1Up != nil && app2Drain != nil && app1Up! < app2Drain!, "\(r.out)")
    }

    /// The control: supervisorctl's own restart of the same programs under the same load
    /// loses the requests in flight (the listener running).
    @Test func supervisorctlRestartUnderTheSameLoadLosesRequests() throws {
        let stack = try LoadStack(.plain)
        defer { stack.stop() }
        try stack.start()
        try stack.startLoad(clients: 8)
        usleep(800_000)
        #expect(stack.ctl("restart", "app1", "app2").contains("app2: started"))
        #expect(waitUntil(20) { stack.allUp() })
        usleep(500_000)
        let load = try stack.stopLoad()
        print("supervisorctl restart under load: \(load.detail)")
        #expect(load.failed > 0, "\(load.detail)")
    }

    /// A process that comes back but never passes its health check: the roll halts there,
    /// exits 1 naming it, and the processes after it keep their pids.
    @Test func theRollHaltsAtAProcessThatDoesNotComeBackHealthy() throws {
        let stack = try LoadStack(.plain, apps: ["app1", "app2", "app3"])
        defer { stack.stop() }
        try stack.start()
        let app3 = stack.pid("app3")
        _ = FileManager.default.createFile(atPath: stack.brokenFlag("app2"), contents: nil)
        let r = try stack.control(["restart", "--rolling", "--up-timeout", "3", "-c", stack.config(), "app1", "app2", "app3"])
        #expect(r.status == 1, "\(r.out)\(r.err)")
        #expect(r.err.contains("app2 did not come back healthy within"), "\(r.err)")
        #expect(r.err.contains("app/app2 on unix://\(stack.adminSocket): show stat: DOWN"), "\(r.err)")
        #expect(r.err.contains("halted at app2; not touched: app3"), "\(r.err)")
        #expect(stack.pid("app3") == app3, "app3 untouched")
        #expect(r.out.contains("app1 UP on every socket"))
    }

    /// The last server UP and ready in its backend is not taken down, unless --force.
    @Test func theLastServerUpIsRefusedUnlessForced() throws {
        let stack = try LoadStack(.plain)
        defer { stack.stop() }
        try stack.start()
        #expect(stack.ctl("stop", "app2").contains("stopped"))
        let pid = stack.pid("app1")
        let r = try stack.control(["restart", "--rolling", "-c", stack.config(), "app1"])
        #expect(r.status == 1)
        #expect(r.err.contains("refusing to take down app1: app/app1 is the last server UP and ready in backend app on unix://\(stack.adminSocket)"), "\(r.err)")
        #expect(stack.pid("app1") == pid, "untouched")
        let forced = try stack.control(["restart", "--rolling", "--force", "-c", stack.config(), "app1"])
        #expect(forced.status == 0, "\(forced.out)\(forced.err)")
        #expect(stack.pid("app1") != pid)
    }

    /// Two supervisord hosts behind one HAProxy: NAME matches on each, one process at a time
    /// across both, under load.
    @Test func aFleetOfTwoSupervisordsRollsOneProcessAtATime() throws {
        let stack = try LoadStack(.plain, apps: ["app"], hosts: 2)
        defer { stack.stop() }
        try stack.start()
        let pids = [stack.pid("app", host: 0), stack.pid("app", host: 1)]
        try stack.startLoad(clients: 6)
        usleep(500_000)
        let r = try stack.control(["restart", "--rolling", "--supervisor", "unix://" + stack.supervisorSocket(0),
                                    "--supervisor", "unix://" + stack.supervisorSocket(1), "app"])
        let load = try stack.stopLoad()
        print("fleet roll under load: \(load.detail)")
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(load.failed == 0, "\(load.detail)\n\(r.out)")
        #expect(stack.pid("app", host: 0) != pids[0] && stack.pid("app", host: 1) != pids[1])
        #expect(r.out.components(separatedBy: "UP on every socket").count - 1 == 2, "\(r.out)")
    }

    /// Ctrl-C during a roll: the current step ends, and the command says where it stopped.
    @Test func ctrlCStopsAfterTheCurrentStep() throws {
        let stack = try LoadStack(.plain, apps: ["app1", "app2", "app3"])
        defer { stack.stop() }
        try stack.start()
        let pids = stack.apps.map { stack.pid($0) }
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let c = try Child(Paths.binary, ["restart", "--rolling", "-c", stack.config(), "app1", "app2", "app3"], environment: env,
                          stdout: stack.dir.file("roll.out"), stderr: stack.dir.file("roll.err"))
        #expect(waitUntil(20) { stack.dir.read("roll.out").contains("draining app1") })
        c.signal(SIGINT)
        #expect(c.waitExit(60) == 1, "\(stack.dir.read("roll.out"))\(stack.dir.read("roll.err"))")
        #expect(stack.dir.read("roll.out").contains("app1 UP on every socket"), "the current step was finished")
        #expect(stack.dir.read("roll.err").contains("SIGINT: stopped before app2; not touched: app2, app3"), "\(stack.dir.read("roll.err"))")
        #expect(stack.pid("app2") == pids[1] && stack.pid("app3") == pids[2])
        #expect(stack.allUp())
    }

    /// HAProxy goes away once the first process is back: the roll cannot see HAProxy any
    /// more, halts with exit 1 naming the socket's error, and the last process is untouched.
    @Test func haproxyDownMidRollHaltsTheRoll() throws {
        let stack = try LoadStack(.plain, apps: ["app1", "app2", "app3"])
        defer { stack.stop() }
        try stack.start()
        let app3 = stack.pid("app3")
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let c = try Child(Paths.binary, ["restart", "--rolling", "--timeout", "0.5", "-c", stack.config(), "app1", "app2", "app3"],
                          environment: env, stdout: stack.dir.file("roll.out"), stderr: stack.dir.file("roll.err"))
        #expect(waitUntil(30) { stack.dir.read("roll.out").contains("app1 UP on every socket") })
        stack.stopHAProxy()
        #expect(c.waitExit(60) == 1, "\(stack.dir.read("roll.out"))\(stack.dir.read("roll.err"))")
        #expect(stack.dir.read("roll.err").contains("unix://\(stack.adminSocket)"), "\(stack.dir.read("roll.err"))")
        #expect(stack.dir.read("roll.err").contains("app3"), "says what was not touched")
        #expect(stack.pid("app3") == app3)
    }

    @Test func stopAndStartAlone() throws {
        let stack = try LoadStack(.plain, listener: false)
        defer { stack.stop() }
        try stack.start()
        // No listener, so nothing to discover: --socket and --map say where the servers are.
        let here = ["-c", stack.config(), "--socket", "unix://" + stack.adminSocket, "--map", "app1:app/app1", "--map", "app2:app/app2"]
        let s = try stack.control(["stop"] + here + ["app1"])
        #expect(s.status == 0, "\(s.out)\(s.err)")
        #expect(serverView(stack.adminSocket)["app/app1"]?.admin == "maint", "maint without a listener")
        #expect(stack.status()["app1"] == "STOPPED")
        let t = try stack.control(["start"] + here + ["app1"])
        #expect(t.status == 0, "\(t.out)\(t.err)")
        #expect(stack.allUp())
        let q = try stack.control(["restart", "--quiet"] + here + ["app1", "app2"])
        #expect(q.status == 0 && q.out.isEmpty, "--quiet prints nothing on success: \(q.out)")
    }

    @Test func errorsComeBeforeAnythingIsTouched() throws {
        let stack = try LoadStack(.plain)
        defer { stack.stop() }
        try stack.start()
        let pid = stack.pid("app1")
        let unknown = try stack.control(["restart", "--rolling", "-c", stack.config(), "app1", "nope"])
        #expect(unknown.status == 2 && unknown.err.contains("no such process 'nope'"), "\(unknown.err)")
        let unreachable = try stack.control(["restart", "--supervisor", "unix://\(stack.dir.path)/none.sock", "app1"])
        #expect(unreachable.status == 2 && unreachable.err.contains("connect unix://\(stack.dir.path)/none.sock: No such file or directory"), "\(unreachable.err)")
        let badName = try stack.control(["restart", "-c", stack.config(), "a:b:c"])
        #expect(badName.status == 2)
        #expect(stack.pid("app1") == pid, "nothing touched")
        // HAProxy down: the roll cannot see whether app1 is the last server UP, and stops there.
        stack.stopHAProxy()
        let down = try stack.control(["restart", "--rolling", "--timeout", "0.5", "-c", stack.config(), "app1", "app2"])
        #expect(down.status == 1, "\(down.out)\(down.err)")
        #expect(down.err.contains("connect unix://\(stack.adminSocket)"), "\(down.err)")
        #expect(stack.pid("app1") == pid, "nothing taken down while HAProxy cannot be asked")
    }

    @Test func wrongCredentialsAreRefusedClearly() throws {
        let fleet = try Fleet(backends: [("web", ["web1"])], programs: "[program:web1]\ncommand=/bin/sleep 1000\nstartsecs=0",
                              listener: nil, unixAuth: ("admin", "right"))
        defer { fleet.stop() }
        try fleet.startHAProxy()
        try fleet.startSupervisord(running: 1)
        let r = try run(Paths.binary, ["restart", "--supervisor", "unix://" + fleet.supervisorSocket, "web1"], environment: ["SUPERVISOR_USERNAME": "admin", "SUPERVISOR_PASSWORD": "wrong"])
        #expect(r.status == 2 && r.err.contains("supervisord answered 'HTTP/1.0 401 Unauthorized'"), "\(r.err)")
        #expect(!r.err.contains("wrong"))
    }
}

@Suite(.serialized, .timeLimit(.minutes(5))) struct ProcessControlReactor {
    /// A rolling restart of 200 processes: one client per socket for the whole run, so the
    /// reactor polls as many members after the last step as after the first.
    @Test func aRollOf200KeepsTheReactorsMemberCount() throws {
        let names = (0..<200).map { "p\($0)" }
        let programs = names.map { "[program:\($0)]\ncommand=sleep 1000\nstartsecs=0\nstopwaitsecs=2\n" }.joined(separator: "\n")
        let fleet = try Fleet(backends: [("app", names)], programs: programs, listener: nil)
        try fleet.startHAProxy()
        try fleet.startSupervisord(running: 200)
        defer { fleet.stop() }
        let pids = fleet.ctl("status")
        // sleep serves nothing: the readiness gate is off.
        var args = ["--rolling", "--quiet", "--ready-when", "running", "--supervisor", "unix://" + fleet.supervisorSocket, "--socket", "unix://" + fleet.adminSocket]
        for n in names { args += ["--map", "\(n):app/\(n)"] }
        guard case .run(let options) = parseControl(.restart, args + names) else {
            Issue.record("options did not parse")
            return
        }
        let control = ProcessControl(options: options, environment: Environment(), executable: "supervisor-haproxy")
        #expect(control.run() == 0)
        #expect(control.membersAfterStep.count == 200)
        #expect(Set(control.membersAfterStep).count == 1, "members after each step: \(Set(control.membersAfterStep))")
        // A signalfd, the supervisord client and one client for the one socket.
        #expect(control.membersAfterStep.first == 3)
        #expect(fleet.ctl("status") != pids, "every process was restarted")
        #expect(fleet.states().values.filter { $0 == "ready" }.count == 200)
    }
}
