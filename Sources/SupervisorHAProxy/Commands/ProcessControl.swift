import CSocketShim
import Glibc

// `restart`, `stop`, `start`: supervisord and HAProxy in step. Each step is linear (drain,
// stop, start, wait until UP), run on the reactor: the command waits on the reactor for the
// outcome of each exchange, every one bounded by its timeout, so nothing can hang it.

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

/// A member of the reactor that only wakes it: the pace of polls and deadlines.
final class Alarm: Pollable {
    var at = Int64.max
    var pollFD: Int32 { -1 }
    var pollEvents: Int16 { 0 }
    var wakeAt: Int64 { at }
    func turn(revents: Int16, now: Int64) { at = Int64.max }
}

final class ProcessControl {
    /// One supervisord and what it says.
    final class Host {
        let url: SupervisorURL
        let client: SupervisorClient
        var processes: [(group: String, name: String)] = []
        var sockets: [SocketSpec] = []
        var mappings: [Mapping] = []
        var table = MappingTable([])

        init(url: SupervisorURL, client: SupervisorClient) {
            self.url = url
            self.client = client
        }
    }

    /// One process of one host, and its servers.
    struct Step {
        var host: Int
        var group: String
        var name: String
        var targets: [Target]
        var sockets: [SocketSpec]

        var display: String { group == name ? name : "\(group):\(name)" }
        var namespec: String { "\(group):\(name)" }
    }

    static let pollEveryMs: Int64 = 200
    /// supervisord's own stop and start wait (stopwaitsecs, startsecs), bounded.
    static let controlCallMs = 120_000

    let options: ControlOptions
    let environment: Environment
    let executable: String
    let reactor = Reactor()
    let alarm = Alarm()
    private var signals: SignalChannel?
    private let error = FixedBuffer(capacity: 256)
    private var interrupted: Int32?
    private let startedAt = shim_now_ms()
    private var hosts: [Host] = []

    init(options: ControlOptions, environment: Environment, executable: String) {
        self.options = options
        self.environment = environment
        self.executable = executable
        reactor.add(alarm)
    }

    // MARK: output

    private func say(_ text: String) {
        guard !options.quiet else { return }
        let ms = shim_now_ms() - startedAt
        let seconds = "\(ms / 1000).\(ms % 1000 / 100)s"
        writeOut(1, (String(repeating: " ", count: max(0, 6 - seconds.utf8.count)) + seconds + " " + text).escaped + "\n")
    }

    private func fail(_ text: String) {
        writeOut(2, "supervisor-haproxy: \(text.escaped)\n")
    }

    private func seconds(since t: Int64) -> String {
        let ms = shim_now_ms() - t
        return "\(ms / 1000).\(ms % 1000 / 100) s"
    }

    // MARK: waiting on the reactor

    /// Turns the reactor until `done()` or the deadline; false at the deadline.
    private func wait(until deadline: Int64, _ done: () -> Bool) -> Bool {
        while !done() {
            let now = shim_now_ms()
            if now >= deadline { return false }
            alarm.at = deadline
            guard reactor.turn() else {
                fail(reactor.error.text)
                exit(1)
            }
        }
        return true
    }

    private func pause(_ ms: Int64) {
        let until = shim_now_ms() + ms
        _ = wait(until: until) { false }
    }

    /// One XML-RPC call, waited for; nil on success, else the failure in words.
    private func call(_ host: Host, _ method: String, _ params: [XMLRPC.Param] = [],
                      onStruct: @escaping (XMLRPCReader) -> Void = { _ in }) -> String? {
        var finished = false
        var failure: String?
        host.client.call(method, params, now: shim_now_ms(), onStruct: onStruct) { f in
            failure = f
            finished = true
        }
        _ = wait(until: Int64.max) { finished }
        return failure
    }

    /// The fault code of the last call's answer, 0 when none.
    private func faultCode(_ host: Host) -> Int {
        host.client.reader.failure == .fault ? host.client.reader.faultCode : 0
    }

    // MARK: the run

    func run() -> Int32 {
        signals = SignalChannel([SIGINT, SIGTERM], error: error) { [unowned self] sig in
            if interrupted != nil {
                fail("\(signalName(sig)) again: exiting now")
                exit(130)
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
            guard learn(h) else { return 2 }
        }
        guard let steps = resolveNames() else { return 2 }
        switch options.action {
        case .stop:
            return stopPhase(steps) ? finish("stopped", steps.count) : 1
        case .start:
            return startPhase(steps) ? finish("started", steps.count) : 1
        case .restart where !options.rolling:
            return stopPhase(steps) && startPhase(steps) ? finish("restarted", steps.count) : 1
        case .restart:
            return roll(steps)
        }
    }

    private func finish(_ what: String, _ count: Int) -> Int32 {
        say("\(what) \(count) process(es) in \(seconds(since: startedAt))")
        return 0
    }

    /// --supervisor, else $SUPERVISOR_SERVER_URL, else supervisorctl's configuration.
    private func supervisorURLs() -> [SupervisorURL]? {
        if !options.supervisors.isEmpty { return options.supervisors }
        if let text = environment.supervisorURL {
            switch SupervisorURL.parse(text, username: environment.username, password: environment.password) {
            case .success(let url): return [url]
            case .failure(let e):
                fail("$SUPERVISOR_SERVER_URL: \(e.urlMessage)")
                return nil
            }
        }
        guard let path = options.configFile ?? ClientConfig.find(executable: executable) else {
            fail("no supervisord to ask: give --supervisor URL or -c FILE (searched \(ClientConfig.searchPaths(executable: executable).joined(separator: ", ")))")
            return nil
        }
        guard let config = ClientConfig.load(path) else {
            fail("cannot read supervisorctl's configuration \(path)")
            return nil
        }
        switch SupervisorURL.parse(config.serverURL, username: config.username, password: config.password) {
        case .success(let url): return [url]
        case .failure(let e):
            fail("\(path): serverurl: \(e.urlMessage)")
            return nil
        }
    }

    /// Every process of a host, and the sockets and mappings its configuration implies.
    private func learn(_ h: Host) -> Bool {
        if let failure = call(h, "supervisor.getAllConfigInfo", onStruct: { [unowned h] s in
            guard let group = s.value(0), let name = s.value(1) else { return }
            let g = String(bytes: group), n = String(bytes: name)
            h.processes.append((g, n))
            guard let command = s.value(2), let found = discoverMappings(command: Array(command), group: g, name: n) else { return }
            for sock in found.sockets where !h.sockets.contains(where: { $0.text == sock.text }) { h.sockets.append(sock) }
            for m in found.mappings where !h.mappings.contains(m) { h.mappings.append(m) }
        }) {
            fail("supervisord at \(h.url.display): \(failure)")
            return false
        }
        if !options.sockets.isEmpty { h.sockets = options.sockets }
        if !options.mappings.isEmpty { h.mappings = options.mappings }
        h.table = MappingTable(h.mappings)
        say("supervisord at \(h.url.display): \(h.processes.count) process(es); \(h.mappings.count) mapping(s) on \(h.sockets.count) socket(s)")
        return true
    }

    /// NAMEs as supervisorctl splits them: `name` is group name and process name,
    /// `group:process`, `group:*` every process of the group.
    private func resolveNames() -> [Step]? {
        var steps: [Step] = []
        for n in options.names {
            let parts = n.bytes.split(separator: colon, maxSplits: 1, omittingEmptySubsequences: false).map { Array($0).string }
            let group = parts[0]
            let process: String? = parts.count == 1 ? parts[0] : (parts[1].isEmpty || parts[1] == "*" ? nil : parts[1])
            var found = false
            for (k, h) in hosts.enumerated() {
                for p in h.processes where p.group == group && (process == nil || p.name == process) {
                    found = true
                    var targets: [Target] = []
                    p.name.bytes.withBytes { name in
                        p.group.bytes.withBytes { g in
                            h.table.forEachMatch(process: name, group: g) { m in
                                let t = h.table.mappings[m].target
                                if !targets.contains(t) { targets.append(t) }
                            }
                        }
                    }
                    let step = Step(host: k, group: p.group, name: p.name, targets: targets, sockets: targets.isEmpty ? [] : h.sockets)
                    if !steps.contains(where: { $0.host == k && $0.namespec == step.namespec }) { steps.append(step) }
                }
            }
            if !found {
                fail("no such process '\(n)' in \(hosts.map { $0.url.display }.joined(separator: ", "))")
                return nil
            }
        }
        for s in steps where s.targets.isEmpty {
            say("\(s.display): no HAProxy server is mapped to it; HAProxy will not be consulted")
        }
        return steps
    }

    // MARK: HAProxy

    /// One AdminSocket per stats socket, over the servers of `steps` that use it.
    private func adminSockets(_ steps: [Step]) -> [AdminSocket] {
        var bySocket: [(SocketSpec, [Target])] = []
        for s in steps {
            for sock in s.sockets {
                if let k = bySocket.firstIndex(where: { $0.0.text == sock.text }) {
                    for t in s.targets where !bySocket[k].1.contains(t) { bySocket[k].1.append(t) }
                } else {
                    bySocket.append((sock, s.targets))
                }
            }
        }
        return bySocket.map { sock, targets in
            let a = AdminSocket(peer: Peer(display: sock.text, endpoint: sock.endpoint), targets: targets, timeoutMs: options.timing.timeoutMs)
            reactor.add(a)
            return a
        }
    }

    /// Starts an exchange on every socket and waits for them all; false (each failure said)
    /// when one did not go through.
    private func everywhere(_ sockets: [AdminSocket], _ start: (AdminSocket, Int64) -> Void,
                            failure: (AdminSocket) -> String) -> Bool {
        let now = shim_now_ms()
        for a in sockets { start(a, now) }
        _ = wait(until: Int64.max) { sockets.allSatisfy { !$0.busy } }
        for a in sockets where a.result != .ok { fail(failure(a)) }
        return sockets.allSatisfy { $0.result == .ok }
    }

    private func setAll(_ sockets: [AdminSocket], _ state: AdminState, _ what: String) -> Bool {
        everywhere(sockets, { $0.set(state, now: $1) }) { "\($0.peer.errorText); \(what) not set to \(state.word) there" }
    }

    private func readAll(_ sockets: [AdminSocket]) -> Bool {
        everywhere(sockets, { $0.readStat(now: $1) }) { $0.peer.errorText }
    }

    private func names(_ steps: [Step]) -> String { steps.map(\.display).joined(separator: ", ") }

    // MARK: phases

    /// Drain, wait for the sessions to end, stop, maint.
    private func stopPhase(_ steps: [Step]) -> Bool {
        let sockets = adminSockets(steps)
        let what = names(steps)
        if !sockets.isEmpty {
            let t0 = shim_now_ms()
            guard setAll(sockets, .drain, what) || options.force else {
                fail("cannot drain \(what): not stopping it while HAProxy may still send it requests (--force to stop all the same)")
                return false
            }
            let deadline = t0 + Int64(options.drainTimeoutMs)
            var first = true
            var left = 0
            while true {
                guard readAll(sockets) || options.force else {
                    fail("cannot read the sessions of \(what): not stopping it (--force to stop all the same)")
                    return false
                }
                left = sockets.reduce(0) { $0 + ($1.result == .ok ? $1.sessions : 0) }
                if first {
                    say("draining \(what): \(left) session(s)")
                    first = false
                }
                if left == 0 || shim_now_ms() >= deadline { break }
                pause(ProcessControl.pollEveryMs)
            }
            if left == 0 {
                say("drained \(what) after \(seconds(since: t0))")
            } else {
                say("drain timeout for \(what) after \(seconds(since: t0)) with \(left) session(s) left")
            }
        }
        guard each(steps, "supervisor.stopProcess", done: "stopped", already: (70, "was not running"), refused: "did not stop") else {
            return false
        }
        if !sockets.isEmpty { _ = setAll(sockets, .maint, what) }
        return true
    }

    /// Start, ready, wait until UP everywhere.
    private func startPhase(_ steps: [Step]) -> Bool {
        guard each(steps, "supervisor.startProcess", done: "started", already: (60, "was already running"), refused: "did not start") else {
            return false
        }
        let sockets = adminSockets(steps)
        guard !sockets.isEmpty else { return true }
        let what = names(steps)
        let t0 = shim_now_ms()
        guard setAll(sockets, .ready, what) else {
            fail("halted: \(what) not set to ready")
            return false
        }
        let deadline = t0 + Int64(options.upTimeoutMs)
        while true {
            let read = readAll(sockets)
            if read && sockets.allSatisfy({ a in a.targets.indices.allSatisfy { a.settledUp($0) } }) {
                say("\(what) UP on every socket after \(seconds(since: t0))")
                return true
            }
            if shim_now_ms() >= deadline {
                var seen: [String] = []
                for a in sockets {
                    if a.result != .ok { seen.append("\(a.peer.display): \(a.peer.errorText)"); continue }
                    for (k, t) in a.targets.enumerated() where !a.settledUp(k) {
                        seen.append("\(t.name) on \(a.peer.display) is \(a.status[k].isEmpty ? "not found" : a.status[k].text)")
                    }
                }
                fail("\(what) did not come back healthy within \(seconds(since: t0)): \(seen.joined(separator: "; "))")
                return false
            }
            pause(ProcessControl.pollEveryMs)
        }
    }

    /// Asks supervisord to stop or start each process in turn (waiting for it); false (said)
    /// at the first it refused. `already` is the fault that means it already is as asked
    /// (70 NOT_RUNNING, 60 ALREADY_STARTED).
    private func each(_ steps: [Step], _ method: String, done: String, already: (fault: Int, words: String),
                      refused: String) -> Bool {
        for s in steps {
            let t0 = shim_now_ms()
            guard let failure = call(hosts[s.host], method, [.string(s.namespec), .bool(true)]) else {
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
    private func roll(_ steps: [Step]) -> Int32 {
        for (k, s) in steps.enumerated() {
            let rest = steps[k...].map(\.display).joined(separator: ", ")
            if let sig = interrupted {
                fail("\(signalName(sig)): stopped before \(s.display); not touched: \(rest)")
                return 1
            }
            if !options.force, let refusal = lastServerRefusal(s) {
                fail("refusing to take down \(s.display): \(refusal) (--force to do it all the same); not touched: \(rest)")
                return 1
            }
            guard stopPhase([s]), startPhase([s]) else {
                let after = steps[(k + 1)...].map(\.display)
                fail("halted at \(s.display)\(after.isEmpty ? "" : "; not touched: " + after.joined(separator: ", "))")
                return 1
            }
        }
        return finish("restarted", steps.count)
    }

    /// Why taking this process down now would leave a backend with no server UP, if it would.
    private func lastServerRefusal(_ s: Step) -> String? {
        let sockets = adminSockets([s])
        guard !sockets.isEmpty else { return nil }
        guard readAll(sockets) else { return "cannot read show stat to know whether it is the last server UP" }
        for a in sockets {
            for (k, t) in a.targets.enumerated() where a.serving(k) && a.othersUp[k] == 0 {
                return "\(t.name) is the last server UP and ready in backend \(t.backend.string) on \(a.peer.display)"
            }
        }
        return nil
    }
}
