import Foundation
import Testing

// --check, the start-up check, --on, --dry-run and the log levels, against a real HAProxy.

@Suite(.serialized, .timeLimit(.minutes(1))) struct OperatorTools {
    @Test func checkPassesAndShowsEachServersState() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        try haproxy.set("web/web2", "drain")
        let r = try run(Paths.binary, ["--check", "--socket", haproxy.unixAddress, "--socket", haproxy.tcpAddress] + exampleMappings)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let all = r.out.split(separator: "\n").map(String.init)
        // HAProxy 3.1 and later: a note per socket on init-state; none before.
        let notes = all.filter { $0.hasPrefix("NOTE ") }
        let v = try run(Real.haproxy, ["-v"]).out.split(separator: " ")[2].split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        let initState = v[0] > 3 || (v[0] == 3 && v[1] >= 1)
        #expect(notes.count == (initState ? 2 : 0), "\(all)")
        #expect(notes.allSatisfy { $0.contains("'init-state fully-down'") })
        let lines = all.filter { !$0.hasPrefix("NOTE ") }
        #expect(lines.count == 2 * exampleMappings.count + 1)
        #expect(lines.contains("ok   \(haproxy.unixAddress) web1:web/web1: ready, up"))
        #expect(lines.contains("ok   \(haproxy.tcpAddress) web2:web/web2: drain, up"))
        #expect(lines.contains("ok   \(haproxy.tcpAddress) api:api_01:api/api1: ready, up"))
        #expect(lines.last == "check passed: 5 mapping(s) on 2 socket(s)")
    }

    @Test func checkFailsNamingEveryProblem() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let missing = "unix://" + dir.file("missing.sock")
        let r = try run(Paths.binary, ["--check", "--socket", haproxy.unixAddress, "--socket", missing,
                                       "web1:web/web1", "web9:web/web9", "x:nope/a"])
        #expect(r.status == 1)
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.contains("ok   \(haproxy.unixAddress) web1:web/web1: ready, up"))
        #expect(lines.contains("FAIL \(haproxy.unixAddress) web9:web/web9: no such server"))
        #expect(lines.contains("FAIL \(haproxy.unixAddress) x:nope/a: no such backend"))
        #expect(lines.contains("FAIL \(missing): unreachable: connect \(missing): No such file or directory"))
        #expect(lines.last == "check failed: 3 problem(s)")
        // check reads once: it promises no retry it never makes.
        #expect(!r.out.contains("attempt") && !r.err.contains("attempt"), "\(r.out)\(r.err)")
        #expect(r.err.isEmpty, "\(r.err)")
    }

    @Test func startupWarnsOfUnknownMappingsAndStillStarts() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver([haproxy.unixAddress, "web1:web/nope", "x:nope/a", "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(waitUntil(5) { d.log.contains("WARNING HAProxy at \(haproxy.unixAddress) has no server 'web/nope' (mapped as web1:web/nope)") }, "\(d.log)")
        #expect(d.log.contains("WARNING HAProxy at \(haproxy.unixAddress) has no backend 'nope' (mapped as x:nope/a)"))
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK")
        #expect(haproxy.waitFor(["web/web1"], "maint"))
    }

    @Test func stateTableOverrides() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver(["--verbose", "--on", "STOPPING=maint", "--on", "starting=ignore", haproxy.unixAddress, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        try d.send(Driver.processState("STOPPING", "web1"))
        #expect(haproxy.waitFor(["web/web1"], "maint"))
        #expect(waitUntil(5) { d.log.contains("'set server web/web1 state maint' done") })
        try d.send(Driver.processState("STARTING", "web1", from: "STOPPED"))
        #expect(waitUntil(5) { d.log.contains("Received PROCESS_STATE_STARTING (from STOPPED) for web1, ignored by --on, nothing sent for web/web1.") })
        try d.send(Driver.processState("RUNNING", "web1", from: "STARTING"))
        #expect(haproxy.waitFor(["web/web1"], "ready"))
        #expect(!d.log.contains("state drain"))
        #expect(d.log.components(separatedBy: "' done").count - 1 == 2, "\(d.log)")
    }

    @Test func dryRunSendsNothing() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver(["--dry-run", "--resync", "0.5", haproxy.unixAddress, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK")
        #expect(waitUntil(5) { d.log.contains("INFO dry run: would send 'set server web/web1 state maint' to \(haproxy.unixAddress)") }, "\(d.log)")
        sleep(1)
        #expect(haproxy.states()["web/web1"] == "ready")
        // The resync still reads, finds web1 ready instead of maint, and only says so.
        #expect(d.log.contains("resync: web/web1 at \(haproxy.unixAddress) is ready, want maint"), "\(d.log)")
    }

    @Test(arguments: [("--quiet", false, false), ("", true, false), ("--verbose", true, true)])
    func logLevels(_ flag: String, _ info: Bool, _ debug: Bool) throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let unreachable = "unix://" + dir.file("gone.sock")
        let d = try Driver((flag.isEmpty ? [] : [flag]) + ["--resync", "0", "--socket", haproxy.unixAddress, "--socket", unreachable, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        try d.send(Driver.processState("STOPPED", "web1"))
        try d.send("TICK_5", "when:1")
        #expect(haproxy.waitFor(["web/web1"], "maint"))
        #expect(waitUntil(5) { d.log.contains("ERROR connect \(unreachable): No such file or directory") })
        usleep(200_000)
        let log = d.log
        #expect(log.contains(" INFO Received PROCESS_STATE_STOPPED") == info, "\(log)")
        #expect(log.contains(" DEBUG \(haproxy.unixAddress): 'set server web/web1 state maint' done") == debug, "\(log)")
        #expect(log.contains(" DEBUG ignored TICK_5") == debug)
        for line in log.split(separator: "\n") {
            #expect(line.contains(#/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d (ERROR|WARNING|INFO|DEBUG) /#), "\(line)")
        }
    }
}
