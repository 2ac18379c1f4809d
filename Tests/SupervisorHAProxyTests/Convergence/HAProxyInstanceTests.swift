import Testing
@testable import SupervisorHAProxy

// One HAProxy instance's schedule, resync and back-off on a virtual clock, against a scripted
// stats socket in the test process that keeps admin states as HAProxy does: what is sent
// when, to the millisecond.

/// The scripted HAProxy: web/web1's admin bits, its worker pid, and every request.
private final class ScriptedHAProxy {
    var adminBits = 0
    var pid = 100
    let peer: ScriptedPeer

    init(_ dir: TempDir, _ reactor: Reactor) {
        peer = ScriptedPeer(in: dir, reactor: reactor)
        peer.answer = { [unowned self] line, _ in
            if line == "show servers state" { return serversStateAnswer([("web", "web1", adminBits)]) }
            if line == "show info" { return "Name: HAProxy\nPid: \(pid)\nStart_time_sec: \(pid)\n\n" }
            var out = ""
            for command in line.split(separator: ";") {
                if command.hasSuffix(" state maint") { adminBits = 1 } else if command.hasSuffix(" state drain") { adminBits = 8 }
                else if command.hasSuffix(" state ready") { adminBits = 0 }
                out += "\n"
            }
            return out
        }
    }

    /// Requests other than `show info`, with their times.
    var sent: [String] { peer.requests.filter { $0.line != "show info" }.map { "\($0.at) \($0.line)" } }
}

private struct Instance {
    let reactor = Reactor(clock: Clock(virtual: 0))
    let dir = TempDir()
    let log = Logger()
    let haproxy: ScriptedHAProxy
    let convergence: SupervisorHAProxy.Convergence

    init(_ timing: Timing) throws {
        log.captured = []
        haproxy = ScriptedHAProxy(dir, reactor)
        let table = MappingTable([try Mapping.parse("web1:web/web1").get()])
        convergence = SupervisorHAProxy.Convergence(table: table, sockets: [try socketSpec("unix://" + haproxy.peer.path).get()], timing: timing, log: log,
                                  dryRun: false, readyWhen: .running, reactor: reactor)
        for i in convergence.instances { i.members.forEach(reactor.add) }
    }

    var said: [String] { log.captured ?? [] }
}

@Suite struct HAProxyInstanceOnAVirtualClock {
    /// The start-up read at once, the change, then a read every --resync exactly.
    @Test func aReadAtStartThenEveryResync() throws {
        let i = try Instance(Timing(timeoutMs: 2000, retryMaxMs: 30_000, resyncMs: 30_000, reloadCheckMs: 0))
        i.convergence.record(target: 0, state: .maint)
        i.reactor.advanceTime(by: 95_000)
        #expect(i.haproxy.sent == ["0 show servers state", "0 set server web/web1 state maint",
                                   "30000 show servers state", "60000 show servers state", "90000 show servers state"], "\(i.haproxy.sent)")
    }

    /// Somebody loosens maint to ready by hand: repaired at the next resync, said once.
    @Test func aLoosenedStateIsRepairedAtTheNextResync() throws {
        let i = try Instance(Timing(timeoutMs: 2000, retryMaxMs: 30_000, resyncMs: 30_000, reloadCheckMs: 0))
        i.convergence.record(target: 0, state: .maint)
        i.reactor.advanceTime(by: 10_000)
        i.haproxy.adminBits = 0
        i.reactor.advanceTime(by: 25_000)
        #expect(i.haproxy.sent.suffix(2) == ["30000 show servers state", "30000 set server web/web1 state maint"], "\(i.haproxy.sent)")
        #expect(i.haproxy.adminBits == 1)
        #expect(i.said.filter { $0.contains("resync: web/web1 at unix://") && $0.contains("is ready, want maint; repairing") }.count == 1, "\(i.said)")
    }

    /// Nobody listens: each attempt is a read, at 500 ms, then doubling up to --retry-max;
    /// said once per back-off step; back, the change goes through and that is said.
    @Test func backOffDoublesUpToRetryMaxAndRecovers() throws {
        let i = try Instance(Timing(timeoutMs: 2000, retryMaxMs: 4000, resyncMs: 0, reloadCheckMs: 0))
        i.haproxy.peer.stopListening()
        i.convergence.record(target: 0, state: .maint)
        i.reactor.advanceTime(by: 15_000)
        #expect(i.haproxy.sent.isEmpty)
        let errors = i.said.filter { $0.contains("ERROR") && $0.contains("change(s) pending, attempt") }
        #expect(errors.count == 4 && errors.allSatisfy { $0.contains("No such file or directory") }, "once per step: 500, 1000, 2000, 4000 ms: \(errors)")
        i.haproxy.peer.listen()
        i.reactor.advanceTime(by: 4_000)
        #expect(i.haproxy.sent.last?.hasSuffix("set server web/web1 state maint") == true && i.haproxy.adminBits == 1, "\(i.haproxy.sent)")
        #expect(i.said.contains { $0.contains("reachable again after") }, "\(i.said)")
    }

    /// A new worker (another pid in `show info`) is read at once and repaired, and the log
    /// says the new worker had the server in rotation.
    @Test func aReloadIsNoticedAtTheNextInfoAndRepaired() throws {
        let i = try Instance(Timing(timeoutMs: 2000, retryMaxMs: 30_000, resyncMs: 30_000, reloadCheckMs: 1000))
        i.convergence.record(target: 0, state: .maint)
        i.reactor.advanceTime(by: 5_200)
        i.haproxy.pid = 200
        i.haproxy.adminBits = 0
        i.reactor.advanceTime(by: 2_000)
        let after = i.haproxy.sent.filter { (Int($0.split(separator: " ")[0]) ?? 0) > 5_200 }
        #expect(after.count == 2 && after[0].hasSuffix("show servers state") && after[1].hasSuffix("set server web/web1 state maint"), "\(i.haproxy.sent)")
        #expect(after.allSatisfy { (Int($0.split(separator: " ")[0]) ?? 0) <= 6_200 }, "within one --reload-check: \(after)")
        #expect(i.said.contains { $0.contains("worker pid 100 -> 200") }, "\(i.said)")
        #expect(i.said.contains { $0.contains("HAProxy's new worker took it into rotation at its start") }, "\(i.said)")
    }
}
