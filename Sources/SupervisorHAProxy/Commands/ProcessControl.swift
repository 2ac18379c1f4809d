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
            let client = SupervisorClient(url: url, keys: ["group", "name", "command"], timeoutMs: ProcessControl.controlCallMs,
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
        guard try each(steps, "supervisor.stopProcess", done: "stopped", already: (70, "was not running"), refused: "did not stop") else {
            return false
        }
        if !groups.isEmpty { _ = try setAll(groups, .maint, what) }
        return true
    }

    /// Start, ready, wait until UP everywhere.
    private func startPhase(_ steps: [Step]) throws -> Bool {
        guard try each(steps, "supervisor.startProcess", done: "started", already: (60, "was already running"), refused: "did not start") else {
            return false
        }
        let groups = serverGroups(steps)
        guard !groups.isEmpty else { return true }
        let what = names(steps)
        let t0 = shim_now_ms()
        guard try setAll(groups, .ready, what) else {
            fail("halted: \(what) not set to ready")
            return false
        }
        let deadline = t0 + Int64(options.upTimeoutMs)
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

    /// Asks supervisord to stop or start each process in turn (waiting for it); false (said)
    /// at the first it refused. `already` is the fault that means it already is as asked
    /// (70 NOT_RUNNING, 60 ALREADY_STARTED).
    private func each(_ steps: [Step], _ method: String, done: String, already: (fault: Int, words: String),
                      refused: String) throws -> Bool {
        for s in steps {
            let t0 = shim_now_ms()
            guard let failure = try call(hosts[s.host], method, [.string(s.namespec), .bool(true)]) else {
                say("\(done) \(s.display) after \(seconds(since: t0))")
                continue
            }
            guard faultCode(hosts[s.host]) == already.fault else {
                fail("\(s.display) \(refused): \(failure)")
                return false
            }
            say("\(s.display) \(already.words)")
        }
        return true
    }

    /// One process at a time; halts at the first that does not come back healthy.
    private func roll(_ steps: [Step]) throws -> Int32 {
        for (k, s) in steps.enumerated() {
            let rest = steps[k...].map(\.display).joined(separator: ", ")
            if let sig = interrupted {
                fail("\(signalName(sig)): stopped before \(s.display); not touched: \(rest)")
                return 1
            }
            if !options.force, let refusal = try lastServerRefusal(s) {
                fail("refusing to take down \(s.display): \(refusal) (--force to do it all the same); not touched: \(rest)")
                return 1
            }
            guard try stopPhase([s]), try startPhase([s]) else {
                let after = steps[(k + 1)...].map(\.display)
                fail("halted at \(s.display)\(after.isEmpty ? "" : "; not touched: " + after.joined(separator: ", "))")
                return 1
            }
            membersAfterStep.append(reactor.memberCount)
        }
        return finish("restarted", steps.count)
    }

    /// Why taking this process down now would leave a backend with no server UP, if it would.
    private func lastServerRefusal(_ s: Step) throws -> String? {
        let groups = serverGroups([s])
        guard !groups.isEmpty else { return nil }
        guard try readAll(groups) else { return "cannot read show stat to know whether it is the last server UP" }
        for g in groups {
            for (k, t) in g.targets.enumerated() where g.serving(k) && g.othersUp[k] == 0 {
                return "\(t.name) is the last server UP and ready in backend \(t.backend.string) on \(g.peer.display)"
            }
        }
        return nil
    }
}
