import Testing
@testable import SupervisorHAProxy

// The drain on a virtual clock against a scripted stats socket in the test process: when it
// ends, to the millisecond, and why.

private struct DrainRun {
    let reactor = Reactor(clock: Clock(virtual: 10_000))
    let dir = TempDir()
    let peer: ScriptedPeer
    let group: ServerGroup
    let drain: Drain

    /// app/app1 drained on one socket whose `show stat` says `sessions(now)` for it.
    init(pollEveryMs: Int64 = 100, sessions: @escaping (Int64) -> Int) throws {
        peer = ScriptedPeer(in: dir, reactor: reactor)
        peer.answer = { line, now in
            line.hasPrefix("show stat") ? statAnswer([("app", "app1", sessions(now), "DRAIN"), ("app", "app2", 5, "UP")]) : "\n"
        }
        let client = HAProxyClient(try socketSpec("unix://" + peer.path).get(), timeoutMs: 2000)
        reactor.add(client)
        group = ServerGroup(client: client, targets: [try Target.parse("app/app1").get()])
        drain = Drain([group], reactor: reactor, pollEveryMs: pollEveryMs)
    }

    /// Starts at 10 000 ms with a 5 s deadline; the virtual time it finished at.
    func run() -> Int64? {
        var finishedAt: Int64?
        drain.onFinished = { finishedAt = $0 }
        drain.start(deadline: 15_000, now: reactor.now)
        reactor.advanceTime(by: 20_000)
        return finishedAt
    }
}

@Suite struct DrainOnAVirtualClock {
    @Test func itEndsAtTheFirstReadThatFindsNoSession() throws {
        let d = try DrainRun(sessions: { $0 < 11_050 ? 3 : 0 })
        #expect(d.run() == 11_100, "reads every 100 ms from 10 000: the first at or after 11 050 is at 11 100")
        #expect(!d.drain.timedOut && d.drain.sessionsLeft == 0)
        #expect(d.peer.requests.first?.line == "set server app/app1 state drain" && d.peer.requests.first?.at == 10_000)
        let reads = d.peer.requests.filter { $0.line.hasPrefix("show stat") }.map(\.at)
        #expect(reads == Array(stride(from: Int64(10_000), through: 11_100, by: 100)), "\(reads)")
    }

    @Test func oneThatNeverEmptiesEndsAtItsDeadlineExactly() throws {
        let d = try DrainRun(sessions: { _ in 3 })
        #expect(d.run() == 15_000)
        #expect(d.drain.timedOut && d.drain.sessionsLeft == 3)
    }

    /// The other servers' sessions (app2's 5) are not waited for; none on app1 ends it at once.
    @Test func onlyItsOwnServersSessionsCount() throws {
        let d = try DrainRun(sessions: { _ in 0 })
        #expect(d.run() == 10_000 && !d.drain.timedOut)
    }

    /// A socket nobody listens on: its `set` fails at once and it is not waited on (the owner
    /// reads `setFailed` and decides).
    @Test func aSocketNobodyListensOnIsNotWaitedOn() throws {
        let d = try DrainRun(sessions: { _ in 3 })
        d.peer.stopListening()
        #expect(d.run() == 10_000)
        #expect(d.drain.setFailed == [true] && !d.drain.timedOut)
        #expect(d.group.peer.error.code.nobodyListens)
    }
}
