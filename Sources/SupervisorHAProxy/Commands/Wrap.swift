import CSocketShim
import Glibc

// `wrap`: stands between supervisord's stop signal and the program, so that HAProxy stops
// sending it requests and lets the ones in flight finish before the program hears the
// signal (supervisord sends SIGTERM in the same instant it emits STOPPING: REFERENCE.md).
//
// Scheduling apart from I/O: the reactor runs the sockets, the signalfd and the child's
// pidfd; `Wrapper.advance` looks at where each stands between turns and decides the next step.

func runWrap(_ args: [String], environment: Environment) -> Int32 {
    switch parseWrap(args, environment: environment) {
    case .help:
        writeOut(1, wrapHelp + "\n")
        return 0
    case .invalid(let problem):
        return invalidArguments(problem, usage: wrapUsage, command: "wrap")
    case .run(let options):
        return Wrapper(options: options, log: Logger(threshold: options.logLevel)).run()
    }
}

final class Wrapper: Pollable {
    enum Phase: Equatable {
        /// Started: maint set, waiting for supervisord to report RUNNING.
        case starting
        case running
        /// A stop signal came: drain, then wait for the sessions to end.
        case draining(signal: Int32)
        /// The stop signal was passed on; waiting for the program to exit.
        case stopping
        /// The program exited: maint, then end as it did.
        case exiting(code: Int32, signal: Int32)
    }

    static let stopSignals: [Int32] = [SIGTERM, SIGINT, SIGQUIT]
    static let passedSignals: [Int32] = [SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH]
    static let statEveryMs: Int64 = 100
    static let supervisorEveryMs: Int64 = 250
    static let defaultStopWaitMs = 10_000

    let options: WrapOptions
    let log: Logger
    let reactor = Reactor()
    let sockets: [AdminSocket]
    private(set) var phase = Phase.starting
    private var child: ChildProcess?
    private var signals: SignalChannel?
    private var supervisor: SupervisorClient?
    /// The state each socket should reach, and whether it has (or gave up for this phase).
    private var want: AdminState = .maint
    private var settled: [Bool]
    private var nextStatAt: [Int64]
    private var drainStart: Int64 = 0
    private var drainDeadline: Int64 = 0
    private var exitDeadline: Int64 = 0
    private var stopWaitMs: Int?
    private var nextSupervisorAt: Int64 = 0
    private var configAsked = false
    private let error = FixedBuffer(capacity: 512)

    init(options: WrapOptions, log: Logger) {
        self.options = options
        self.log = log
        sockets = options.sockets.map {
            AdminSocket(peer: Peer(display: $0.text, endpoint: $0.endpoint), targets: options.targets,
                        timeoutMs: options.timing.timeoutMs)
        }
        settled = Array(repeating: false, count: sockets.count)
        nextStatAt = Array(repeating: 0, count: sockets.count)
        for s in sockets { reactor.add(s) }
        reactor.add(self)
        if let url = options.supervisor, options.programName != nil {
            let client = SupervisorClient(url: url, keys: ["group", "name", "stopwaitsecs", "statename"],
                                          timeoutMs: options.timing.timeoutMs)
            supervisor = client
            reactor.add(client)
        }
    }

    private var serversText: String { options.targets.map(\.name).joined(separator: ", ") }

    func run() -> Int32 {
        for w in options.startupWarnings { log.log(.warning, w) }
        // Signals become input before the child exists, so none is lost or acted on early.
        guard let channel = SignalChannel(Wrapper.stopSignals + Wrapper.passedSignals, error: error, onSignal: { [unowned self] in
            received($0, now: shim_now_ms())
        }) else {
            log.log(.error, "\(error.text); not starting \(options.command[0])")
            return 1
        }
        signals = channel
        reactor.add(channel)
        if let status = spawn() { return status }
        setAll(.maint, now: shim_now_ms())
        if supervisor == nil {
            want = .ready
            log.log(.info, "no supervisord to ask (--supervisor none or no $SUPERVISOR_SERVER_URL): \(serversText) ready at once")
            setAll(.ready, now: shim_now_ms())
            phase = .running
        }
        while true {
            guard reactor.turn() else {
                log.log(.error, "\(reactor.error.text)")
                child?.send(SIGKILL, group: true)
                return 1
            }
            advance(now: shim_now_ms())
        }
    }

    /// Starts the program; nil when it runs, else the status to exit with.
    private func spawn() -> Int32? {
        let argv = options.command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: Int32 = 0, pidfd: Int32 = -1
        let rc = error.withCString { e, n in shim_spawn(argv[0], argv, &pid, &pidfd, e, n) }
        if rc < 0 {
            log.log(.error, "\(error.text); not started")
            return 1
        }
        if rc > 0 {
            // As env(1) and the shells: 127 not found, 126 found but not runnable.
            let status: Int32 = rc == ENOENT || rc == ENOTDIR ? 127 : 126
            log.log(.error, "\(options.command[0]): \(String(cString: shim_strerror(rc))); cannot run it (exit \(status))")
            return status
        }
        let c = ChildProcess(pid: pid, pidfd: pidfd) { [unowned self] code, sig in exited(code, sig, now: shim_now_ms()) }
        child = c
        reactor.add(c)
        log.log(.debug, "started \(options.command[0]) as pid \(pid) in its own process group")
        return nil
    }

    // MARK: events

    private func received(_ sig: Int32, now: Int64) {
        guard let child else { return }
        if !Wrapper.stopSignals.contains(sig) {
            log.log(.info, "\(signalName(sig)): passed on to the program")
            return child.send(sig, group: false)
        }
        switch phase {
        case .starting, .running:
            let drainMs = options.drainTimeoutMs ?? (stopWaitMs ?? Wrapper.defaultStopWaitMs) / 2
            phase = .draining(signal: sig)
            drainStart = now
            drainDeadline = now + Int64(drainMs)
            log.log(.info, "\(signalName(sig)): draining \(serversText) (at most \(drainMs) ms) before passing it on")
            setAll(.drain, now: now)
        case .draining:
            log.log(.warning, "\(signalName(sig)) again: passing it on without waiting for the drain")
            passOn(sig, now: now)
        case .stopping:
            child.send(sig, group: true)
        case .exiting:
            break
        }
    }

    private func exited(_ code: Int32, _ sig: Int32, now: Int64) {
        let how = sig > 0 ? "was killed by \(signalName(sig))" : "exited with status \(code)"
        let planned = phase == .stopping
        log.log(planned ? .info : .warning, "program \(how)\(planned ? "" : " by itself"); \(serversText) to maint")
        phase = .exiting(code: code, signal: sig)
        exitDeadline = now + Int64(options.timing.timeoutMs) + 100
        setAll(.maint, now: now)
    }

    private func passOn(_ sig: Int32, now: Int64) {
        phase = .stopping
        child?.send(sig, group: true)
    }

    // MARK: scheduling

    /// Sets `state` on every socket (an exchange in flight is abandoned: the newer state wins).
    /// Sets `state` on every socket. A `set` in flight is never abandoned: HAProxy does not
    /// order commands from two connections, so the newer state follows once it has ended. A
    /// read in flight changes nothing and is abandoned.
    private func setAll(_ state: AdminState, now: Int64) {
        want = state
        for (k, s) in sockets.enumerated() {
            settled[k] = false
            if s.step == .readingStat { s.abandon() }
            if !s.busy { s.set(state, now: now) }
        }
    }

    /// After a `set` ended: settled when HAProxy took the wanted state, or when that failed
    /// (logged; a stop is never held up, and the listener's resync repairs what a wrap could
    /// not); another state ended, the wanted one is sent now.
    private func noteSetOutcome(_ k: Int, now: Int64) {
        let s = sockets[k]
        guard !s.busy, !settled[k] else { return }
        guard case .setting(let state) = s.lastStep, state == want else { return s.set(want, now: now) }
        settled[k] = true
        if s.result == .ok {
            log.log(.debug, "\(s.peer.display): \(serversText) \(state.word)")
        } else {
            log.log(.error, "\(s.peer.errorText); \(serversText) not set to \(state.word) there")
        }
    }

    func advance(now: Int64) {
        for k in sockets.indices { noteSetOutcome(k, now: now) }
        switch phase {
        case .starting:
            askSupervisor(now: now)
        case .running:
            break
        case .draining(let sig):
            advanceDrain(sig, now: now)
        case .stopping:
            break
        case .exiting(let code, let sig):
            if settled.allSatisfy({ $0 }) || now >= exitDeadline {
                shim_exit_like(code, sig)
            }
        }
    }

    private func advanceDrain(_ sig: Int32, now: Int64) {
        var left = 0
        var waiting = false
        for (k, s) in sockets.enumerated() where settled[k] {
            guard s.result != .failed || s.lastStep == .readingStat else { continue }
            if s.busy { waiting = true; continue }
            if s.lastStep == .readingStat && s.result == .ok {
                if s.sessions == 0 { continue }
                left += s.sessions
            } else if s.lastStep == .readingStat {
                // show stat failed: that socket is not waited on.
                continue
            }
            waiting = true
            if now >= nextStatAt[k] {
                nextStatAt[k] = now + Wrapper.statEveryMs
                s.readStat(now: now)
            }
        }
        let setting = settled.contains(false)
        if setting || waiting, now < drainDeadline { return }
        if now >= drainDeadline && (setting || left > 0 || waiting) {
            log.log(.warning, "drain timeout after \(now - drainStart) ms with \(left) session(s) left; passing \(signalName(sig)) on")
        } else {
            log.log(.info, "drained after \(now - drainStart) ms; passing \(signalName(sig)) to the program's process group")
        }
        passOn(sig, now: now)
    }

    // MARK: reactor member: its own timers (no descriptor)

    var pollFD: Int32 { -1 }
    var pollEvents: Int16 { 0 }

    var wakeAt: Int64 {
        switch phase {
        case .starting:
            return supervisor?.busy == false ? nextSupervisorAt : Int64.max
        case .draining:
            var at = drainDeadline
            for (k, s) in sockets.enumerated() where settled[k] && !s.busy && s.result == .ok
                && !(s.lastStep == .readingStat && s.sessions == 0) {
                at = min(at, nextStatAt[k])
            }
            return at
        case .exiting:
            return settled.allSatisfy({ $0 }) ? 0 : exitDeadline
        case .running, .stopping:
            return Int64.max
        }
    }

    func turn(revents: Int16, now: Int64) { advance(now: now) }

    /// Asks supervisord for stopwaitsecs once, then for the program's state until RUNNING.
    private func askSupervisor(now: Int64) {
        guard let client = supervisor, let name = options.programName, !client.busy, now >= nextSupervisorAt else { return }
        nextSupervisorAt = now + Wrapper.supervisorEveryMs
        if !configAsked {
            configAsked = true
            let parts = name.bytes.split(separator: colon, maxSplits: 1).map(Array.init)
            let group = parts.first ?? [], process = parts.last ?? []
            client.call("supervisor.getAllConfigInfo", now: now, onStruct: { [unowned self] s in
                guard let g = s.value(0), let n = s.value(1), let wait = s.value(2)?.decimal(limit: 86400),
                      group.withBytes({ g.equals($0) }), process.withBytes({ n.equals($0) }) else { return }
                stopWaitMs = wait * 1000
            }, onDone: { [unowned self] failure in
                if let failure { log.log(.warning, "supervisord's stopwaitsecs unknown (\(failure)); assuming 10 s") }
                else if let w = stopWaitMs { log.log(.debug, "stopwaitsecs \(w / 1000) s") }
            })
            return
        }
        client.call("supervisor.getProcessInfo", [.string(name)], now: now, onStruct: { [unowned self] s in
            guard phase == .starting, let state = s.value(3) else { return }
            if state.equals("RUNNING") {
                phase = .running
                log.log(.info, "supervisord reports \(name) RUNNING: \(serversText) ready")
                setAll(.ready, now: shim_now_ms())
            }
        }, onDone: { [unowned self] failure in
            guard let failure, phase == .starting else { return }
            log.log(.warning, "cannot ask supervisord whether \(name) is RUNNING (\(failure)); \(serversText) ready now")
            phase = .running
            setAll(.ready, now: shim_now_ms())
        })
    }
}
