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
    /// The longest wait for supervisord to report a process stopped (its stopwaitsecs and
    /// SIGKILL come first); each call itself is bounded by --timeout.
    static let stopBoundMs = 120_000

    let options: ControlOptions
    let environment: Environment
    let executable: String
    let reactor = Reactor()
    let policy = StopPolicy.control
    private var signals: SignalChannel?
    /// One client per stats socket (by its text), made once.
    private var clients: [String: HAProxyClient] = [:]
    /// One watch per agent port (by its address), made once.
    var agentWatchers: [String: AgentWatch] = [:]
    /// The reactor's member count after each step of a roll: constant (a test holds it to it).
    var membersAfterStep: [Int] = []
    private let error = FixedBuffer(capacity: 256)
    /// The first INT, HUP or TERM: the current step is finished (or, during a drain, undone)
    /// and the command exits 1.
    private(set) var interrupted: Int32?
    private var interruptedAt: Int64 = 0
    /// Within this, the same signal again is a copy of the first, not a second request: GNU
    /// timeout (a cancelled CI job) signals the command and then its whole group, a
    /// terminal's Ctrl-C reaches every process of the foreground group.
    static let signalCopyMs: Int64 = 500
    /// Every group this run made, in order: what it last asked of HAProxy, for an exit now.
    private var groupsMade: [ServerGroup] = []
    private let startedAt = shim_now_ms()
    var hosts: [Host] = []
    /// Where supervisord's URL came from, when from a supervisorctl configuration: said with
    /// a failure to reach it.
    var urlOrigin: String?
    /// "SOCKET BACKEND/SERVER" -> its admin state when the current stop began (`restore`).
    var adminBefore: [String: AdminState] = [:]

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

    func seconds(since t: Int64) -> String { secondsText(shim_now_ms() - t) }

    // MARK: waiting on the reactor

    /// Turns the reactor until `done()`, or for `ms` when given. Throws when the reactor ended
    /// the run.
    func wait(ms: Int64? = nil, _ done: () -> Bool = { false }) throws(Ended) {
        let deadline = ms.map { shim_now_ms() + $0 } ?? Int64.max
        guard let exit = reactor.run(until: done, deadline: deadline) else { return }
        if reactor.failed { fail(reactor.error.text) }
        throw Ended(exit: exit)
    }

    /// One XML-RPC call, waited for; nil on success, else the failure in words.
    func call(_ host: Host, _ method: String, _ params: [XMLRPC.Param] = [],
                      onStruct: @escaping (XMLRPCReader) -> Void = { _ in }) throws(Ended) -> String? {
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
        } catch {
            if case .status(let code) = error.exit { return code }
            return 1
        }
    }

    private func runSteps() throws(Ended) -> Int32 {
        signals = SignalChannel(policy.handled, error: error) { [unowned self] sig in
            let now = shim_now_ms()
            if let first = interrupted {
                if sig == first && now - interruptedAt < ProcessControl.signalCopyMs {
                    say("\(signalName(sig)) again \(now - interruptedAt) ms later: a copy of the first (sent to the whole process group), not a second request")
                    return
                }
                fail("\(signalName(sig)) again: exiting now; \(leftBehind())")
                return reactor.stop(.status(128 + sig))
            }
            interrupted = sig
            interruptedAt = now
            say("\(signalName(sig)): finishing the current step (a drain is undone), then exiting (again to exit now)")
        }
        if let signals { reactor.add(signals) }
        guard let urls = supervisorURLs() else { return 2 }
        for url in urls {
            let client = SupervisorClient(url: url, keys: ["group", "name", "command", "statename"], timeoutMs: options.timing.timeoutMs,
                                          valueCapacity: 1 << 20)
            reactor.add(client)
            hosts.append(Host(url: url, client: client))
        }
        for h in hosts {
            guard try learn(h) else { return 2 }
        }
        for h in hosts {
            for sock in h.sockets { open(sock) }
        }
        guard let steps = resolveNames() else { return 2 }
        if options.rolling && options.watch.watching {
            let blind = steps.filter { $0.servers.isEmpty && !$0.agentServers.isEmpty }
            if !blind.isEmpty {
                fail("--healthy-for and --max-errors judge each batch by HAProxy's per-server counters, read on a stats socket; \(names(blind)) is reached only through the agent check, which has no counters: give its listener or wrap a stats socket, or restart without the watch")
                return 2
            }
        }
        if let sig = interrupted {
            fail("\(signalName(sig)): exiting before anything was touched")
            return 1
        }
        switch options.action {
        case .stop:
            return try stopPhase(steps) ? finish("stopped", steps.count) : 1
        case .start:
            return try startPhase(steps) ? finish("started", steps.count) : 1
        case .restart where !options.rolling:
            guard try stopPhase(steps) else { return 1 }
            return try startPhase(steps) ? finish("restarted", steps.count) : 1
        case .restart:
            return try roll(steps)
        }
    }

    /// Done; but a signal that came meanwhile still makes it exit 1, saying so.
    func finish(_ what: String, _ count: Int) -> Int32 {
        say("\(what) \(count) process(es) in \(seconds(since: startedAt))")
        if let sig = interrupted {
            fail("\(signalName(sig)): the step under way was finished; exiting 1")
            return 1
        }
        return 0
    }

    // MARK: HAProxy

    /// The one client of a stats socket for the whole run, made once, on the reactor.
    func open(_ socket: SocketSpec) {
        guard clients[socket.text] == nil else { return }
        let c = HAProxyClient(socket, timeoutMs: options.timing.timeoutMs)
        clients[socket.text] = c
        reactor.add(c)
    }

    /// One group per stats socket, over the servers of `steps` that use it, on that socket's
    /// one client.
    func serverGroups(_ steps: [Step]) -> [ServerGroup] {
        var bySocket: [(String, [Target])] = []
        for s in steps {
            for (sock, targets) in s.servers {
                if let k = bySocket.firstIndex(where: { $0.0 == sock.text }) {
                    for t in targets where !bySocket[k].1.contains(t) { bySocket[k].1.append(t) }
                } else {
                    bySocket.append((sock.text, targets))
                }
            }
        }
        return bySocket.map { text, targets in made(ServerGroup(client: clients[text]!, targets: targets)) }
    }

    /// Registers a group this run made, for `leftBehind`.
    func made(_ g: ServerGroup) -> ServerGroup {
        groupsMade.append(g)
        // A reload's gap is retried; an HAProxy gone for good halts the command (about 8 s).
        g.gateRetryLimit = 5
        g.onGateRetry = { [unowned self] g, failures, after, _ in say(gateRetryWords(g, failures: failures, after: after)) }
        return g
    }

    /// What an exit now leaves at HAProxy: each server's last state this run asked for, per
    /// socket, and whether HAProxy took it.
    func leftBehind() -> String {
        var last: [String: String] = [:], order: [String] = []
        for g in groupsMade {
            for (k, t) in g.targets.enumerated() {
                let key = "\(t.name) at \(g.peer.display)"
                let what: String
                if let gates = g.gates, gates.holding(k) {
                    what = "out of rotation at its readiness gate (drain or maint)"
                } else if let w = g.wanted {
                    what = g.settled && g.outcome == .ok ? String(describing: w.word) : "\(w.word) asked, not confirmed"
                } else {
                    continue
                }
                if last[key] == nil { order.append(key) }
                last[key] = what
            }
        }
        guard !order.isEmpty else { return "nothing was set at HAProxy" }
        return "left: " + order.map { "\($0): \(last[$0]!)" }.joined(separator: "; ")
    }

    /// Starts an exchange on every group and waits for them all; false (each failure said)
    /// when one did not go through.
    func everywhere(_ groups: [ServerGroup], _ start: (ServerGroup, Int64) -> Void,
                            failure: (ServerGroup) -> String) throws(Ended) -> Bool {
        let now = shim_now_ms()
        for g in groups { start(g, now) }
        try wait { groups.allSatisfy { !$0.busy } }
        for g in groups where g.outcome != .ok { fail(failure(g)) }
        return groups.allSatisfy { $0.outcome == .ok }
    }

    func setAll(_ groups: [ServerGroup], _ state: AdminState, _ what: String) throws(Ended) -> Bool {
        try everywhere(groups, { $0.set(state, now: $1) }) { "\($0.peer.errorText); \(what) not set to \(state.word) there" }
    }

    func readAll(_ groups: [ServerGroup]) throws(Ended) -> Bool {
        try everywhere(groups, { $0.readStat(now: $1) }) { $0.peer.errorText }
    }

    func names(_ steps: [Step]) -> String { steps.map(\.display).joined(separator: ", ") }

    // MARK: phases

    /// Drain, wait for the sessions to end, stop, maint. A drain that cannot be done, a stop
    /// refused, or a signal during the drain: HAProxy is put back as supervisord's states
    /// explain (`restore`), and false.
    func stopPhase(_ steps: [Step]) throws(Ended) -> Bool {
        let groups = serverGroups(steps)
        let what = names(steps.filter(\.hasServers))
        if !groups.isEmpty {
            try recordAdminStates(groups)
            let drain = Drain(groups, reactor: reactor, pollEveryMs: ProcessControl.pollEveryMs)
            drain.onFirstCount = { [unowned self] n in say("draining \(what): \(n) session(s)") }
            let t0 = shim_now_ms()
            drain.start(deadline: t0 + Int64(options.drainTimeoutMs), now: t0)
            try wait { drain.finished || interrupted != nil }
            if let sig = interrupted, !drain.finished {
                drain.cancel()
                try wait { groups.allSatisfy { !$0.busy } }
                fail("\(signalName(sig)) during the drain of \(what): nothing stopped; putting its servers back")
                _ = try restore(steps)
                return false
            }
            for (k, g) in groups.enumerated() where drain.setFailed[k] {
                fail("\(g.peer.errorText); \(what) not set to drain there")
            }
            guard !drain.setFailed.contains(true) || options.force else {
                fail("cannot drain \(what): not stopping it while HAProxy may still send it requests (--force to stop all the same)")
                _ = try restore(steps)
                return false
            }
            for (k, g) in groups.enumerated() where drain.readFailed[k] { fail(g.peer.errorText) }
            guard !drain.readFailed.contains(true) || options.force else {
                fail("cannot read the sessions of \(what): not stopping it (--force to stop all the same)")
                _ = try restore(steps)
                return false
            }
            if drain.timedOut {
                say("drain timeout for \(what) after \(seconds(since: t0)) with \(drain.sessionsLeft) session(s) left")
            } else {
                say("drained \(what) after \(seconds(since: t0))")
            }
        }
        let selfDraining = steps.filter { $0.drainsItself && !$0.agentServers.isEmpty }
        if !selfDraining.isEmpty { say("\(names(selfDraining)): drained by its wrap through the agent once supervisord stops it") }
        guard try supervise(steps, start: false) else {
            _ = try restore(steps)
            return false
        }
        if !groups.isEmpty { _ = try setAll(groups, .maint, what) }
        return true
    }

    /// Start, ready once serving (the readiness gate), wait until UP everywhere (and every
    /// HAProxy polling an agent told ready).
    func startPhase(_ steps: [Step]) throws(Ended) -> Bool {
        guard try supervise(steps, start: true) else { return false }
        guard try agentsTellReady(steps) else { return false }
        let groups = serverGroups(steps)
        guard !groups.isEmpty else { return true }
        let what = names(steps.filter(\.hasServers))
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
}
