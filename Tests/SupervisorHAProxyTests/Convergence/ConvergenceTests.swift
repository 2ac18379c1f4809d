import Foundation
import Glibc
import Testing

// Never a lost state: retries, resync, start-up sync, several HAProxy instances, faults.

private func count(_ needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
}

/// utime + stime of a process, in clock ticks.
private func cpuTicks(_ pid: pid_t) -> Int {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return -1 }
    let f = stat[stat.index(after: close)...].split(separator: " ")
    return (Int(f[11]) ?? 0) + (Int(f[12]) ?? 0)
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct Convergence {
    @Test func eventsDuringAnOutageAreAckedRetriedAndApplied() throws {
        let dir = TempDir()
        let haproxy = HAProxy(dir: dir, apps: AppPorts())
        let d = try Driver(["--verbose", "--resync", "0", "--retry-max", "2", haproxy.unixAddress, "web1:web/web1", "web2:web/web2"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        // Acknowledged at once, never FAIL: FAIL would make supervisord re-queue and block.
        for e in [Driver.processState("STOPPING", "web1"), Driver.processState("STOPPED", "web1", from: "STOPPING"),
                  Driver.processState("RUNNING", "web2", from: "STARTING"), Driver.processState("STOPPED", "web2")] {
            #expect(try d.send(e) == "RESULT 2\nOK")
        }
        #expect(d.log.contains("ERROR connect \(haproxy.unixAddress): No such file or directory"), "\(d.log)")
        // While HAProxy is down the listener sleeps between retries (0.5 s, 1 s, 2 s, 2 s...).
        let before = cpuTicks(d.child.pid)
        sleep(3)
        let used = cpuTicks(d.child.pid) - before
        #expect(used >= 0 && used < 30, "CPU ticks over a 3 s outage: \(used)")
        #expect(count("change(s) pending, attempt", in: d.log) <= 6, "\(d.log)")

        try haproxy.start()
        #expect(haproxy.waitFor(["web/web1", "web/web2"], "maint"), "\(d.log)")
        #expect(waitUntil(5) { d.log.contains("reachable again") })
        // The latest desired state was sent, never a stale one.
        #expect(!d.log.contains("state drain' done") && !d.log.contains("state ready' done"), "\(d.log)")
    }

    /// A socket that answers reads but drops every `set server`: the back-off belongs to the
    /// failing command, so the reads a retry begins with do not reset it (0.5, 1, 2, 4 s: five
    /// attempts in 8 s, not sixteen), and the failure is said once per back-off step.
    @Test func aCommandThatKeepsFailingBacksOffThoughReadsGoThrough() throws {
        let dir = TempDir()
        let standIn = try StandIn(unixPath: dir.file("reads.sock"), mode: .readsOnly)
        defer { standIn.stop() }
        let d = try Driver(["--resync", "0", "--reload-check", "0", "unix://" + standIn.path, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK")
        sleep(8)
        let sets = count("set server web/web1 state maint", in: String(decoding: standIn.received, as: UTF8.self))
        #expect(sets >= 3 && sets <= 6, "\(sets) attempts in 8 s\n\(d.log)")
        #expect(!d.log.contains("reachable again"), "\(d.log)")
        #expect(count("ERROR", in: d.log) <= sets, "\(d.log)")
    }

    @Test func retriesOffDropsTheChangeAndSaysSo() throws {
        let dir = TempDir()
        let d = try Driver(["--retry-max", "0", "unix://" + dir.file("none.sock"), "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK")
        #expect(waitUntil(5) { d.log.contains("not retried (--retry-max 0), 1 change(s) dropped") }, "\(d.log)")
        // And it does not spin on the socket instead.
        let before = cpuTicks(d.child.pid)
        sleep(2)
        let used = cpuTicks(d.child.pid) - before
        #expect(used >= 0 && used < 20, "CPU ticks over 2 s with retries off: \(used)")
        #expect(d.log.components(separatedBy: "No such file or directory").count - 1 <= 2, "\(d.log)")
    }

    @Test func noSuchServerIsAConfigurationErrorNotRetried() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver(["--retry-max", "1", "--resync", "0", haproxy.tcpAddress, "web1:web/nope", "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK")
        #expect(haproxy.waitFor(["web/web1"], "maint"))
        #expect(waitUntil(5) { d.log.contains("ERROR HAProxy at \(haproxy.tcpAddress) answered 'No such server.' to 'set server web/nope state maint'") }, "\(d.log)")
        sleep(2)
        #expect(count("No such server.", in: d.log) == 1, "\(d.log)")
    }

    /// Resync re-applies what HAProxy forgot and tightens what lets more traffic through than
    /// wanted; a drain or maint somebody else set since the listener's own last command is
    /// their decision, left alone (and said once) until an event decides anew.
    @Test func resyncRepairsHandChangesThatLoosenAndRestartsButLeavesSomebodysMaintAlone() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver(["--resync", "1", haproxy.unixAddress, "web1:web/web1", "web2:web/web2", "other:api/api0"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        try d.send(Driver.processState("RUNNING", "web1", from: "STARTING"))
        try d.send(Driver.processState("STOPPED", "web2"))
        #expect(haproxy.waitFor(["web/web2"], "maint"))
        try haproxy.set("api/api0", "drain")
        try haproxy.set("web/web1", "maint")
        try haproxy.set("web/web2", "ready")
        let at = haproxy.unixAddress
        #expect(haproxy.waitFor(["web/web2"], "maint", seconds: 10), "\(d.log)")
        #expect(d.log.contains("WARNING resync: web/web2 at \(at) is ready, want maint; repairing"), "\(d.log)")
        let leftAlone = "WARNING resync: web/web1 at \(at) is maint, want ready: left alone, as somebody else set it (by hand, or a stop under way); 'set server web/web1 state ready' hands it back"
        #expect(waitUntil(10) { d.log.contains(leftAlone) }, "\(d.log)")
        sleep(3)
        #expect(haproxy.states()["web/web1"] == "maint", "three more resyncs leave it: \(d.log)")
        #expect(count(leftAlone, in: d.log) == 1, "said once: \(d.log)")
        #expect(!d.log.contains("web/web1 at \(at) is maint, want ready; repairing"), "\(d.log)")
        #expect(haproxy.states()["api/api0"] == "drain", "no event for 'other' yet: left alone")
        // An event is a decision: applied whatever HAProxy shows.
        try d.send(Driver.processState("RUNNING", "web1", from: "STARTING"))
        #expect(haproxy.waitFor(["web/web1"], "ready", seconds: 10), "\(d.log)")

        haproxy.stop()
        try haproxy.start()
        // A restarted HAProxy forgets: the listener finds web2 ready again and repairs it.
        #expect(waitUntil(10) { count("WARNING resync: web/web2 at \(at) is ready, want maint; repairing", in: d.log) == 2 }, "\(d.log)")
        #expect(haproxy.waitFor(["web/web2"], "maint", seconds: 10), "\(d.log)")
        #expect(haproxy.states()["web/web1"] == "ready")
    }

    @Test func severalInstancesEachWithItsOwnBackoff() throws {
        let dir = TempDir()
        let apps = AppPorts()
        let h1 = try HAProxy(dir: dir, name: "h1", apps: apps).start()
        let h2 = try HAProxy(dir: dir, name: "h2", apps: apps).start()
        let d = try Driver(["--resync", "0", "--timeout", "1", "--socket", h1.unixAddress, "--socket", h2.tcpAddress,
                            "web1:web/web1", "web2:web/web2"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        try d.send(Driver.processState("STOPPED", "web1"))
        #expect(h1.waitFor(["web/web1"], "maint") && h2.waitFor(["web/web1"], "maint"))

        h2.stop()
        try d.send(Driver.processState("STOPPED", "web2"))
        try d.send(Driver.processState("RUNNING", "web1", from: "STARTING"))
        #expect(h1.waitFor(["web/web2"], "maint", seconds: 3) && h1.waitFor(["web/web1"], "ready", seconds: 3), "\(d.log)")

        // Back up with its configuration's states (all ready): brought fully up to date.
        try h2.start()
        #expect(h2.waitFor(["web/web2"], "maint", seconds: 10), "\(d.log)")
        #expect(h2.states()["web/web1"] == "ready")
        #expect(d.log.contains("\(h2.tcpAddress): reachable again"))
    }

    @Test func aHangingSocketCostsTheOthersAtMostOneTimeout() throws {
        let dir = TempDir()
        let h1 = try HAProxy(dir: dir, apps: AppPorts()).start()
        let hang = try StandIn(unixPath: dir.file("hang.sock"), mode: .hang)
        defer { hang.stop() }
        let d = try Driver(["--timeout", "1", "--resync", "0", "--socket", "unix://" + hang.path, "--socket", h1.unixAddress,
                            "web1:web/web1", "web2:web/web2"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        for (i, e) in [Driver.processState("STOPPED", "web1"), Driver.processState("STOPPED", "web2"),
                       Driver.processState("RUNNING", "web1", from: "STARTING")].enumerated() {
            let start = Date()
            #expect(try d.send(e) == "RESULT 2\nOK")
            let took = -start.timeIntervalSinceNow
            #expect(took < 4, "event \(i) answered after \(took) s with --timeout 1")
        }
        #expect(h1.waitFor(["web/web1"], "ready", seconds: 4) && h1.waitFor(["web/web2"], "maint", seconds: 4), "\(d.log)")
        #expect(waitUntil(5) { d.log.contains("read unix://\(hang.path): timed out") }, "\(d.log)")
    }

    @Test(arguments: [(StandIn.Mode.garbage, "not a 'show servers state' answer: 'HTTP/1.1 400 Bad Request"),
                      (.closeAtOnce, "'show servers state' answer cut short")])
    func garbageOrCutShortAnswersAreRetriedUntilARealHAProxyAnswers(_ mode: StandIn.Mode, _ expected: String) throws {
        let dir = TempDir()
        let haproxy = HAProxy(dir: dir, apps: AppPorts())
        let standIn = try StandIn(unixPath: haproxy.unixPath, mode: mode)
        let d = try Driver(["--resync", "0", "--retry-max", "1", haproxy.unixAddress, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK")
        #expect(waitUntil(5) { d.log.contains(expected) }, "\(d.log)")
        standIn.stop()
        try haproxy.start()
        #expect(haproxy.waitFor(["web/web1"], "maint", seconds: 10), "\(d.log)")
        #expect(d.child.running)
    }

    @Test func aRealHAProxyStoppedThenKilledMidAnswer() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver(["--verbose", "--timeout", "3", "--resync", "0", "--retry-max", "1", haproxy.unixAddress, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(waitUntil(5) { d.log.contains("read 'show servers state'") }, "the start-up read is done: \(d.log)")
        // Stopped, HAProxy still accepts connections (the kernel queues them) and never answers.
        #expect(haproxy.child?.freeze() == true, "every HAProxy thread stopped")
        let start = Date()
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK")
        #expect(-start.timeIntervalSinceNow < 3, "acknowledged before it is applied")
        #expect(waitUntil(5) { unixBytesUnread(by: d.child.pid) > 0 }, "the listener's command waits, unread, in HAProxy's socket")
        haproxy.kill9()
        #expect(waitUntil(5) { d.log.contains("answer cut short") || d.log.contains("Connection reset by peer") }, "\(d.log)")
        #expect(!d.log.contains("timed out"), "killed mid-answer, not timed out: \(d.log)")
        try haproxy.start()
        #expect(haproxy.waitFor(["web/web1"], "maint", seconds: 10), "\(d.log)")
    }

    @Test func aSocketBelowLevelAdminIsReportedWithHAProxysWords() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let d = try Driver(["--resync", "0", "unix://" + haproxy.userPath, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        try d.send(Driver.processState("STOPPED", "web1"))
        #expect(waitUntil(5) { d.log.contains("ERROR HAProxy at unix://\(haproxy.userPath) answered 'Permission denied' to 'set server web/web1 state maint'") }, "\(d.log)")
        #expect(haproxy.states()["web/web1"] == "ready")
    }

    @Test func aUnixSocketWithoutFilePermissionIsReportedAndRetried() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        // The listener runs as nobody from a copy it may execute; the socket is root's, mode 600.
        let binDir = TempDir()
        chmod(binDir.path, 0o755)
        let copy = binDir.file("supervisor-haproxy")
        try FileManager.default.copyItem(atPath: Paths.staticBinary, toPath: copy)
        chmod(dir.path, 0o755)
        let d = try Driver(["--reuid=65534", "--regid=65534", "--clear-groups", copy, "--resync", "0", haproxy.unixAddress, "web1:web/web1"],
                           dir: dir, binary: which("setpriv"))
        defer { d.child.stop() }
        try d.expectReady()
        try d.send(Driver.processState("STOPPED", "web1"))
        #expect(waitUntil(5) { d.log.contains("connect \(haproxy.unixAddress): Permission denied") }, "\(d.log)")
        #expect(d.child.running)
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct ConvergenceUnderSupervisord {
    @Test func haproxyRestartedOrKilledWhileProgramsChangeState() throws {
        let dir = TempDir()
        let apps = AppPorts()
        let haproxy = try HAProxy(dir: dir, apps: apps).start()
        let sup = try Supervisord(dir: dir, apps: apps, listenerArgs: ["--retry-max", "1", haproxy.unixAddress] + exampleMappings).start()
        defer { sup.stop() }
        #expect(haproxy.waitFor(allServers, "ready"))

        haproxy.stop()
        sup.ctl("stop", "web1")
        try haproxy.start()
        #expect(haproxy.waitFor(["web/web1", "static/web1"], "maint", seconds: 10), "\(sup.listenerLog)")

        haproxy.kill9()
        sup.ctl("stop", "api:api_00")
        sup.ctl("start", "web1")
        try haproxy.start()
        #expect(haproxy.waitFor(["api/api0"], "maint", seconds: 10), "\(sup.listenerLog)")
        #expect(haproxy.waitFor(["web/web1", "static/web1", "web/web2", "api/api1"], "ready", seconds: 10))
        #expect(sup.protocolProblems.isEmpty, "\(sup.protocolProblems)")
        #expect(sup.status()["haproxy"] == "RUNNING")
    }

    @Test func aRestartedListenerPutsHAProxyRightFromSupervisordsView() throws {
        let dir = TempDir()
        let apps = AppPorts()
        let haproxy = try HAProxy(dir: dir, apps: apps).start()
        let sup = try Supervisord(dir: dir, apps: apps, listenerArgs: ["--resync", "0", haproxy.unixAddress] + exampleMappings).start()
        defer { sup.stop() }
        sup.ctl("stop", "web2")
        #expect(haproxy.waitFor(["web/web2"], "maint"))
        try haproxy.set("web/web2", "ready") // wrong, and no transition will come to fix it
        #expect(sup.ctl("restart", "haproxy").contains("started"))
        #expect(haproxy.waitFor(["web/web2"], "maint", seconds: 10), "\(sup.listenerLog)")
        #expect(sup.listenerLog.contains("INFO start-up sync: supervisord reports 5 process(es)"), "\(sup.listenerLog)")
        #expect(haproxy.states()["web/web1"] == "ready")
    }

    @Test func startupSyncOverHTTPWithCredentials() throws {
        let dir = TempDir()
        let apps = AppPorts()
        let haproxy = try HAProxy(dir: dir, apps: apps).start()
        let sup = try Supervisord(dir: dir, apps: apps, listenerArgs: ["--resync", "0", "--supervisor", "none", haproxy.unixAddress, "x:y/z"]).start()
        defer { sup.stop() }
        sup.ctl("stop", "web1")
        let d = try Driver(["--resync", "0", "--supervisor", sup.httpURL, haproxy.unixAddress] + exampleMappings, dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(haproxy.waitFor(["web/web1", "static/web1"], "maint"), "\(d.log)")
        #expect(haproxy.states()["web/web2"] == "ready")

        let wrong = sup.httpURL.replacingOccurrences(of: "s3cret", with: "wrong")
        let d2 = try Driver(["--resync", "0", "--supervisor", wrong, haproxy.unixAddress] + exampleMappings, dir: TempDir())
        defer { d2.child.stop() }
        try d2.expectReady()
        let shown = "http://operator:***@127.0.0.1:\(sup.httpPort)"
        #expect(waitUntil(5) { d2.log.contains("ERROR start-up sync from \(shown) refused: supervisord answered 'HTTP/1.0 401 Unauthorized'") }, "\(d2.log)")
        #expect(!d2.log.contains("wrong"), "the password never reaches the log")
        #expect(try d2.send(Driver.processState("RUNNING", "web2", from: "STARTING")) == "RESULT 2\nOK")
    }
}
