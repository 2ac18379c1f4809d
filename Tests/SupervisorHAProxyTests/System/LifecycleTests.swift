import Foundation
import Glibc
import Testing

// Never left wrong: each case was reproduced with the real programs against the previous
// core, which left HAProxy routing to a program that was not running.

private let sleeper = "/bin/sleep 1000"

private func twoPrograms(_ extra: String = "") -> String {
    """
    [program:web1]
    command=\(sleeper)
    startsecs=0
    \(extra)
    [program:web2]
    command=\(sleeper)
    startsecs=0
    \(extra)
    """
}

/// The two programs and the listener under a supervisord with only `inet`, both ready.
private func inetFleet(_ inet: InetServer) throws -> Fleet {
    let fleet = try Fleet(backends: [("web", ["web1", "web2"])], programs: twoPrograms(),
                          listener: ["unix://{admin}", "web1:web/web1", "web2:web/web2"], inet: inet)
    try fleet.startHAProxy()
    try fleet.startSupervisord(running: 3)
    guard fleet.waitFor(["web/web1", "web/web2"], "ready") else { throw TestFailure("not ready: \(fleet.states())\n\(fleet.listenerLog)") }
    return fleet
}

/// web1 and web2 mapped to web/web1 and web/web2, HAProxy and supervisord running, both ready.
private func twoProgramFleet(masterWorker: Bool = false) throws -> Fleet {
    let fleet = try Fleet(backends: [("web", ["web1", "web2"])], programs: twoPrograms(),
                          listener: ["unix://{admin}", "web1:web/web1", "web2:web/web2"], masterWorker: masterWorker)
    try fleet.startHAProxy()
    try fleet.startSupervisord(running: 3)
    guard fleet.waitFor(["web/web1", "web/web2"], "ready") else { throw TestFailure("not ready: \(fleet.states())") }
    return fleet
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct Lifecycles {
    /// `start 'p:*'` queues more events than supervisord's buffer holds, in one turn of its
    /// loop: some are dropped however fast the listener is. The gap in poolserial is noticed
    /// and supervisord asked again.
    @Test func twelveProgramsStartedAtOnceAllEndReady() throws {
        let servers = (0..<12).map { String(format: "s%02d", $0) }
        let fleet = try Fleet(backends: [("p", servers)], programs: """
            [program:p]
            command=\(sleeper)
            process_name=p_%(process_num)02d
            numprocs=12
            autostart=false
            startsecs=0
            """, listener: ["--resync", "0", "unix://{admin}"] + (0..<12).map { String(format: "p:p_%02d:p/s%02d", $0, $0) })
        defer { fleet.stop() }
        try fleet.startHAProxy()
        try fleet.startSupervisord(running: 1)
        _ = fleet.ctl("stop", "p:*")
        #expect(fleet.waitFor(servers.map { "p/" + $0 }, "maint"), "\(fleet.listenerLog)")
        _ = fleet.ctl("start", "p:*")
        #expect(fleet.waitFor(servers.map { "p/" + $0 }, "ready", seconds: 10), "\(fleet.states())\n\(fleet.listenerLog)")
        // The scenario happened: supervisord did drop events, and the listener noticed.
        #expect(fleet.supervisordLog.contains("event buffer overflowed"), "no overflow: the test proves nothing")
        #expect(fleet.listenerLog.contains("supervisord dropped"), "\(fleet.listenerLog)")
    }

    /// supervisord drops a listener's last events at shutdown: the listener, stopped last,
    /// sets every mapped server to maint itself.
    @Test func supervisordsShutdownLeavesEveryServerInMaint() throws {
        let fleet = try twoProgramFleet()
        defer { fleet.stop() }
        fleet.supervisord?.signal(SIGTERM)
        #expect(fleet.supervisord?.waitExit(30) == 0)
        #expect(fleet.states()["web/web1"] == "maint" && fleet.states()["web/web2"] == "maint", "\(fleet.states())\n\(fleet.listenerLog)")
        #expect(fleet.listenerLog.contains("every mapped server to maint before exiting"), "\(fleet.listenerLog)")
    }

    /// Restarting only the listener (supervisorctl restart, or update) changes nothing.
    @Test func aListenerOnlyRestartLeavesHAProxyAsItIs() throws {
        let fleet = try twoProgramFleet()
        defer { fleet.stop() }
        #expect(fleet.ctl("restart", "listener").contains("listener: started"))
        #expect(waitUntil(10) { fleet.listenerLog.contains("supervisord is RUNNING, so only the listener stops") }, "\(fleet.listenerLog)")
        #expect(!fleet.listenerLog.contains("to maint before exiting"))
        #expect(fleet.states()["web/web1"] == "ready" && fleet.states()["web/web2"] == "ready")
    }

    /// A master-worker reload (SIGUSR2) forgets every runtime state; `show info` names a new
    /// worker and the listener repairs at once, with default options (resync is 30 s).
    @Test func anHAProxyReloadIsRepairedWithinSeconds() throws {
        let fleet = try twoProgramFleet(masterWorker: true)
        defer { fleet.stop() }
        _ = fleet.ctl("stop", "web1")
        #expect(fleet.waitFor(["web/web1"], "maint"))
        let workerBefore = adminCommand(fleet.adminSocket, "show info").split(separator: "\n").first { $0.hasPrefix("Pid:") }
        fleet.haproxy?.signal(SIGUSR2)
        #expect(waitUntil(10) { adminCommand(fleet.adminSocket, "show info").split(separator: "\n").first { $0.hasPrefix("Pid:") } != workerBefore },
                "the reload made a new worker")
        #expect(fleet.waitFor(["web/web1"], "maint", seconds: 5), "\(fleet.listenerLog)")
        #expect(fleet.listenerLog.contains("was reloaded or restarted"), "\(fleet.listenerLog)")
        #expect(fleet.listenerLog.contains("resync: web/web1 at unix://\(fleet.adminSocket) is ready, want maint; repairing"),
                "the reload did forget the state: \(fleet.listenerLog)")
        #expect(fleet.states()["web/web2"] == "ready")
    }

    /// supervisord's unix socket with a password: credentials from SUPERVISOR_USERNAME and
    /// SUPERVISOR_PASSWORD, as supervisor's childutils reads them.
    @Test func startUpSyncThroughAPasswordProtectedUnixSocket() throws {
        let fleet = try Fleet(backends: [("web", ["web1", "web2"])], programs: twoPrograms(),
                              listener: ["--resync", "0", "unix://{admin}", "web1:web/web1", "web2:web/web2"],
                              listenerExtra: "environment=SUPERVISOR_USERNAME=\"admin\",SUPERVISOR_PASSWORD=\"pw s3cret\"",
                              unixAuth: ("admin", "pw s3cret"))
        defer { fleet.stop() }
        try fleet.startHAProxy()
        try fleet.startSupervisord(running: 3)
        #expect(waitUntil(10) { fleet.listenerLog.contains("start-up sync: supervisord reports 3 process(es); 2 mapped") }, "\(fleet.listenerLog)")
        #expect(!fleet.listenerLog.contains("s3cret"))
    }

    /// supervisord with only an `[inet_http_server]` and a password: its children get the URL
    /// but no credentials. The listener reads them from supervisord's own config (its `-c`
    /// file, by supervisor's rules: `%%` is one '%', `; ...` a comment), so a listener-only
    /// restart leaves HAProxy as it is, and a shutdown leaves every server in maint.
    @Test func anInetOnlyPasswordProtectedSupervisordIsAskedWithTheCredentialsOfItsOwnConfig() throws {
        let inet = InetServer(serverPassword: "s3%%cret ; the operator's note", clientPassword: "s3%%cret")
        let fleet = try inetFleet(inet)
        defer { fleet.stop() }
        #expect(waitUntil(10) { fleet.listenerLog.contains("start-up sync: supervisord reports 3 process(es); 2 mapped") }, "\(fleet.listenerLog)")
        #expect(fleet.listenerLog.contains("credentials for supervisord at http://127.0.0.1:\(inet.port) from \(fleet.dir.file("supervisord.conf")) [inet_http_server]"), "\(fleet.listenerLog)")
        #expect(fleet.ctl("restart", "listener").contains("listener: started"))
        #expect(waitUntil(10) { fleet.listenerLog.contains("supervisord is RUNNING, so only the listener stops") }, "\(fleet.listenerLog)")
        #expect(fleet.states()["web/web1"] == "ready" && fleet.states()["web/web2"] == "ready", "\(fleet.listenerLog)")
        fleet.supervisord?.signal(SIGTERM)
        #expect(fleet.supervisord?.waitExit(30) == 0)
        #expect(fleet.states()["web/web1"] == "maint" && fleet.states()["web/web2"] == "maint", "\(fleet.states())\n\(fleet.listenerLog)")
        #expect(!fleet.listenerLog.contains("s3%cret") && !fleet.listenerLog.contains("s3%%cret"))
    }

    /// When the credentials cannot be had (supervisord keeps a {SHA} hash), the listener says
    /// so at start, and a 401 is not a shutdown: a listener restart leaves HAProxy as it is.
    @Test func aRefusedListenerNeverTakesServersOutOfRotationOnAGuess() throws {
        let hash = "{SHA}" + "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"  // sha1("test")
        let inet = InetServer(serverPassword: hash, clientPassword: "test")
        let fleet = try inetFleet(inet)
        defer { fleet.stop() }
        #expect(waitUntil(10) { fleet.listenerLog.contains("start-up sync from http://127.0.0.1:\(inet.port) refused") }, "\(fleet.listenerLog)")
        #expect(fleet.listenerLog.contains("WARNING no credentials for supervisord at http://127.0.0.1:\(inet.port)"), "\(fleet.listenerLog)")
        #expect(fleet.listenerLog.contains("keeps [inet_http_server] password as a {SHA} hash"), "\(fleet.listenerLog)")
        #expect(fleet.ctl("restart", "listener").contains("listener: started"))
        #expect(waitUntil(10) { fleet.listenerLog.contains("supervisord refused the listener's credentials") }, "\(fleet.listenerLog)")
        usleep(500_000)
        #expect(fleet.states()["web/web1"] == "ready" && fleet.states()["web/web2"] == "ready", "\(fleet.listenerLog)")
        #expect(!fleet.listenerLog.contains("to maint before exiting"), "\(fleet.listenerLog)")
        // check names the refusal as a problem.
        let r = try run(Paths.binary, ["check", "--supervisor", "http://127.0.0.1:\(inet.port)", "unix://" + fleet.adminSocket, "web1:web/web1"])
        #expect(r.status == 1 && r.out.contains("FAIL http://127.0.0.1:\(inet.port): supervisord refused these credentials"), "\(r.out)")
    }

    /// The 1.x tool never needed supervisord's socket, so operators run the listener as
    /// `user=nobody` while the socket keeps supervisord's chmod=0700: on a listener restart its
    /// getState fails with a permission error, which says nothing of supervisord. Every
    /// running program's server stays ready (the control: a supervisord that is really gone
    /// is `supervisordsShutdownLeavesEveryServerInMaint`).
    @Test func aPermissionErrorIsNotSupervisordGone() throws {
        let binDir = TempDir()
        chmod(binDir.path, 0o755)
        let copy = binDir.file("supervisor-haproxy")
        try FileManager.default.copyItem(atPath: Paths.staticBinary, toPath: copy)
        let fleet = try Fleet(backends: [("web", ["web1", "web2"])], programs: twoPrograms(),
                              listener: ["tcp://127.0.0.1:{tcp}", "web1:web/web1", "web2:web/web2"],
                              listenerExtra: "user=nobody", binary: copy)
        defer { fleet.stop() }
        // The listener may pass through the folder (and exec its copy), not use the socket.
        chmod(fleet.dir.path, 0o711)
        try fleet.startHAProxy()
        try fleet.startSupervisord(running: 3)
        #expect(fleet.waitFor(["web/web1", "web/web2"], "ready"), "\(fleet.states())\n\(fleet.listenerLog)")
        #expect(waitUntil(10) { fleet.listenerLog.contains("Permission denied") }, "the listener did meet the permission error: \(fleet.listenerLog)")
        #expect(fleet.ctl("restart", "listener").contains("listener: started"))
        #expect(waitUntil(10) { fleet.listenerLog.contains("SIGTERM: the listener may not reach supervisord (connect unix://\(fleet.supervisorSocket): Permission denied), so it cannot tell whether supervisord stops: HAProxy is left as it is") }, "\(fleet.listenerLog)")
        #expect(!fleet.listenerLog.contains("supervisord is gone"), "\(fleet.listenerLog)")
        #expect(!fleet.listenerLog.contains("to maint before exiting"), "\(fleet.listenerLog)")
        #expect(fleet.states()["web/web1"] == "ready" && fleet.states()["web/web2"] == "ready", "\(fleet.states())")
    }

    /// Debian's /etc/hosts names ::1 localhost first; an IPv4-only stats socket is still
    /// reached through tcp://localhost: every address is tried within one --timeout.
    @Test func localhostReachesAnIPv4OnlySocketWhenIPv6IsListedFirst() throws {
        let fleet = try Fleet(backends: [("web", ["web1"])], programs: "", listener: nil)
        defer { fleet.stop() }
        try fleet.startHAProxy()
        let hosts = fleet.dir.file("hosts")
        try "::1 localhost ip6-localhost\n127.0.0.1 localhost\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let order = try run(which("unshare"), ["-m", "sh", "-c", "mount --bind \(hosts) /etc/hosts && getent ahosts localhost"])
        #expect(order.out.hasPrefix("::1"), "the namespace lists ::1 first: \(order.out)\(order.err)")
        let d = try Driver(["-m", "sh", "-c", "mount --bind \(hosts) /etc/hosts && exec \(Paths.binary) --resync 0 tcp://localhost:\(fleet.tcpPort) web1:web/web1"],
                           dir: fleet.dir, binary: which("unshare"))
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK")
        #expect(fleet.waitFor(["web/web1"], "maint"), "\(d.log)")
        #expect(!d.log.contains("ERROR"), "\(d.log)")
    }

    /// The listener must stop after the programs it watches: check says so when its
    /// priority is not below theirs.
    @Test func checkWarnsOfAListenerStoppedBeforeItsPrograms() throws {
        let fleet = try Fleet(backends: [("web", ["web1", "web2"])], programs: twoPrograms("priority=100"),
                              listener: ["unix://{admin}", "web1:web/web1", "web2:web/web2"], listenerExtra: "priority=500")
        defer { fleet.stop() }
        try fleet.startHAProxy()
        try fleet.startSupervisord(running: 3)
        let r = try run(Paths.binary, ["check", "--supervisor", "unix://" + fleet.supervisorSocket, "unix://" + fleet.adminSocket,
                                       "web1:web/web1", "web2:web/web2"])
        #expect(r.out.contains("WARN listener has priority 500, not below web1's 100"), "\(r.out)")
        #expect(r.out.contains("check passed"), "a warning, not a failure: \(r.out)")
        let good = try Fleet(backends: [("web", ["web1"])], programs: twoPrograms(), listener: ["unix://{admin}", "web1:web/web1"])
        defer { good.stop() }
        try good.startHAProxy()
        try good.startSupervisord(running: 3)
        let ok = try run(Paths.binary, ["check", "--supervisor", "unix://" + good.supervisorSocket, "unix://" + good.adminSocket, "web1:web/web1"])
        #expect(!ok.out.contains("WARN"), "\(ok.out)")
    }
}
