import Foundation
import Glibc
import Testing

// The listener as supervisord sees it: the test plays supervisord on the listener's
// stdin/stdout; HAProxy is the real one.

private func setServerLines(_ log: String) -> [String] {
    log.split(separator: "\n").filter { $0.contains("'set server ") && $0.hasSuffix("' done") }.map(String.init)
}

@Suite(.serialized, .timeLimit(.minutes(1))) struct EventLoopWithRealHAProxy {
    @Test func theOriginalsStartupProcedure() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver(["--verbose", "--resync", "0", haproxy.tcpAddress, "instance1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        let steps = [("STARTING", "maint"), ("BACKOFF", "maint"), ("STARTING", "maint"), ("RUNNING", "ready"),
                     ("STOPPING", "drain"), ("STOPPED", "maint"), ("STARTING", "maint"), ("RUNNING", "ready"),
                     ("EXITED", "maint")]
        for (n, (state, admin)) in steps.enumerated() {
            #expect(try d.send(Driver.processState(state, "instance1", group: "bar")) == "RESULT 2\nOK")
            // Each event: exactly one `set server` with the table's state, and HAProxy shows it.
            #expect(waitUntil(10) { setServerLines(d.log).count == n + 1 }, "after \(state): \(d.log)")
            #expect(setServerLines(d.log).last?.hasSuffix("'set server web/web1 state \(admin)' done") == true)
            #expect(haproxy.waitFor(["web/web1"], admin), "\(state) should leave web/web1 \(admin)")
        }
        usleep(300_000)
        #expect(setServerLines(d.log).count == steps.count)
    }

    @Test func theOriginalsLogLine() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver([haproxy.unixAddress, "instance1:web/web1", "instance2:web/web2"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send("PROCESS_STATE_EXITED", "expected:1 processname:instance2 groupname:bar from_state:RUNNING pid:1") == "RESULT 2\nOK")
        #expect(haproxy.waitFor(["web/web2"], "maint"))
        let line = try #require(d.log.split(separator: "\n").first { $0.contains("Received") })
        #expect(line.contains(#/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d INFO Received PROCESS_STATE_EXITED \(from RUNNING\) for instance2, sending MAINT for web/web2\.$/#))
        // No from_state: '?' as in the original.
        #expect(try d.send("PROCESS_STATE_STARTING", "processname:instance1 groupname:x tries:0") == "RESULT 2\nOK")
        #expect(waitUntil(5) { d.log.contains("Received PROCESS_STATE_STARTING (from ?) for instance1, sending MAINT for web/web1.") })
    }

    @Test func unwatchedProgramsAndOtherEventsSendNothing() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        try haproxy.set("web/web1", "drain")
        let d = try Driver(["--verbose", haproxy.tcpAddress, "instance1:web/web1", "grp:instance1:web/web2"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send(Driver.processState("EXITED", "instance2")) == "RESULT 2\nOK")
        #expect(try d.send(Driver.processState("EXITED", "instance1x")) == "RESULT 2\nOK")
        #expect(try d.send("TICK_60", "when:1201063880") == "RESULT 2\nOK")
        #expect(try d.send("PROCESS_LOG_STDOUT", "processname:instance1 groupname:instance1 pid:1 channel:stdout\nhello") == "RESULT 2\nOK")
        #expect(try d.send("PROCESS_GROUP_ADDED", "groupname:instance1") == "RESULT 2\nOK")
        #expect(try d.send("SUPERVISOR_STATE_CHANGE_RUNNING", "") == "RESULT 2\nOK")
        #expect(try d.send("PROCESS_COMMUNICATION_STDOUT", "processname:instance1 groupname:g pid:1\n" + String(repeating: "z", count: 300_000)) == "RESULT 2\nOK")
        usleep(300_000)
        #expect(setServerLines(d.log).isEmpty, "\(d.log)")
        #expect(haproxy.states()["web/web1"] == "drain")
        #expect(d.log.contains("ignored PROCESS_STATE_EXITED for instance2:instance2 (not mapped)"))
        #expect(d.log.contains("ignored TICK_60"))
        // Group-qualified: grp:instance1 is web/web2; instance1 in another group is not.
        #expect(try d.send(Driver.processState("STOPPED", "instance1", group: "grp")) == "RESULT 2\nOK")
        #expect(haproxy.waitFor(["web/web2", "web/web1"], "maint"))
        #expect(setServerLines(d.log).count == 2)
    }

    @Test func endOfInputExitsZero() throws {
        let dir = TempDir()
        let d = try Driver(["/nonexistent.sock", "a:b/c", "--resync", "0"], dir: dir)
        try d.expectReady()
        #expect(try d.send("TICK_5", "when:1") == "RESULT 2\nOK")
        d.closeInput()
        #expect(d.child.waitExit(10) == 0)
        #expect(d.drained() == "")
    }

    /// Acknowledged means it reaches HAProxy: an event read together with the end of input
    /// is sent before the listener exits.
    @Test(arguments: [("STOPPED", [String]()), ("STOPPING", ["--on", "STOPPING=maint"])])
    func anEventAcknowledgedJustBeforeEndOfInputStillReachesHAProxy(_ state: String, _ extra: [String]) throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver(extra + ["--resync", "0", haproxy.unixAddress, "instance1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        let (name, payload) = Driver.processState(state, "instance1")
        d.write(Driver.event(name, payload))
        d.closeInput()
        #expect(d.child.waitExit(10) == 0)
        #expect(d.drained() == "RESULT 2\nOKREADY\n")
        #expect(haproxy.states()["web/web1"] == "maint", "\(d.log)")
        #expect(d.log.contains("end of input from supervisord: sending the 1 acknowledged change(s) still pending"), "\(d.log)")
    }

    @Test(arguments: [
        "eventname:TICK_5\n",
        "ver:3.0 eventname:TICK_5 len:abc\n",
        "ver:3.0 eventname:TICK_5 len:-1\n",
        "ver:3.0 eventname:TICK_5 len:99999999999999999999\n",
        "ver:3.0 len:5\nhello",
        "\u{00}\u{01}garbage\u{ff} with no tokens\n",
        String(repeating: "A", count: 10_000),
    ])
    func malformedInputExitsNonZeroWithAClearLine(_ input: String) throws {
        let dir = TempDir()
        let d = try Driver(["/nonexistent.sock", "a:b/c", "--resync", "0"], dir: dir)
        try d.expectReady()
        d.write(input)
        #expect(d.child.waitExit(10) == 1)
        #expect(d.drained() == "", "nothing but READY may reach stdout")
        #expect(d.log.contains("ERROR protocol error from supervisord: header"), "\(d.log)")
    }

    @Test func sigtermEndsItPromptly() throws {
        let dir = TempDir()
        let d = try Driver(["/nonexistent.sock", "a:b/c"], dir: dir)
        try d.expectReady()
        d.child.signal(SIGTERM)
        #expect(d.child.waitExit(5) == 128 + SIGTERM)
    }

    @Test func sigpipeIsIgnored() throws {
        // supervisord gone: the acknowledgement fails with EPIPE, logged, exit 1, no crash.
        let dir = TempDir()
        let d = try Driver(["/nonexistent.sock", "a:b/c", "--resync", "0"], dir: dir)
        try d.expectReady()
        close(d.child.stdoutFD!)
        d.write(Driver.event("TICK_5", "when:1"))
        #expect(d.child.waitExit(10) == 1)
        #expect(d.log.contains("write stdout: Broken pipe"), "\(d.log)")
    }
}

@Suite(.timeLimit(.minutes(1))) struct InvalidArguments {
    @Test(arguments: [
        ([String](), "missing SOCKET"),
        (["tcp://127.0.0.1:8800"], "missing PROGRAM"),
        (["http://127.0.0.1:8800", "a:b/c"], "'http://127.0.0.1:8800'"),
        (["tcp://127.0.0.1", "a:b/c"], "'tcp://127.0.0.1'"),
        (["tcp://127.0.0.1:99999", "a:b/c"], "'tcp://127.0.0.1:99999'"),
        (["tcp://127.0.0.1:8800", "instance1-plone04"], "'instance1-plone04'"),
        (["tcp://127.0.0.1:8800", "instance1:plone04"], "'instance1:plone04'"),
        (["--bogus", "tcp://127.0.0.1:8800", "a:b/c"], "'--bogus'"),
    ])
    func exitTwoNamingTheArgumentWithoutReady(_ args: [String], _ named: String) throws {
        let r = try run(Paths.binary, args, seconds: 10)
        #expect(r.status == 2)
        #expect(r.out == "", "READY must never be written")
        #expect(r.err.contains(named) && r.err.contains("usage: supervisor-haproxy"), "\(r.err)")
    }

    @Test func helpAndVersion() throws {
        let h = try run(Paths.binary, ["--help"])
        #expect(h.status == 0 && h.out.contains("--retry-max SECONDS") && h.out.contains("PROGRAM:BACKEND/SERVER"))
        let v = try run(Paths.binary, ["--version"])
        #expect(v.status == 0 && v.out.hasPrefix("supervisor-haproxy "))
    }
}
