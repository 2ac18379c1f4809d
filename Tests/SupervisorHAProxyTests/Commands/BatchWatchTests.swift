import Testing
@testable import SupervisorHAProxy

// The judge of a rolling restart's batch, pure, and the watch that feeds it, against a
// scripted stats socket on a virtual clock: which verdict, at which millisecond.

private func counts(_ tried: Int, failed: Int = 0, checkDowns: Int = 0) -> ServerCounters {
    ServerCounters(tried: tried, serverErrors: failed, checkDowns: checkDowns)
}

@Suite struct BatchJudging {
    let judge = BatchJudge(settings: BatchJudge.Settings(healthyForMs: 5000, maxErrors: 0.02, progressDeadlineMs: 60_000))

    @Test func clearEvidenceHaltsBeforeTheWindowEnds() {
        #expect(judge.verdict(batch: counts(50, failed: 20), rest: counts(100), watchedMs: 1000, sinceUpMs: 1000) == .broken)
    }

    @Test func oneErrorInAThousandIsNotABrokenRelease() {
        #expect(judge.verdict(batch: counts(1000, failed: 1), rest: counts(2000), watchedMs: 1000, sinceUpMs: 1000)
                == .watching(tooLittleTraffic: false))
        #expect(judge.verdict(batch: counts(1000, failed: 1), rest: counts(2000), watchedMs: 5000, sinceUpMs: 5000) == .healthy)
    }

    @Test func twoFailuresAreNotYetBeyondDoubt() {
        #expect(judge.verdict(batch: counts(4, failed: 2), rest: counts(8), watchedMs: 100, sinceUpMs: 100) == .watching(tooLittleTraffic: false))
        #expect(judge.verdict(batch: counts(5, failed: 3), rest: counts(8), watchedMs: 100, sinceUpMs: 100) == .broken)
    }

    @Test func aRatioAboveTheLimitAtTheEndOfTheWindowFails() {
        // 3 of 100: not beyond doubt above 2 %, but above it.
        #expect(judge.verdict(batch: counts(100, failed: 3), rest: counts(200), watchedMs: 4999, sinceUpMs: 4999) == .watching(tooLittleTraffic: false))
        #expect(judge.verdict(batch: counts(100, failed: 3), rest: counts(200), watchedMs: 5000, sinceUpMs: 5000) == .broken)
    }

    @Test func aBackendFailingForEveryServerIsNotBlamedOnTheBatch() {
        #expect(judge.verdict(batch: counts(50, failed: 20), rest: counts(100, failed: 38), watchedMs: 1000, sinceUpMs: 1000) == .backendFailing)
        #expect(judge.verdict(batch: counts(100, failed: 3), rest: counts(100, failed: 4), watchedMs: 5000, sinceUpMs: 5000) == .backendFailing)
    }

    @Test func aHealthCheckGoneDownFails() {
        #expect(judge.verdict(batch: counts(0, checkDowns: 1), rest: counts(0), watchedMs: 100, sinceUpMs: 100) == .checksFailing)
    }

    @Test func tooLittleTrafficWaitsForTheDeadlineThenIsUnjudged() {
        #expect(judge.verdict(batch: counts(5), rest: counts(5), watchedMs: 5000, sinceUpMs: 5000) == .watching(tooLittleTraffic: true))
        #expect(judge.verdict(batch: counts(5), rest: counts(5), watchedMs: 60_000, sinceUpMs: 60_000) == .unjudged)
        #expect(judge.verdict(batch: counts(20), rest: counts(5), watchedMs: 30_000, sinceUpMs: 30_000) == .healthy)
    }

    @Test func theOptionsAndTheirWords() throws {
        #expect(try maxErrorsOption("2%").get() == 0.02)
        #expect(try maxErrorsOption("0.5").get() == 0.005)
        #expect(throws: Problem.self) { try maxErrorsOption("101%").get() }
        #expect(throws: Problem.self) { try maxErrorsOption("-1").get() }
        #expect(percentWords(0.005) == "0.5 %")
        #expect(percentText(212, of: 530) == "40 %")
        #expect(counts(1060).words == "0 of 1,060 failed")
        #expect(counts(530, failed: 212).words == "212 of 530 failed (40 %: 212 5xx)")
        guard case .run(let o) = parseControl(.restart, ["--rolling", "--max-errors", "2%", "app1"]) else { Issue.record("refused"); return }
        #expect(o.watch == BatchJudge.Settings(healthyForMs: 10_000, maxErrors: 0.02, progressDeadlineMs: 60_000))
        #expect(parseControl(.restart, ["--healthy-for", "5", "app1"]) == .invalid("--healthy-for goes with --rolling (a batch is watched before the next)"))
        #expect(parseControl(.restart, ["--rolling", "--healthy-for", "30", "--progress-deadline", "10", "app1"])
                == .invalid("--progress-deadline (10.0 s) is shorter than --healthy-for (30.0 s)"))
    }
}

/// A stats socket whose counters grow with the virtual clock: per second, `perSecond`
/// requests to each server, of which the batch's `batchFailing` fraction fail (5xx), and its
/// worker's pid from `pid(now)`.
private final class CountingHAProxy {
    let dir = TempDir()
    let reactor = Reactor(clock: Clock(virtual: 1_000_000))
    let peer: ScriptedPeer
    let client: HAProxyClient
    var perSecond = 20
    var batchFailing = 0.0
    var restFailing = 0.0
    var pid: (Int64) -> Int = { _ in 100 }
    /// When the counters of the current worker began.
    var workerStart: (Int64) -> Int64 = { _ in 1_000_000 }

    init() throws {
        peer = ScriptedPeer(in: dir, reactor: reactor)
        client = HAProxyClient(try socketSpec("unix://" + dir.file("scripted.sock")).get(), timeoutMs: 2000)
        reactor.add(client)
        peer.answer = { [unowned self] line, now in
            if line.hasPrefix("show info") { return "Name: HAProxy\nVersion: 2.6.12\nPid: \(pid(now))\n\n" }
            let seconds = Double(now - workerStart(now)) / 1000
            let n = Int(seconds * Double(perSecond))
            var t = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,econ,eresp,status,chkdown,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,\n"
            for (server, failing) in [("app1", batchFailing), ("app2", restFailing), ("app3", restFailing)] {
                let bad = Int(Double(n) * failing)
                t += "app,\(server),0,0,0,0,,\(n),0,0,UP,0,0,\(n - bad),0,0,\(bad),0,\n"
            }
            return t + "\n"
        }
    }

    func watch(healthyForMs: Int64 = 5000, maxErrors: Double = 0.02) throws -> BatchWatch {
        let settings = BatchJudge.Settings(healthyForMs: healthyForMs, maxErrors: maxErrors, progressDeadlineMs: 60_000)
        return BatchWatch([(client, [try Target.parse("app/app1").get()])], settings: settings, reactor: reactor, now: reactor.now)
    }
}

@Suite struct BatchWatchOnAVirtualClock {
    @Test func aBrokenReleaseIsHaltedAtTheFirstReadsThatProveIt() throws {
        let h = try CountingHAProxy()
        h.batchFailing = 0.4
        let w = try h.watch()
        h.reactor.advanceTime(by: 999)
        #expect(!w.finished, "one read, the baseline")
        h.reactor.advanceTime(by: 1)
        #expect(w.finished && w.verdict == .broken, "20 requests, 8 failed, after 1 s of a 5 s window: \(w.verdict)")
        #expect(w.evidence(now: h.reactor.now) == "app/app1: 8 of 20 failed (40 %: 8 5xx) in 1.0 s; the rest of backend app: 0 of 40 failed")
        let stats = h.peer.requests.filter { $0.line.hasPrefix("show stat") }
        #expect(stats.count == 2 && stats.allSatisfy { $0.line == "show stat app 4 -1" }, "the batch's backend only, once a second")
    }

    @Test func aGoodReleaseIsHealthyWhenTheWindowEnds() throws {
        let h = try CountingHAProxy()
        let w = try h.watch()
        h.reactor.advanceTime(by: 4999)
        #expect(!w.finished)
        h.reactor.advanceTime(by: 1)
        #expect(w.finished && w.verdict == .healthy)
    }

    @Test func aBackendFailingEverywhereIsSaidSo() throws {
        let h = try CountingHAProxy()
        h.batchFailing = 0.4
        h.restFailing = 0.4
        let w = try h.watch()
        h.reactor.advanceTime(by: 1000)
        #expect(w.finished && w.verdict == .backendFailing)
    }

    @Test func aReloadStartsTheWindowAgain() throws {
        let h = try CountingHAProxy()
        // The worker is replaced at +2.5 s: a new pid, counters from zero.
        let reloadAt: Int64 = 1_002_500
        h.pid = { $0 >= reloadAt ? 200 : 100 }
        h.workerStart = { $0 >= reloadAt ? reloadAt : 1_000_000 }
        var notes: [String] = []
        let w = try h.watch()
        w.onNote = { notes.append($0) }
        h.reactor.advanceTime(by: 7999)
        #expect(!w.finished, "the window began again at +3 s (the first read of the new worker): 5 s from then")
        #expect(notes.count == 1 && notes[0].hasSuffix("has a new worker (pid 100 -> 200): its counters started again; the watch starts again"), "\(notes)")
        h.reactor.advanceTime(by: 1)
        #expect(w.finished && w.verdict == .healthy)
    }

    @Test func tooLittleTrafficIsSaidOnceAndWaitedFor() throws {
        let h = try CountingHAProxy()
        h.perSecond = 1
        var notes: [String] = []
        let w = try h.watch()
        w.onNote = { notes.append($0) }
        h.reactor.advanceTime(by: 10_000)
        #expect(!w.finished)
        #expect(notes.count == 1 && notes[0].hasPrefix("too little traffic to judge yet: 5 request(s) in 5.0 s (20 needed)"), "\(notes)")
        h.reactor.advanceTime(by: 10_000)
        #expect(w.finished && w.verdict == .healthy, "20 requests at +20 s")
    }

    @Test func aReadThatFailsJudgesNothing() throws {
        let h = try CountingHAProxy()
        h.batchFailing = 0.4
        let w = try h.watch()
        h.reactor.advanceTime(by: 500)
        h.peer.stopListening()
        h.reactor.advanceTime(by: 3000)
        #expect(!w.finished && w.readFailure?.contains("scripted.sock") == true, "\(String(describing: w.readFailure))")
        h.peer.listen()
        h.reactor.advanceTime(by: 500)
        #expect(w.finished && w.verdict == .broken, "judged from the baseline of the first read: 32 of 80 in 4 s")
    }
}
