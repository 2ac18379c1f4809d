import CSocketShim
import Glibc

// `restart`, `stop`, `start`: supervisord and HAProxy in step. Each step is linear (drain,
// stop, start, wait until UP), run on the reactor: the command waits on the reactor for the
// outcome of each exchange, every one bounded by its timeout, so nothing can hang it. One
// client per stats socket for the whole run, so the reactor does not grow with the roll.

func runControl(_ action: ControlAction, _ args: [String], environment: Environment, executable: String) -> Int32 {
    switch parseControl(action, args, environment: environment) {
    case .help:
        writeOut(1, controlHelp + "\n")
        return 0
    case .invalid(let problem):
        return invalidArguments(problem, usage: controlUsage, command: action.rawValue)
    case .run(let options):
        return ProcessControl(options: options, environment: environment, executable: executable).run()
    }
}

final class ProcessControl {
    static let pollEveryMs: Int64 = 200
    /// supervisord's own stop and start wait (stopwaitsecs, startsecs), bounded.
    static let controlCallMs = 120_000

    let options: ControlOptions
    let environment: Environment
    let executable: String
    let reactor = Reactor()
    let policy = StopPolicy.control
    private var signals: SignalChannel?
    /// One client per stats socket (by its text), made once.
    private var clients: [String: HAProxyClient] = [:]
    /// The reactor's member count after each step of a roll: constant (a test holds it to it).
    private(set) var membersAfterStep: [Int] = []
    private let error = FixedBuffer(capacity: 256)
    private var interrupted: Int32?
    private let startedAt = shim_now_ms()
    var hosts: [Host] = []

    init(options: ControlOptions, environment: Environment, executable: String) {
        self.options = options
        self.environment = environment
        self.executable = executable
    }

    /// The reactor ended the run (poll failed, or a second Ctrl-C): its exit, said once.
    struct Ended: Error { let exit: Exit }

    // MARK: output

    func say(_ text: String) {
        guard !options.quiet else { return }
        let ms = shim_now_ms() - startedAt
        let seconds = "\(ms / 1000).\(ms % 1000 / 100)s"
        writeOut(1, (String(repeating: " ", count: max(0, 6 - seconds.utf8.count)) + seconds + " " + text).escaped + "\n")
    }

    func fail(_ text: String) {
        writeOut(2, "supervisor-haproxy: \(text.escaped)\n")
    }

    private func seconds(since t: Int64) -> String { secondsText(shim_now_ms() - t) }

    // MARK: waiting on the reactor

    /// Turns the reactor until `done()`, or for `ms` when given. Throws when the reactor ended
    /// the run.
    private func wait(ms: Int64? = nil, _ done: () -> Bool = { false }) throws {
        let deadline = ms.map { shim_now_ms() + $0 } ?? Int64.max
        guard let exit = reactor.run(until: done, deadline: deadline) else { return }
        if reactor.failed { fail(reactor.error.text) }
        throw Ended(exit: exit)
    }

    /// One XML-RPC call, waited for; nil on success, else the failure in words.
    func call(_ host: Host, _ method: String, _ params: [XMLRPC.Param] = [],
                      onStruct: @escaping (XMLRPCReader) -> Void = { _ in }) throws -> String? {
        var finished = false
        var failure: String?
        host.client.call(method, params, now: shim_now_ms(), onStruct: onStruct) { f in
            failure = f
            finished = true
        }
        try wait { finished }
        return failure
    }

    /// The fault code of the last call's answer, 0 when none.
    func faultCode(_ host: Host) -> Int {
        host.client.reader.failure == .fault ? host.client.reader.faultCode : 0
    }

    // MARK: the run

    func run() -> Int32 {
        do {
            return try runSteps()
        } catch let e as Ended {
            if case .status(let code) = e.exit { return code }
            return 1
        } catch {
            return 1
        }
    }

    private func runSteps() throws -> Int32 {
        signals = SignalChannel(policy.handled, error: error) { [unowned self] sig in
            if interrupted != nil {
                fail("\(signalName(sig)) again: exiting now")
                return reactor.stop(.status(130))
            }
            interrupted = sig
            say("\(signalName(sig)): stopping after the current step (again to exit now)")
        }
        if let signals { reactor.add(signals) }
        guard let urls = supervisorURLs() else { return 2 }
        for url in urls {
            let client = SupervisorClient(url: url, keys: ["group", "name", "command", "statename"], timeoutMs: ProcessControl.controlCallMs,
                                          valueCapacity: 1 << 20)
            reactor.add(client)
            hosts.append(Host(url: url, client: client))
        }
        for h in hosts {
            guard try learn(h) else { return 2 }
        }
        for h in hosts {
            for sock in h.sockets where clients[sock.text] == nil {
                let c = HAProxyClient(sock, timeoutMs: options.timing.timeoutMs)
                clients[sock.text] = c
                reactor.add(c)
            }
        }
        guard let steps = resolveNames() else { return 2 }
        switch options.action {
        case .stop:
            return try stopPhase(steps) ? finish("stopped", steps.count) : 1
        case .start:
            return try startPhase(steps) ? finish("started", steps.count) : 1
        case .restart where !options.rolling:
            return try stopPhase(steps) && startPhase(steps) ? finish("restarted", steps.count) : 1
        case .restart:
            return try roll(steps)
        }
    }

    private func finish(_ what: String, _ count: Int) -> Int32 {
        say("\(what) \(count) process(es) in \(seconds(since: startedAt))")
        return 0
    }

    // MARK: HAProxy

    /// One group per stats socket, over the servers of `steps` that use it, on that socket's
    /// one client.
    private func serverGroups(_ steps: [Step]) -> [ServerGroup] {
        var bySocket: [(String, [Target])] = []
        for s in steps {
            for sock in s.sockets {
                if let k = bySocket.firstIndex(where: { $0.0 == sock.text }) {
                    for t in s.targets where !bySocket[k].1.contains(t) { bySocket[k].1.append(t) }
                } else {
                    bySocket.append((sock.text, s.targets))
                }
            }
        }
        return bySocket.map { text, targets in ServerGroup(client: clients[text]!, targets: targets) }
    }

    /// Starts an exchange on every group and waits for them all; false (each failure said)
    /// when one did not go through.
    private func everywhere(_ groups: [ServerGroup], _ start: (ServerGroup, Int64) -> Void,
                            failure: (ServerGroup) -> String) throws -> Bool {
        let now = shim_now_ms()
        for g in groups { start(g, now) }
        try wait { groups.allSatisfy { !$0.busy } }
        for g in groups where g.outcome != .ok { fail(failure(g)) }
        return groups.allSatisfy { $0.outcome == .ok }
    }

    private func setAll(_ groups: [ServerGroup], _ state: AdminState, _ what: String) throws -> Bool {
        try everywhere(groups, { $0.set(state, now: $1) }) { "\($0.peer.errorText); \(what) not set to \(state.word) there" }
    }

    private func readAll(_ groups: [ServerGroup]) throws -> Bool {
        try everywhere(groups, { $0.readStat(now: $1) }) { $0.peer.errorText }
    }

    private func names(_ steps: [Step]) -> String { steps.map(\.display).joined(separator: ", ") }

    // MARK: phases

    /// Drain, wait for the sessions to end, stop, maint.
    private func stopPhase(_ steps: [Step]) throws -> Bool {
        let groups = serverGroups(steps)
        let what = names(steps)
        if !groups.isEmpty {
            let drain = Drain(groups, reactor: reactor, pollEveryMs: ProcessControl.pollEveryMs)
            drain.onFirstCount = { [unowned self] n in say("draining \(what): \(n) session(s)") }
            let t0 = shim_now_ms()
            drain.start(deadline: t0 + Int64(options.drainTimeoutMs), now: t0)
            try wait { drain.finished }
            for (k, g) in groups.enumerated() where drain.setFailed[k] {
                fail("\(g.peer.errorText); \(what) not set to drain there")
            }
            guard !drain.setFailed.contains(true) || options.force else {
                fail("cannot drain \(what): not stopping it while HAProxy may still send it requests (--force to stop all the same)")
                return false
            }
            for (k, g) in groups.enumerated() where drain.readFailed[k] { fail(g.peer.errorText) }
            guard !drain.readFailed.contains(true) || options.force else {
                fail("cannot read the sessions of \(what): not stopping it (--force to stop all the same)")
                return false
            }
            if drain.timedOut {
                say("drain timeout for \(what) after \(seconds(since: t0)) with \(drain.sessionsLeft) session(s) left")
            } else {
                say("drained \(what) after \(seconds(since: t0))")
            }
        }
        guard try supervise(steps, start: false) else { return false }
        if !groups.isEmpty { _ = try setAll(groups, .maint, what) }
        return true
    }

    /// Start, ready once serving (the readiness gate), wait until UP everywhere.
    private func startPhase(_ steps: [Step]) throws -> Bool {
        guard try supervise(steps, start: true) else { return false }
        let groups = serverGroups(steps)
        guard !groups.isEmpty else { return true }
        let what = names(steps)
        let t0 = shim_now_ms()
        let deadline = t0 + Int64(options.upTimeoutMs)
        for g in groups { g.admit(options.readyWhen, boundMs: Int64(options.upTimeoutMs), reactor: reactor, now: t0) }
        try wait(ms: Int64(options.upTimeoutMs)) { groups.allSatisfy(\.settled) }
        if let g = groups.first(where: { !$0.settled }), let gates = g.gates {
            var seen: [String] = []
            for (k, t) in g.targets.enumerated() where gates.holding(k) { seen.append("\(t.name) on \(g.peer.display): \(gates.seen(k))") }
            fail("\(what) did not come back healthy within \(seconds(since: t0)): \(seen.joined(separator: "; ")); left out of rotation")
            return false
        }
        for g in groups where g.outcome != .ok { fail("\(g.peer.errorText); \(what) not set to ready there") }
        guard groups.allSatisfy({ $0.outcome == .ok }) else {
            fail("halted: \(what) not set to ready")
            return false
        }
        while true {
            let read = try readAll(groups)
            if read && groups.allSatisfy({ g in g.targets.indices.allSatisfy { g.settledUp($0) } }) {
                say("\(what) UP on every socket after \(seconds(since: t0))")
                return true
            }
            if shim_now_ms() >= deadline {
                var seen: [String] = []
                for g in groups {
                    if g.outcome != .ok { seen.append("\(g.peer.display): \(g.peer.errorText)"); continue }
                    for (k, t) in g.targets.enumerated() where !g.settledUp(k) {
                        seen.append("\(t.name) on \(g.peer.display) is \(g.status[k].isEmpty ? "not found" : g.status[k].text)")
                    }
                }
                fail("\(what) did not come back healthy within \(seconds(since: t0)): \(seen.joined(separator: "; "))")
                return false
            }
            try wait(ms: ProcessControl.pollEveryMs)
        }
    }

    /// Asks supervisord to stop or start every process of `steps` at once (without waiting),
    /// then reads each host's `getAllProcessInfo` until every one is as asked: N programs cost
    /// one stop or one start-up, not N. False (said) at the first supervisord refused, or
    /// that did not get there (FATAL, or still not there at the bound).
    private func supervise(_ steps: [Step], start: Bool) throws -> Bool {
        let method = start ? "supervisor.startProcess" : "supervisor.stopProcess"
        let t0 = shim_now_ms()
        var waiting: [Int] = []
        for (i, s) in steps.enumerated() {
            guard let failure = try call(hosts[s.host], method, [.string(s.namespec), .bool(false)]) else {
                waiting.append(i)
                continue
            }
            // 60 ALREADY_STARTED, 70 NOT_RUNNING: it already is as asked.
            guard faultCode(hosts[s.host]) == (start ? 60 : 70) else {
                fail("\(s.display) \(start ? "did not start" : "did not stop"): \(failure)")
                return false
            }
            say("\(s.display) \(start ? "was already running" : "was not running")")
        }
        let deadline = t0 + Int64(start ? options.upTimeoutMs : ProcessControl.controlCallMs)
        while !waiting.isEmpty {
            var states: [String: String] = [:]
            for h in Set(waiting.map { steps[$0].host }) {
                let host = hosts[h]
                if let failure = try call(host, "supervisor.getAllProcessInfo", onStruct: { s in
                    guard let g = s.value(0), let n = s.value(1), let state = s.value(3) else { return }
                    states["\(h) \(String(bytes: g)):\(String(bytes: n))"] = String(bytes: state)
                }) {
                    fail("supervisord at \(host.url.display): \(failure)")
                    return false
                }
            }
            var still: [Int] = []
            for i in waiting {
                let s = steps[i]
                let state = states["\(s.host) \(s.namespec)"] ?? "gone"
                switch (start, state) {
                case (true, "RUNNING"), (false, "STOPPED"), (false, "EXITED"), (false, "FATAL"):
                    say("\(start ? "started" : "stopped") \(s.display) after \(seconds(since: t0))")
                case (true, "FATAL"), (true, "STOPPED"), (true, "EXITED"), (_, "gone"):
                    fail("\(s.display) did not start: supervisord says \(state)")
                    return false
                default:
                    if shim_now_ms() >= deadline {
                        fail("\(s.display) did not \(start ? "start" : "stop") within \(seconds(since: t0)): supervisord says \(state)")
                        return false
                    }
                    still.append(i)
                }
            }
            waiting = still
            if !waiting.isEmpty { try wait(ms: ProcessControl.pollEveryMs) }
        }
        return true
    }

    /// A batch at a time (one process without --batch); halts at the first batch that does
    /// not come back healthy.
    private func roll(_ steps: [Step]) throws -> Int32 {
        let size = options.batch.map { $0.size(of: steps.count) } ?? 1
        var k = 0
        while k < steps.count {
            let rest = steps[k...].map(\.display).joined(separator: ", ")
            if let sig = interrupted {
                fail("\(signalName(sig)): stopped before \(steps[k].display); not touched: \(rest)")
                return 1
            }
            let batch: [Step]
            switch try nextBatch(steps[k...], size: size) {
            case .success(let b): batch = b
            case .failure(let refusal):
                fail("refusing to take down \(steps[k].display): \(refusal.text) (--force to do it all the same); not touched: \(rest)")
                return 1
            }
            guard try stopPhase(batch), try startPhase(batch) else {
                let after = steps[(k + batch.count)...].map(\.display)
                fail("halted at \(names(batch))\(after.isEmpty ? "" : "; not touched: " + after.joined(separator: ", "))")
                return 1
            }
            membersAfterStep.append(reactor.memberCount)
            k += batch.count
        }
        return finish("restarted", steps.count)
    }

    /// The next batch: up to `size` of the next processes, in order, as long as every backend
    /// keeps a server UP and ready outside the batch on every socket (unless --force). A
    /// failure names the server that would be the last one taken.
    private func nextBatch(_ rest: ArraySlice<Step>, size: Int) throws -> Result<[Step], Problem> {
        let candidates = Array(rest.prefix(size))
        if options.force { return .success(candidates) }
        let groups = serverGroups(candidates)
        guard !groups.isEmpty else { return .success(candidates) }
        guard try readAll(groups) else { return .failure(Problem("cannot read show stat to know whether it is the last server UP")) }
        // Per socket and backend: how many of its serving servers the batch takes so far.
        var taken: [String: Int] = [:]
        var batch: [Step] = []
        for s in candidates {
            var adds: [String: Int] = [:]
            for g in groups where s.sockets.contains(where: { $0.text == g.peer.display }) {
                for (k, t) in g.targets.enumerated() where s.targets.contains(t) && g.serving(k) {
                    let key = "\(g.peer.display) \(t.backend.string)"
                    adds[key, default: 0] += 1
                    // othersUp counts the backend's other servers UP and ready.
                    if taken[key, default: 0] + adds[key]! >= g.othersUp[k] + 1 {
                        if !batch.isEmpty { return .success(batch) }
                        return .failure(Problem("\(t.name) is the last server UP and ready in backend \(t.backend.string) on \(g.peer.display)"))
                    }
                }
            }
            taken.merge(adds, uniquingKeysWith: +)
            batch.append(s)
        }
        return .success(batch)
    }
}
