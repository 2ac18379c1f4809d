import Foundation
import Testing

// supervisord runs the example's programs and our listener against a real HAProxy;
// supervisorctl drives the programs and HAProxy's `show servers state` is the judge.

@Suite(.serialized, .timeLimit(.minutes(2))) struct EndToEnd {
    @Test(arguments: ["tcp", "unix", "ipv6"])
    func supervisorctlStopAndStartAreFollowed(_ transport: String) throws {
        let dir = TempDir()
        let apps = AppPorts()
        let haproxy = try HAProxy(dir: dir, ipv6: transport == "ipv6", apps: apps).start()
        let socket = transport == "unix" ? haproxy.unixAddress : haproxy.tcpAddress
        let sup = try Supervisord(dir: dir, apps: apps, listenerArgs: [socket] + exampleMappings).start()
        defer { sup.stop() }
        #expect(haproxy.waitFor(allServers, "ready"))

        sup.ctl("stop", "web1")
        // One program on two backends: both follow.
        #expect(haproxy.waitFor(["web/web1", "static/web1"], "maint"))
        #expect(haproxy.states()["web/web2"] == "ready")
        sup.ctl("start", "web1")
        #expect(haproxy.waitFor(["web/web1", "static/web1"], "ready"))

        // Group-qualified names: api:api_01 alone.
        sup.ctl("stop", "api:api_01")
        #expect(haproxy.waitFor(["api/api1"], "maint"))
        #expect(haproxy.states()["api/api0"] == "ready")
        sup.ctl("stop", "web2")
        #expect(haproxy.waitFor(["web/web2"], "maint"))

        let log = sup.listenerLog
        #expect(log.contains("INFO Received PROCESS_STATE_STOPPING (from RUNNING) for web1, sending DRAIN for web/web1."))
        #expect(log.contains("INFO Received PROCESS_STATE_STOPPING (from RUNNING) for web1, sending DRAIN for static/web1."))
        #expect(log.contains("INFO Received PROCESS_STATE_STOPPED (from STOPPING) for api:api_01, sending MAINT for api/api1."))
        #expect(!log.contains("ERROR"), "\(log)")
        #expect(sup.protocolProblems.isEmpty, "\(sup.protocolProblems)")
        #expect(sup.status()["haproxy"] == "RUNNING")
    }

    @Test func killedProgramGoesThroughExitedAndComesBack() throws {
        let dir = TempDir()
        let apps = AppPorts()
        let haproxy = try HAProxy(dir: dir, apps: apps).start()
        let sup = try Supervisord(dir: dir, apps: apps, listenerArgs: [haproxy.unixAddress] + exampleMappings).start()
        defer { sup.stop() }
        #expect(haproxy.waitFor(allServers, "ready"))
        let pid = try #require(Int32(sup.ctl("pid", "web2").trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGKILL)
        #expect(waitUntil(10) { sup.listenerLog.contains("Received PROCESS_STATE_EXITED (from RUNNING) for web2, sending MAINT for web/web2.") })
        #expect(waitUntil(15) { sup.listenerLog.contains("Received PROCESS_STATE_RUNNING (from STARTING) for web2, sending READY for web/web2 once it serves (readiness gate).") })
        #expect(haproxy.waitFor(["web/web2"], "ready"))
        #expect(sup.protocolProblems.isEmpty, "\(sup.protocolProblems)")
    }
}
