import Testing
@testable import SupervisorHAProxy

// The readiness gate's steps with scripted `show stat` lines and a clock the test drives:
// every branch, in milliseconds, no HAProxy.

private let columns = StatLine.Columns(pxname: 0, svname: 1, qcur: 2, scur: 3, status: 4, chkfail: 5, checkStatus: 6, addr: 7)

/// `show stat` says `status` (and `check`, empty for a server without checks) of server k.
private func see(_ g: ReadinessGates, _ k: Int, _ status: String, check: String? = "", address: String = "127.0.0.1:9", now: Int64) {
    let text = "app,s\(k),0,0,\(status),\(check == nil ? "" : "0"),\(check ?? ""),\(address)"
    text.bytes.withBytes { g.take(StatLine($0, columns)!, k, now: now) }
}

private func gates(_ mode: ReadyWhen = .check, count: Int = 1, boundMs: Int64 = 5000) -> ReadinessGates {
    // The gates keep their reactor unowned: one that lives as long as the test process.
    let reactor = Unmanaged.passRetained(Reactor()).takeUnretainedValue()
    let g = ReadinessGates(count: count, mode: mode, boundMs: boundMs, reactor: reactor)
    return g
}

@Suite struct ReadinessGateSteps {
    @Test func aStartedProgramWithACheckEntersDrainWithHealthDownThenPassesOnUp() {
        let g = gates()
        var passed: [Int] = []
        g.onPassed = { k, _ in passed.append(k) }
        g.begin(0, fromMaint: true, now: 0)
        #expect(g.steps[0] == .deciding && g.holding(0) && g.polling == 1)
        see(g, 0, "MAINT", now: 10)
        #expect(g.steps[0] == .entering && g.entryChange[0] == .gateEntry && g.entering == 1)
        g.entered(0, ok: true, now: 20)
        #expect(g.steps[0] == .checking)
        see(g, 0, "DOWN", now: 270)
        #expect(g.steps[0] == .checking, "its health was forced down: still waiting")
        see(g, 0, "DRAIN", check: "L7OK", now: 520)
        #expect(g.steps[0] == .passed && passed == [0] && !g.holding(0) && g.polling == 0)
    }

    /// A fresh worker's UP (before any check: empty check status) proves nothing.
    /// Where a gate that begins goes at its first look.
    private func firstLook(fromMaint: Bool, _ status: String, check: String?) -> (ReadinessGates.Step, passed: Int) {
        let g = gates()
        var passed = 0
        g.onPassed = { _, _ in passed += 1 }
        g.begin(0, fromMaint: fromMaint, now: 0)
        see(g, 0, status, check: check, now: 10)
        return (g.steps[0], passed)
    }

    @Test func anUpWithoutAPassedCheckIsNoPass() {
        #expect(firstLook(fromMaint: true, "UP", check: "") == (.entering, 0), "into the gate, not through it")
        #expect(firstLook(fromMaint: true, "UP 1/3", check: "L4CON") == (.entering, 0))
    }

    /// Out of maint, UP with a passed check: another command's gate let it in.
    @Test func anUpWithAPassedCheckIsLeftIn() {
        #expect(firstLook(fromMaint: true, "UP", check: "L7OK") == (.passed, 1))
    }

    /// The listener's start (past unknown): a server already in rotation passes at once.
    @Test func aServerInRotationAtTheListenersStartPasses() {
        #expect(firstLook(fromMaint: false, "UP", check: "") == (.passed, 1))
    }

    /// Without a check, in maint: probed where HAProxy says the server is (no probe runs
    /// here: the address is port 9 and the test drives no reactor).
    @Test func withoutACheckItIsProbedOrHeldInMaint() {
        let g = gates()
        g.begin(0, fromMaint: true, now: 0)
        see(g, 0, "no check", check: nil, now: 10)
        #expect(g.steps[0] == .entering && g.entryChange[0] == .state(.maint), "out of maint though its program starts: back to maint first")
        let h = gates(.connect)
        h.begin(0, fromMaint: true, now: 0)
        see(h, 0, "MAINT", check: nil, now: 10)
        #expect(h.steps[0] == .probing)
        h.open(0)
        #expect(h.steps[0] == .open && !h.holding(0))
    }

    @Test func noAddressToProbePassesAndSaysSo() {
        let g = gates(.connect)
        g.begin(0, fromMaint: true, now: 0)
        see(g, 0, "MAINT", check: nil, address: "", now: 10)
        #expect(g.steps[0] == .passed && g.seen(0).contains("no address to probe"))
    }

    @Test func aRefusedEntryOpensTheGate() {
        let g = gates()
        g.begin(0, fromMaint: true, now: 0)
        see(g, 0, "MAINT", now: 10)
        g.entered(0, ok: false, now: 20)
        #expect(g.steps[0] == .open && g.entering == 0)
    }

    /// Said once, at the bound, with what was last seen; never before.
    @Test func overdueIsSaidOnceAtTheBound() {
        let g = gates(boundMs: 5000)
        var said: [String] = []
        g.onOverdue = { _, seen in said.append(seen) }
        g.begin(0, fromMaint: true, now: 1000)
        see(g, 0, "MAINT", now: 1010)
        g.entered(0, ok: true, now: 1020)
        see(g, 0, "DOWN", check: "L4CON", now: 3000)
        g.polled(whole: true, now: 5999)
        #expect(said.isEmpty)
        g.polled(whole: true, now: 6000)
        g.polled(whole: true, now: 9000)
        #expect(said == ["show stat: DOWN, L4CON"])
    }

    /// A gate that begins is looked at at once, then every pollMs after each whole read;
    /// nothing to poll, nothing due.
    @Test func pollsArePacedByTheGate() {
        let g = gates(count: 2)
        #expect(!g.pollDue(now: 0), "nobody at a gate")
        g.begin(0, fromMaint: true, now: 1000)
        #expect(g.pollDue(now: 1000))
        g.polled(whole: true, now: 1000)
        #expect(!g.pollDue(now: 1000 + ReadinessGates.pollMs - 1) && g.pollDue(now: 1000 + ReadinessGates.pollMs))
        g.begin(1, fromMaint: true, now: 1100)
        #expect(g.pollDue(now: 1100), "a second gate that begins decides without waiting")
        var polled: [Int] = []
        g.forEachPolled { polled.append($0) }
        #expect(polled == [0, 1])
        see(g, 0, "MAINT", now: 1100)
        var entries: [Int] = []
        g.forEachEntry { k, change in entries.append(k); return change == .gateEntry }
        #expect(entries == [0])
    }

    @Test func runningModeHasNoGate() {
        let g = gates(.running)
        g.begin(0, fromMaint: true, now: 0)
        #expect(g.steps[0] == .open && !g.holding(0))
    }

    /// Each server has its own steps; counts follow.
    @Test func serversMoveOnTheirOwn() {
        let g = gates(count: 3)
        for k in 0..<3 { g.begin(k, fromMaint: true, now: 0) }
        #expect(g.polling == 3)
        see(g, 0, "MAINT", now: 5)
        see(g, 1, "UP", check: "L7OK", now: 5)
        #expect(g.polling == 1 && g.entering == 1)
        #expect(g.steps == [.entering, .passed, .deciding])
    }
}

/// A command's admission (`wrap`, `restart`: `ServerGroup.admit`) on a virtual clock against
/// a scripted stats socket that goes away for 2 s, as a reloading HAProxy's does.
@Suite struct AnAdmissionOnAVirtualClock {
    /// The socket goes away just as the gate passes (its `set … ready` fails), and again
    /// while the gate polls: the admission tries again, backing off, and ends with ready
    /// once the socket is back; it is never given up with the server left in drain.
    @Test(arguments: ["at the pass", "while polling"])
    func aSocketThatGoesAwayDoesNotEndTheAdmission(_ when: String) throws {
        let reactor = Reactor(clock: Clock(virtual: 10_000))
        let dir = TempDir()
        let peer = ScriptedPeer(in: dir, reactor: reactor)
        var entered = false
        var stops = 0
        peer.answer = { [unowned peer] line, _ in
            if line.hasPrefix("show stat") {
                if when == "while polling" && entered && stops == 0 {
                    stops += 1
                    peer.stopListening()
                    return "\n"
                }
                if entered && when == "at the pass" && stops == 0 {
                    stops += 1
                    peer.stopListening()
                }
                return statAnswer([("app", "app1", 0, entered ? "DRAIN" : "MAINT")])
            }
            if line.contains("health down") { entered = true }
            return String(repeating: "\n", count: line.split(separator: ";").count)
        }
        let client = HAProxyClient(try socketSpec("unix://" + peer.path).get(), timeoutMs: 2000)
        reactor.add(client)
        let group = ServerGroup(client: client, targets: [try Target.parse("app/app1").get()])
        var said: [(Int, Int)] = []
        group.onGateRetry = { _, failures, after, _ in said.append((failures, after)) }
        group.admit(.check, boundMs: 60_000, reactor: reactor, now: reactor.now)
        reactor.advanceTime(by: 2_000)
        #expect(stops == 1 && !group.settled, "the socket went away and the admission waits: \(peer.requests)")
        peer.listen()
        reactor.advanceTime(by: 10_000)
        #expect(group.settled && group.outcome == .ok, "\(peer.requests)")
        let last = peer.requests.last
        #expect(last?.line == "set server app/app1 state ready" && (last?.at ?? 0) >= 12_000, "\(peer.requests)")
        #expect(said.count == 2 && said.first?.0 == 1 && said.last?.0 == 0 && (said.last?.1 ?? 0) >= 2, "told once when it began failing, once when it went through: \(said)")
    }
}

extension AnAdmissionOnAVirtualClock {
    /// `restart`'s admission gives up after its bound of failures in a row (HAProxy gone
    /// for good): a failed `set … ready`, told to its owner, who halts.
    @Test func aBoundedAdmissionEndsFailedWhenTheSocketStaysAway() throws {
        let reactor = Reactor(clock: Clock(virtual: 10_000))
        let dir = TempDir()
        let peer = ScriptedPeer(in: dir, reactor: reactor)
        peer.stopListening()
        let client = HAProxyClient(try socketSpec("unix://" + peer.path).get(), timeoutMs: 2000)
        reactor.add(client)
        let group = ServerGroup(client: client, targets: [try Target.parse("app/app1").get()])
        group.gateRetryLimit = 5
        var ended: [ServerGroup.Ended] = []
        var endedAt: Int64 = 0
        group.onEnd = { _, e, now in ended.append(e); endedAt = now }
        group.admit(.check, boundMs: 60_000, reactor: reactor, now: reactor.now)
        reactor.advanceTime(by: 30_000)
        #expect(ended == [.set(.ready, ok: false)] && group.settled && group.outcome == .failed)
        #expect(endedAt == 10_000 + 250 + 500 + 1000 + 2000 + 4000, "six attempts, five back-offs: \(endedAt)")
    }
}
