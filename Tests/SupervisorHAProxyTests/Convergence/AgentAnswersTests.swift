import CSocketShim
import Glibc
import Testing
@testable import SupervisorHAProxy

// What the agent port answers, without a socket: the word for each desired state, the
// neutral words for what it does not know, who has been told, and the unknown said once.

private func answers(_ mappings: [String], readyWhen: ReadyWhen = .running, log: Logger = Logger(), dryRun: Bool = false) -> (AgentAnswers, Reactor) {
    let table = MappingTable(mappings.map { try! Mapping.parse($0).get() })
    let reactor = Reactor(clock: Clock(virtual: 0))
    return (AgentAnswers(table: table, readyWhen: readyWhen, boundMs: 60_000, reactor: reactor, log: log, dryRun: dryRun), reactor)
}

private func ask(_ a: AgentAnswers, _ line: String, from ip: UInt64 = 0x0100007f, now: Int64 = 1000) -> String {
    let out = FixedBuffer(capacity: 128)
    _ = line.bytes.withBytes { a.answer($0, from: PeerIP(v4: ip), now: now, into: out) }
    return out.text
}

extension AgentAnswers {
    /// As `Convergence` tells it: the desired state, then the news.
    func changed(_ t: Int, to state: AdminState, now: Int64) {
        desired[t] = state
        changed(t, now: now)
    }
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
        a.changed(0, to: .ready, now: 0)
        #expect(ask(a, "web/app1 seen", now: 500) == "ready 0/1\n", "nobody polled yet: one unseen")
        #expect(ask(a, "web/app1 seen", now: 10_500) == "ready 0/1\n", "nobody polls, 10 s on: still one unseen, never 0/0")
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
        a.changed(0, to: .ready, now: 0)
        for t in stride(from: Int64(1000), through: 3000, by: 500) { _ = ask(a, "web/app1", from: 2, now: t) }
        _ = ask(a, "web/app1", from: 3, now: 3000)
        a.changed(0, to: .drain, now: 3100)
        _ = ask(a, "web/app1", from: 3, now: 3500)
        #expect(ask(a, "web/app1 seen", now: 3500) == "drain 1/2\n")
        // 2 polled every 500 ms and went quiet: gone after three of its intervals.
        #expect(ask(a, "web/app1 seen", now: 5100) == "drain 1/1\n")
    }

    /// A listener restarted while HAProxy's agent-inter is longer than the 10 s it once gave
    /// itself: `seen` said 0/0 and a wrap passed TERM with HAProxy still sending requests.
    @Test func noPollerIsNeverEveryPollerTold() {
        let (a, _) = answers(["app1:web/app1"])
        a.changed(0, to: .drain, now: 0)
        for now in [Int64(0), 9_999, 10_001, 60_000, 600_000] {
            #expect(ask(a, "web/app1 seen", now: now) == "drain 0/1\n", "at \(now) ms")
            #expect(!a.everyPollerTold(now: now))
        }
        _ = ask(a, "web/app1", from: 2, now: 15_000)
        #expect(ask(a, "web/app1 seen", now: 15_000) == "drain 1/1\n", "its first poll told it")
    }

    /// A stranger polling from eight more addresses once the balancer polls: the balancer
    /// stays counted, so `seen` never says every HAProxy was told while it was not.
    @Test func newcomersNeverPushOutAPollerThatStillPolls() {
        let log = Logger()
        log.captured = []
        let (a, _) = answers(["app1:web/app1"], log: log)
        a.changed(0, to: .ready, now: 0)
        for t in stride(from: Int64(0), through: 2000, by: 500) { _ = ask(a, "web/app1", from: 1, now: t) }
        a.changed(0, to: .drain, now: 2100)
        for ip in UInt64(2)...9 { _ = ask(a, "web/app1", from: ip, now: 2200) }
        #expect(ask(a, "web/app1 seen", now: 2200) == "drain 7/8\n", "the balancer (not told yet) kept its place; one stranger not counted")
        #expect(!a.everyPollerTold(now: 2200))
        #expect(log.captured!.filter { $0.contains("more than 8 addresses poll web/app1") }.count == 1, "\(log.captured!)")
        _ = ask(a, "web/app1", from: 1, now: 2500)
        #expect(ask(a, "web/app1 seen", now: 2500) == "drain 8/8\n")
        // The balancer goes quiet (removed): after three of its intervals its place is free.
        _ = ask(a, "web/app1", from: 10, now: 4100)
        #expect(ask(a, "web/app1 seen", now: 4100).hasSuffix("/8\n"))
    }

    /// `--agent-pollers`: only the named balancers count; any other poll is told nothing.
    @Test func onlyTheNamedPollersCount() throws {
        let log = Logger()
        log.captured = []
        let table = MappingTable([try Mapping.parse("app1:web/app1").get()])
        let ranges = try ["127.0.0.1", "10.1.0.0/16"].map { try AddressRange.parse($0).get() }
        let a = AgentAnswers(table: table, readyWhen: .running, boundMs: 60_000, reactor: Reactor(), log: log, pollers: ranges)
        a.changed(0, to: .drain, now: 0)
        #expect(ask(a, "web/app1", from: 0x0100_007f, now: 100) == "drain\n")
        #expect(ask(a, "web/app1", from: 0x0900_010a, now: 100) == "drain\n", "10.1.0.9 is in 10.1.0.0/16")
        for ip in UInt64(2)...40 { #expect(ask(a, "web/app1", from: ip << 24 | 0x7f, now: 200) == "unlisted-poller\n") }
        #expect(ask(a, "web/app1 seen", now: 200) == "drain 2/2\n", "strangers count for nothing")
        let said = log.captured!.filter { $0.contains("not in --agent-pollers") }
        #expect(said.count == 16 && said[0].contains("127.0.0.2 polled 'web/app1'"), "\(said.first ?? "")")
        #expect(log.captured!.filter { $0.contains("more than 16 addresses outside --agent-pollers") }.count == 1)
    }

    @Test func addressRanges() throws {
        let r = try AddressRange.parse("192.168.4.0/22").get()
        #expect(r.contains(PeerIP(bytes: [192, 168, 7, 255], isV6: false)))
        #expect(!r.contains(PeerIP(bytes: [192, 168, 8, 0], isV6: false)))
        let v6 = try AddressRange.parse("fd00::/8").get()
        #expect(v6.contains(PeerIP(bytes: [0xfd] + [UInt8](repeating: 1, count: 15), isV6: true)))
        #expect(!v6.contains(PeerIP(bytes: [192, 168, 7, 255], isV6: false)))
        #expect(try AddressRange.parse("::1").get().contains(PeerIP(bytes: [UInt8](repeating: 0, count: 15) + [1], isV6: true)))
        for bad in ["", "10.0.0.0/33", "10.0.0/8", "host.example", "::1/129", "10.0.0.1/", "10.0.0.1/x"] {
            guard case .failure = AddressRange.parse(bad) else { Issue.record("\(bad) accepted"); continue }
        }
    }

    @Test func aServerWithAnAddressIsReadyOnlyOnceItAcceptsAConnection() throws {
        let (a, reactor) = answers(["app1:web/app1@127.0.0.1:9"], readyWhen: .check)
        withExtendedLifetime(reactor) {
            a.changed(0, to: .maint, now: 0)
            a.changed(0, to: .ready, now: 0)
            reactor.advanceTime(by: 1000)
            #expect(ask(a, "web/app1", now: 1000) == "maint\n", "nothing listens at port 9: still out of rotation after 1 s of probes")
            #expect(a.unprobed.isEmpty)
        }
        // Something listens: ready at the first probe that connects, on the virtual clock.
        let port = freePort()
        let listener = try #require(listenLoopback(port))
        defer { close(listener) }
        let (c, clock) = answers(["app1:web/app1@127.0.0.1:\(port)"], readyWhen: .check)
        withExtendedLifetime(clock) {
            c.changed(0, to: .maint, now: 0)
            c.changed(0, to: .ready, now: 0)
            #expect(ask(c, "web/app1", now: 0) == "maint\n", "not probed yet")
            clock.advanceTime(by: 300)
            #expect(ask(c, "web/app1", now: 300) == "ready\n", "its address accepts: ready")
        }
        let (b, _) = answers(["app1:web/app1"], readyWhen: .check)
        b.changed(0, to: .ready, now: 0)
        #expect(ask(b, "web/app1") == "ready\n" && b.unprobed == [0], "no address: ready at RUNNING")
    }
}

/// A server under `wrap --notify` beside the agent: its program's word, relayed by its wrap
/// through supervisord, decides when the agent calls it ready.
@Suite struct AgentAnswersWithTheProgramsWord {
    /// The notice's status is copied at once, so the buffer behind it may go.
    @discardableResult
    private func say(_ a: AgentAnswers, _ word: RelayedWord, _ status: String = "", now: Int64 = 0) -> AgentAnswers.Heard {
        status.bytes.withBytes { a.programSaid(0, RelayedNotice(word: word, status: $0), now: now) }
    }

    @Test func readyOnlyOnceRunningAndTheProgramSaidReady() {
        let (a, _) = answers(["app1:web/app1"])
        #expect(say(a, .ready) == .notRelayed, "not under a wrap --notify: its word is not taken")
        a.relayFrom(0, now: 0)
        a.changed(0, to: .maint, now: 0)
        #expect(ask(a, "web/app1") == "maint\n")
        #expect(say(a, .ready, "loaded") == .changed)
        #expect(say(a, .ready, "loaded") == .same, "the wrap's repeat changes nothing")
        #expect(ask(a, "web/app1") == "maint up #loaded\n", "READY=1 before RUNNING: maint until supervisord says RUNNING; its STATUS= as HAProxy's description")
        a.changed(0, to: .ready, now: 10)
        #expect(ask(a, "web/app1") == "ready up #loaded\n")
        #expect(say(a, .drain, "reloading") == .changed)
        #expect(ask(a, "web/app1") == "drain up #reloading\n", "RELOADING=1: drain until its next READY=1")
        say(a, .ready)
        #expect(ask(a, "web/app1") == "ready\n")
        a.changed(0, to: .maint, now: 20)
        a.changed(0, to: .ready, now: 30)
        #expect(ask(a, "web/app1") == "maint\n", "a new start: the new process has said nothing yet")
    }

    /// The listener started while the program ran: what it said before is not known, and
    /// the agent says nothing HAProxy acts on until the wrap repeats it.
    @Test func aListenerStartedWhileItRanChangesNothingUntilTheWrapRepeats() {
        let (a, _) = answers(["app1:web/app1"])
        a.changed(0, to: .ready, now: 0)
        a.relayFrom(0, now: 0)
        #expect(ask(a, "web/app1") == "state-not-known-yet\n")
        #expect(say(a, .ready) == .changed)
        #expect(ask(a, "web/app1") == "ready\n")
    }

    /// With the program's address, ready still waits for a connect there (the one gate).
    @Test func theProgramsReadyStillGoesThroughTheGate() {
        let (a, reactor) = answers(["app1:web/app1@127.0.0.1:1"], readyWhen: .check)
        a.relayFrom(0, now: 0)
        a.changed(0, to: .maint, now: 0)
        a.changed(0, to: .ready, now: 0)
        say(a, .ready)
        reactor.advanceTime(by: 100)
        #expect(ask(a, "web/app1") == "maint\n", "nothing listens on port 1: maint while it is probed")
        #expect(a.answerWords(0).hasPrefix("maint until tcp://127.0.0.1:1 accepts a connection"))
    }

    @Test func aWrapNeverHeardFromIsSaidOnce() {
        let log = Logger()
        log.captured = []
        let (a, _) = answers(["app1:web/app1"], log: log)
        a.relayFrom(0, now: 0)
        a.changed(0, to: .maint, now: 0)
        a.changed(0, to: .ready, now: 1000)
        _ = ask(a, "web/app1", now: 5000)
        #expect(log.captured!.isEmpty)
        for now in [Int64(11_000), 12_000, 13_000] { _ = ask(a, "web/app1", now: now) }
        let said = log.captured!.filter { $0.contains("nothing relayed by its 'wrap --notify'") }
        #expect(said.count == 1 && said[0].contains("events=PROCESS_STATE,PROCESS_COMMUNICATION") && said[0].contains("stdout_capture_maxbytes=1KB"), "\(log.captured!)")
    }
}
