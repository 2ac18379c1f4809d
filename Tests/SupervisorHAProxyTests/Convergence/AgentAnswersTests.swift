import CSocketShim
import Testing
@testable import SupervisorHAProxy

// What the agent port answers, without a socket: the word for each desired state, the
// neutral words for what it does not know, who has been told, and the unknown said once.

private func answers(_ mappings: [String], readyWhen: ReadyWhen = .running, log: Logger = Logger(), dryRun: Bool = false) -> (AgentAnswers, Reactor) {
    let table = MappingTable(mappings.map { try! Mapping.parse($0).get() })
    let reactor = Reactor()
    return (AgentAnswers(table: table, readyWhen: readyWhen, boundMs: 60_000, reactor: reactor, log: log, dryRun: dryRun), reactor)
}

private func ask(_ a: AgentAnswers, _ line: String, from ip: UInt64 = 0x0100007f, now: Int64 = 1000) -> String {
    let out = FixedBuffer(capacity: 128)
    _ = line.bytes.withBytes { a.answer($0, from: PeerIP(v4: ip), now: now, into: out) }
    return out.text
}

@Suite struct AgentAnswering {
    @Test func theDesiredStateAsHAProxysAdminWords() {
        let (a, _) = answers(["app1:web/app1", "app2:web/app2"])
        #expect(ask(a, "web/app1") == "state-not-known-yet\n", "before supervisord said anything: a word HAProxy ignores")
        a.changed(0, to: .ready, now: 0)
        a.changed(1, to: .drain, now: 0)
        #expect(ask(a, "web/app1") == "ready\n")
        #expect(ask(a, "web/app2") == "drain\n")
        a.changed(1, to: .maint, now: 0)
        #expect(ask(a, "web/app2 ") == "maint\n", "trailing blanks are no part of the name")
    }

    @Test func aDryRunAnswersAWordHAProxyIgnores() {
        let (a, _) = answers(["app1:web/app1"], dryRun: true)
        a.changed(0, to: .maint, now: 0)
        #expect(ask(a, "web/app1") == "dry-run\n")
        #expect(ask(a, "web/app1 seen") == "maint 0/1\n", "what it would answer; nobody was told it")
    }

    @Test func anythingElseGetsTheSameNeutralWordAndIsSaidOnce() {
        let log = Logger()
        log.captured = []
        let (a, _) = answers(["app1:web/app1"], log: log)
        for line in ["web/nope", "web/nope", "garbage \u{1b}[2J", "web", "", "web/app1 seen extra", "web/app1 maint"] {
            #expect(ask(a, line) == "unknown-server\n", "\(line.escaped)")
        }
        let said = log.captured!.filter { $0.contains("agent port") }
        #expect(said.count == 1 && said[0].contains("'web/nope'"), "a name HAProxy could send, once; garbage is the port's to count: \(said)")
    }

    @Test func afterSixteenDistinctUnknownsNothingMoreIsSaid() {
        let log = Logger()
        log.captured = []
        let (a, _) = answers(["app1:web/app1"], log: log)
        for k in 0..<1000 { _ = ask(a, "web/x\(k)") }
        #expect(log.captured!.count == 17, "16 names and one line saying no more are logged")
    }

    @Test func seenCountsThePollersToldSinceTheWordBegan() {
        let (a, _) = answers(["app1:web/app1"])
        a.started(now: 0)
        a.changed(0, to: .ready, now: 0)
        #expect(ask(a, "web/app1 seen", now: 500) == "ready 0/1\n", "nobody polled yet, in the first 10 s: one unseen")
        #expect(ask(a, "web/app1 seen", now: 10_500) == "ready 0/0\n", "nobody polls")
        _ = ask(a, "web/app1", from: 2, now: 1000)
        _ = ask(a, "web/app1", from: 3, now: 1000)
        #expect(ask(a, "web/app1 seen", now: 1100) == "ready 2/2\n")
        a.changed(0, to: .drain, now: 1200)
        #expect(ask(a, "web/app1 seen", now: 1200) == "drain 0/2\n", "a new word: nobody told yet")
        _ = ask(a, "web/app1", from: 2, now: 1500)
        #expect(ask(a, "web/app1 seen", now: 1500) == "drain 1/2\n")
        _ = ask(a, "web/app1", from: 3, now: 1500)
        #expect(ask(a, "web/app1 seen", now: 1500) == "drain 2/2\n")
        #expect(a.everyPollerTold(now: 1500))
        // A query is not a poll: the asker is not counted.
        #expect(ask(a, "web/app1 seen", from: 9, now: 1500) == "drain 2/2\n")
    }

    @Test func aPollerThatStopsPollingAgesOut() {
        let (a, _) = answers(["app1:web/app1"])
        a.started(now: 0)
        a.changed(0, to: .ready, now: 0)
        for t in stride(from: Int64(1000), through: 3000, by: 500) { _ = ask(a, "web/app1", from: 2, now: t) }
        _ = ask(a, "web/app1", from: 3, now: 3000)
        a.changed(0, to: .drain, now: 3100)
        _ = ask(a, "web/app1", from: 3, now: 3500)
        #expect(ask(a, "web/app1 seen", now: 3500) == "drain 1/2\n")
        // 2 polled every 500 ms and went quiet: gone after three of its intervals.
        #expect(ask(a, "web/app1 seen", now: 5100) == "drain 1/1\n")
    }

    @Test func aServerWithAnAddressIsReadyOnlyOnceItAcceptsAConnection() {
        let (a, reactor) = answers(["app1:web/app1@127.0.0.1:9"], readyWhen: .check)
        withExtendedLifetime(reactor) {
            a.changed(0, to: .maint, now: 0)
            a.changed(0, to: .ready, now: 0)
            reactor.run(deadline: shim_now_ms() + 300)
            #expect(ask(a, "web/app1") == "maint\n", "nothing listens at port 9: still out of rotation")
            #expect(a.unprobed.isEmpty)
        }
        let (b, _) = answers(["app1:web/app1"], readyWhen: .check)
        b.changed(0, to: .ready, now: 0)
        #expect(ask(b, "web/app1") == "ready\n" && b.unprobed == [0], "no address: ready at RUNNING")
    }
}
