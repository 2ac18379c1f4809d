import CSocketShim
import Glibc

// `wrap`: stands between supervisord's stop signal and the program, so that HAProxy stops
// sending it requests and lets the ones in flight finish before the program hears the
// signal (supervisord sends SIGTERM in the same instant it emits STOPPING:
// docs/protocols.md, "Stopping a program").
//
// Everything runs on the reactor: the sockets' clients, the signalfd, the child's pidfd,
// supervisord's client; each answer or signal moves the wrapper to its next step.

func runWrap(_ args: [String], environment: Environment) -> Exit {
    switch parseWrap(args, environment: environment) {
    case .help:
        writeOut(1, wrapHelp + "\n")
        return .status(0)
    case .invalid(let problem):
        return .status(invalidArguments(problem, usage: wrapUsage, command: "wrap"))
    case .run(let options):
        return Wrapper(options: options, log: Logger(threshold: options.logLevel)).run()
    }
}

/// What the wrapped program said over the notify socket (`--notify`).
struct ProgramSays {
    /// READY=1 since the start or the last STOPPING=1 / RELOADING=1.
    var ready = false
    /// --watchdog: the last ping, and whether a deadline passed without one (and when).
    var lastPing: Int64 = 0
    var watchdogMissed = false
    var missedAt: Int64 = 0
    /// The last STATUS=, when it was logged, and the changes not logged since.
    let status = FixedBuffer(capacity: 200)
    var statusLoggedAt = Int64.min / 2
    var statusUnlogged = 0
    var statusCut = false
    var droppedLoggedAt = Int64.min / 2
    var droppedUnlogged = 0
    var saidMainPid = false
    /// STOPPING=1 or RELOADING=1 since the last READY=1.
    var draining = false
}

final class Wrapper {
    enum Phase: Equatable {
        /// Started: maint set, waiting for supervisord to report RUNNING.
        case starting
        case running
        /// A stop signal came: drain, then wait for the sessions to end.
        case draining(signal: Int32)
        /// The stop signal was passed on; waiting for the program to exit.
        case stopping
        /// The program exited: maint, then end as it did.
        case exiting(Exit)
    }

    static let statEveryMs: Int64 = 100
    static let supervisorEveryMs: Int64 = 250
    /// An exit 0 this soon after the start looks like a daemon that forked away.
    static let daemonExitMs: Int64 = 10_000
    /// The drain's bound when stopwaitsecs is unknown.
    static let unknownStopWaitDrainMs = 5_000

    let options: WrapOptions
    let log: Logger
    let reactor = Reactor()
    let policy: StopPolicy
    let groups: [ServerGroup]
    /// The listeners' agent ports, asked during a drain (`--agent`).
    let agents: [AgentWatch]
    private(set) var phase = Phase.starting
    private var child: ChildProcess?
    private var signals: SignalChannel?
    private var supervisor: SupervisorClient?
    private var drain: Drain?
    /// Asks supervisord again while the program starts; ends the wait for the last `maint`.
    private var timer: Timer!
    /// supervisord's stopwaitsecs for the program, in ms, once read.
    private var stopWaitMs: Int?
    /// The program's stopwaitsecs: `--stop-wait`, else supervisord's; nil when unknown, and
    /// then the program's group is never killed early (a guess could cut a graceful stop).
    private var stopWait: Int? { options.stopWaitMs ?? stopWaitMs }
    /// When the stop signal came: supervisord's SIGKILL follows `stopWait` after it.
    private var stopAt: Int64 = 0
    private var configAsked = false
    private var spawnedAt: Int64 = 0
    private let error = FixedBuffer(capacity: 512)
    /// --notify: the program's socket, and what it said.
    private var notify: NotifySocket?
    /// With --notify and --agent: the program's word, relayed to the listener through
    /// supervisord (its agent answers HAProxy).
    private var relay: NotifyRelay?
    private var program = ProgramSays()
    /// --watchdog's deadline and --ready-timeout's warning without READY=1.
    private var watchdogTimer: Timer!
    private var readyTimer: Timer!
    /// Logs the latest STATUS= once its second is over.
    private var statusTimer: Timer!

    init(options: WrapOptions, log: Logger) {
        self.options = options
        self.log = log
        policy = .wrap(timeoutMs: options.timing.timeoutMs)
        groups = options.sockets.map { ServerGroup(client: HAProxyClient($0, timeoutMs: options.timing.timeoutMs), targets: options.targets) }
        agents = options.agents.map { AgentWatch($0, targets: options.targets, timeoutMs: options.timing.timeoutMs) }
        agents.forEach(reactor.add)
        timer = Timer { [unowned self] now in timerFired(now: now) }
        for g in groups {
            reactor.add(g.client)
            g.onEnd = { [unowned self] g, event, now in groupEnded(g, event, now: now) }
            g.onOverdue = { [log, unowned g] t, words in log.log(.warning, "\(t.name) at \(g.peer.display): \(words)") }
            g.onGateRetry = { [log] g, failures, after, _ in log.log(failures > 0 ? .warning : .info, gateRetryWords(g, failures: failures, after: after)) }
        }
        reactor.add(timer)
        watchdogTimer = Timer { [unowned self] now in watchdogFired(now: now) }
        readyTimer = Timer { [unowned self] now in readyOverdue(now: now) }
        statusTimer = Timer { [unowned self] now in logStatus(now: now) }
        reactor.add(watchdogTimer)
        reactor.add(readyTimer)
        reactor.add(statusTimer)
        if let url = options.supervisor, options.programName != nil {
            let client = SupervisorClient(url: url, keys: ["group", "name", "stopwaitsecs", "statename", "stdout_capture_maxbytes"],
                                          timeoutMs: options.timing.timeoutMs)
            supervisor = client
            reactor.add(client)
        }
    }

    private var serversText: String { options.targets.map(\.name).joined(separator: ", ") }

    func run() -> Exit {
        for n in options.startupNotes { log.log(.info, n) }
        for w in options.startupWarnings { log.log(.warning, w) }
        // Signals become input before the child exists, so none is lost or acted on early.
        guard let channel = SignalChannel(policy.handled, error: error, onSignal: { [unowned self] in
            received($0, now: shim_now_ms())
        }) else {
            log.log(.error, "\(error.text); not starting \(options.command[0])")
            return .status(1)
        }
        signals = channel
        reactor.add(channel)
        if options.notify {
            guard openNotify() else { return .status(1) }
        }
        if options.notify && !options.agents.isEmpty { openRelay() }
        if let status = spawn() { return .status(status) }
        let now = shim_now_ms()
        setAll(.maint, now: now)
        relayWord()
        if supervisor == nil {
            log.log(.info, "no supervisord to ask (--supervisor none or no $SUPERVISOR_SERVER_URL): \(serversText) ready \(admission)\(options.stopWaitMs == nil ? "; stopwaitsecs unknown, so the program's group is never killed early (--stop-wait SECONDS)" : "")")
            phase = .running
            admitWhenReady(now: now)
        } else {
            askSupervisor(now: now)
        }
        let exit = reactor.run() ?? .status(1)
        if reactor.failed {
            log.log(.error, "\(reactor.error.text)")
            child?.send(SIGKILL, group: true)
        }
        return exit
    }

    /// Starts the program; nil when it runs, else the status to exit with.
    private func spawn() -> Int32? {
        let argv = options.command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: Int32 = 0, pidfd: Int32 = -1
        let watchdogPid: Int32 = options.watchdogMs == nil ? 0 : 1
        let rc = error.withCString { e, n in shim_spawn_notify(argv[0], argv, watchdogPid, &pid, &pidfd, e, n) }
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
        spawnedAt = shim_now_ms()
        if notify != nil { readyTimer.fire(at: spawnedAt + Int64(options.readyTimeoutMs)) }
        let c = ChildProcess(pid: pid, pidfd: pidfd) { [unowned self] code, sig in exited(code, sig, now: shim_now_ms()) }
        child = c
        reactor.add(c)
        log.log(.debug, "started \(options.command[0]) as pid \(pid) in its own process group")
        return nil
    }

    // MARK: events

    private func received(_ sig: Int32, now: Int64) {
        guard let child else { return }
        if !policy.signals.contains(sig) {
            log.log(.info, "\(signalName(sig)): passed on to the program")
            return child.send(sig, group: false)
        }
        switch phase {
        case .starting, .running:
            let drainMs = options.drainTimeoutMs ?? stopWait.map { $0 / 2 } ?? Wrapper.unknownStopWaitDrainMs
            phase = .draining(signal: sig)
            stopAt = now
            log.log(.info, "\(signalName(sig)): draining \(serversText) (at most \(drainMs) ms) before passing it on")
            let d = Drain(groups, agents: agents, ports: options.ports, reactor: reactor, pollEveryMs: Wrapper.statEveryMs)
            d.onFinished = { [unowned self, unowned d] now in drained(d, sig, now: now) }
            drain = d
            d.start(deadline: now + Int64(drainMs), now: now)
        case .draining:
            log.log(.warning, "\(signalName(sig)) again: passing it on without waiting for the drain")
            passOn(sig)
        case .stopping:
            child.send(sig, group: true)
        case .exiting:
            break
        }
    }

    private func drained(_ d: Drain, _ sig: Int32, now: Int64) {
        guard phase == .draining(signal: sig) else { return }
        let failed = groups.indices.filter { d.setFailed[$0] || d.readFailed[$0] }.map { groups[$0].peer.display }
            + agents.indices.filter { d.agentFailed[$0] }.map { "agent \(agents[$0].peer.display) (\(agents[$0].peer.errorText))" }
        if d.timedOut && !d.agentsTold {
            let waiting = agents.flatMap { a in a.targets.indices.compactMap { k in
                a.seen[k].map { "\(a.targets[k].name) \($0.word.string) told \($0.told) of \($0.pollers)" } } }
            log.log(.warning, "drain timeout after \(now - d.startedAt) ms: not every HAProxy polling the agent was told drain (\(waiting.joined(separator: ", "))); passing \(signalName(sig)) on")
        } else if d.timedOut {
            log.log(.warning, "drain timeout after \(now - d.startedAt) ms with \(d.sessionsLeft) session(s) left; passing \(signalName(sig)) on")
        } else if !failed.isEmpty {
            // Said above, per socket: why. Not "drained": it was not, there.
            log.log(.warning, "drain ended after \(now - d.startedAt) ms, not drained at \(failed.joined(separator: ", ")); passing \(signalName(sig)) to the program's process group")
        } else {
            let told = agents.flatMap { a in a.seen.compactMap { $0 }.map { "\($0.told)/\($0.pollers)" } }
            let via = told.isEmpty ? "" : " (every HAProxy polling the agent told drain: \(told.joined(separator: ", ")))"
            log.log(.info, "drained after \(now - d.startedAt) ms\(via); passing \(signalName(sig)) to the program's process group")
        }
        passOn(sig)
    }

    private func exited(_ code: Int32, _ sig: Int32, now: Int64) {
        let how = sig > 0 ? "was killed by \(signalName(sig))" : "exited with status \(code)"
        let planned = phase == .stopping
        if !planned && sig == 0 && code == 0 && now - spawnedAt < Wrapper.daemonExitMs {
            log.log(.warning, "the program exited with status 0 by itself \(now - spawnedAt) ms after it started: if it forked into the background (a daemon), it escaped wrap and supervisord, and keeps its port; run it in the foreground (its --nodaemon, --foreground or -D option)")
        }
        if child?.killLeftovers() == true {
            log.log(.warning, "processes of the program's group outlived it (workers it forked): SIGKILL to the group, so none holds its port")
        }
        log.log(planned ? .info : .warning, "program \(how)\(planned ? "" : " by itself"); \(serversText) to maint")
        phase = .exiting(sig > 0 ? .signal(sig) : .status(code))
        setAll(.maint, now: now)
        timer.fire(at: now + policy.graceMs)
        endIfSettled()
    }

    /// The stop signal to the program's group; its whole group is killed before supervisord's
    /// SIGKILL would end the wrapper alone (`killasgroup` reaches only the wrapper's group, and
    /// the wrapper's death only the program: its workers would live on, holding its port).
    private func passOn(_ sig: Int32) {
        phase = .stopping
        child?.send(sig, group: true)
        guard let stopWait else { return }
        let wait = Int64(stopWait)
        timer.fire(at: max(stopAt + wait - min(1000, wait / 4), shim_now_ms()))
    }

    // MARK: HAProxy

    /// Sets `state` on every socket (a `set` in flight is never abandoned: ServerGroup).
    private func setAll(_ state: AdminState, now: Int64) {
        for g in groups { g.set(state, now: now) }
    }

    /// Ready on every socket once the program serves there (the readiness gate).
    private func admitAll(now: Int64) {
        for g in groups { g.admit(options.readyWhen, boundMs: Int64(options.readyTimeoutMs), reactor: reactor, now: now) }
    }

    /// The gate opens once supervisord reports RUNNING and, with --notify, the program has
    /// said READY=1 (and its watchdog is not missed).
    private func admitWhenReady(now: Int64) {
        guard phase == .running else { return }
        if notify != nil && (!program.ready || program.watchdogMissed) { return }
        admitAll(now: now)
    }

    private var admission: String {
        if groups.isEmpty {
            return relay != nil ? "through the listener's agent, once the program's READY=1 (relayed to the listener through supervisord) came and it serves"
                : "through the listener's agent, which calls it ready once it serves"
        }
        if notify != nil {
            return program.ready ? "once it serves (it said READY=1)" : "once it says READY=1 and serves (--notify)"
        }
        switch options.readyWhen {
        case .running: return "at once"
        case .check: return "once it serves (HAProxy's check passes, or its address accepts a connection)"
        case .connect: return "once its address accepts a connection"
        }
    }

    /// After a `set` settled: said when it failed (a stop is never held up, and the
    /// listener's resync repairs what a wrap could not).
    private func groupEnded(_ g: ServerGroup, _ event: ServerGroup.Ended, now: Int64) {
        guard case .set(let state, let ok) = event, g.settled else { return }
        if ok {
            log.log(.debug, "\(g.peer.display): \(serversText) \(state.word)")
        } else {
            log.log(.error, "\(g.peer.errorText); \(serversText) not set to \(state.word) there")
        }
        endIfSettled()
    }

    /// Once the program has exited: ends as it did when every socket has its maint (or the
    /// grace is over).
    private func endIfSettled() {
        guard case .exiting(let exit) = phase, groups.allSatisfy(\.settled) else { return }
        reactor.stop(exit)
    }

    // MARK: the program's own word (--notify)

    private func openNotify() -> Bool {
        guard let n = NotifySocket(uid: getuid(), error: error) else {
            log.log(.error, "\(error.text); not starting \(options.command[0]) (--notify)")
            return false
        }
        n.onMessage = { [unowned self] m, pid, now in notified(m, pid: pid, now: now) }
        n.onDropped = { [unowned self] why, now in droppedDatagram(why, now: now) }
        n.onFailed = { [log] words in log.log(.error, "\(words); the program's notifications are no longer read") }
        notify = n
        reactor.add(n)
        setenv("NOTIFY_SOCKET", n.name, 1)
        if let w = options.watchdogMs { setenv("WATCHDOG_USEC", "\(w * 1000)", 1) }
        log.log(.debug, "NOTIFY_SOCKET=\(n.name)\(options.watchdogMs.map { " WATCHDOG_USEC=\($0 * 1000)" } ?? "")")
        return true
    }

    private func notified(_ m: NotifyMessage, pid: Int32, now: Int64) {
        if let status = m.status { statusSaid(status, now: now) }
        if m.mainPid && !program.saidMainPid {
            program.saidMainPid = true
            log.log(.info, "MAINPID= ignored: the wrapper watches its own child, whose group it stops")
        }
        // From the stop signal on, the wrapper's own drain owns the servers.
        guard phase == .starting || phase == .running else { return }
        defer { relayWord() }
        if (m.stopping || m.reloading) && program.ready {
            program.ready = false
            program.draining = true
            watchdogTimer.cancel()
            log.log(.info, "the program says \(m.stopping ? "STOPPING=1" : "RELOADING=1"): \(serversText) to drain until its next READY=1")
            for g in groups { g.set(.drain, now: now) }
        }
        if m.ready && !program.ready {
            program.ready = true
            program.draining = false
            program.watchdogMissed = false
            readyTimer.cancel()
            log.log(.info, "the program says READY=1 (pid \(pid)) \(now - spawnedAt) ms after its start: \(serversText) \(phase == .running ? "ready once it serves (readiness gate)" : "ready once supervisord reports it RUNNING and it serves")")
            if options.watchdogMs != nil { ping(now: now) }
            admitWhenReady(now: now)
        }
        if m.watchdog && options.watchdogMs != nil && program.ready { ping(now: now) }
        if m.watchdogTrigger && options.watchdogMs != nil && program.ready && !program.watchdogMissed {
            watchdogMissed("the program sent WATCHDOG=trigger", now: now)
        }
    }

    private func ping(now: Int64) {
        program.lastPing = now
        guard let w = options.watchdogMs else { return }
        watchdogTimer.fire(at: now + Int64(w))
        if program.watchdogMissed {
            program.watchdogMissed = false
            log.log(.info, "WATCHDOG=1 again \(now - program.missedAt) ms after the miss: \(serversText) ready once it serves (readiness gate)")
            admitWhenReady(now: now)
            relayWord()
        }
    }

    private func watchdogFired(now: Int64) {
        guard let w = options.watchdogMs, program.ready, !program.watchdogMissed, phase == .starting || phase == .running else { return }
        watchdogMissed("no WATCHDOG=1 for \(now - program.lastPing) ms (--watchdog \(secondsText(Int64(w))))", now: now)
    }

    /// Out of rotation until the pings resume: maint (the program's port may still accept,
    /// a wedged loop behind it). Nothing is killed: supervisord owns restarts.
    private func watchdogMissed(_ why: String, now: Int64) {
        program.watchdogMissed = true
        program.missedAt = now
        log.log(.warning, "\(why): \(serversText) to maint, out of rotation until its pings resume (its port may still accept: a wedged program often does); nothing is killed, supervisord owns restarts")
        setAll(.maint, now: now)
        relayWord()
    }

    private func readyOverdue(now: Int64) {
        guard !program.ready, phase == .starting || phase == .running else { return }
        log.log(.warning, "no READY=1 from the program \(now - spawnedAt) ms after its start (--ready-timeout): \(serversText) stay out of rotation until it says READY=1 on NOTIFY_SOCKET")
    }

    /// STATUS= as the program sent it, escaped (the logger's rule) and bounded; a changed
    /// one at most once a second, so that a flood costs one line a second.
    private func statusSaid(_ status: ByteView, now: Int64) {
        let text = status.slice(0..<min(status.count, 200))
        if program.status.bytes.equals(text) { return }
        program.status.clear()
        program.status.append(text)
        program.statusCut = status.count > 200
        program.statusUnlogged += 1
        guard now - program.statusLoggedAt >= 1000 else {
            // The latest is logged when the second is over.
            statusTimer.fire(at: program.statusLoggedAt + 1000)
            return
        }
        logStatus(now: now)
    }

    private func logStatus(now: Int64) {
        guard program.statusUnlogged > 0 else { return }
        program.statusLoggedAt = now
        if let l = log.begin(.info) {
            l.append("the program's STATUS: ")
            l.append(program.status.bytes)
            if program.statusCut { l.append("...") }
            if program.statusUnlogged > 1 { l.append(" (\(program.statusUnlogged - 1) earlier change(s) not logged)") }
            log.end()
        }
        program.statusUnlogged = 0
        relay?.tell(status: program.status.bytes)
    }

    // MARK: the relay to the listener (--notify with --agent)

    private func openRelay() {
        let r = NotifyRelay()
        r.onFailed = { [log] words in log.log(.error, "\(words); the listener hears no more of the program's word (its agent keeps answering the last one)") }
        relay = r
        reactor.add(r)
    }

    /// Tells the listener the program's word: ready (READY=1, its watchdog kept), drain
    /// (STOPPING=1, RELOADING=1), maint (not ready yet, or its watchdog missed). Its STATUS=
    /// goes once logged (at most once a second: a flood of STATUS= costs supervisord one
    /// event a second).
    private func relayWord() {
        relay?.tell(program.watchdogMissed ? .maint : program.ready ? .ready : program.draining ? .drain : .maint)
    }

    /// A datagram that did not count: said at once the first time, then at most every 10 s
    /// with how many.
    private func droppedDatagram(_ why: NotifySocket.Dropped, now: Int64) {
        program.droppedUnlogged += 1
        guard now - program.droppedLoggedAt >= 10_000 else { return }
        let what: String
        switch why {
        case .stranger(let uid): what = "from uid \(uid), not the program's (\(getuid()))"
        case .tooLong: what = "longer than \(NotifySocket.capacity) bytes"
        }
        log.log(.warning, "notify socket: ignored \(program.droppedUnlogged) datagram(s), the last \(what)")
        program.droppedLoggedAt = now
        program.droppedUnlogged = 0
    }

    private func timerFired(now: Int64) {
        switch phase {
        case .starting: askSupervisor(now: now)
        case .stopping:
            log.log(.warning, "the program is still running \(now - stopAt) ms after \((stopWait ?? 0) / 1000) s of stopwaitsecs began: SIGKILL to its process group before supervisord kills the wrapper")
            child?.send(SIGKILL, group: true)
        case .exiting(let exit): reactor.stop(exit)
        default: break
        }
    }

    /// Asks supervisord for stopwaitsecs once, then for the program's state until RUNNING,
    /// every `supervisorEveryMs`.
    private func askSupervisor(now: Int64) {
        guard let client = supervisor, let name = options.programName, phase == .starting, !client.busy else { return }
        let again = { [unowned self] in
            if phase == .starting { timer.fire(at: shim_now_ms() + Wrapper.supervisorEveryMs) }
        }
        if !configAsked && (options.stopWaitMs == nil || relay != nil) {
            configAsked = true
            let parts = name.bytes.split(separator: colon, maxSplits: 1).map(Array.init)
            let group = parts.first ?? [], process = parts.last ?? []
            var captureBytes: Int?
            client.call("supervisor.getAllConfigInfo", now: now, onStruct: { [unowned self] s in
                guard let g = s.value(0), let n = s.value(1), let wait = s.value(2)?.decimal(limit: 86400),
                      group.withBytes({ g.equals($0) }), process.withBytes({ n.equals($0) }) else { return }
                stopWaitMs = wait * 1000
                captureBytes = s.value(4)?.decimal(limit: Int(Int32.max))
            }, onDone: { [unowned self] failure in
                if let r = relay, failure == nil && captureBytes == 0 {
                    log.log(.error, "\(name) has stdout_capture_maxbytes 0: supervisord hands the listener nothing the wrapper relays of the program's word (it would only fill the program's log), so its agent answers maint for \(serversText); set stdout_capture_maxbytes=1KB in [program:\(process.string)]")
                    reactor.remove(r)
                    relay = nil
                }
                if let failure {
                    log.log(.warning, "supervisord's stopwaitsecs for \(name) unknown (\(failure)): on a stop the program's process group is not killed before it exits or supervisord kills the wrapper, and the drain lasts at most \(options.drainTimeoutMs ?? Wrapper.unknownStopWaitDrainMs) ms (--stop-wait SECONDS gives stopwaitsecs)")
                } else if let w = stopWaitMs {
                    log.log(.debug, "stopwaitsecs \(w / 1000) s")
                } else {
                    log.log(.warning, "supervisord names no program \(name) in its configuration: stopwaitsecs unknown, so on a stop the program's process group is not killed before it exits or supervisord kills the wrapper (--stop-wait SECONDS gives stopwaitsecs)")
                }
                again()
            })
            return
        }
        client.call("supervisor.getProcessInfo", [.string(name)], now: now, onStruct: { [unowned self] s in
            guard phase == .starting, let state = s.value(3) else { return }
            if state.equals("RUNNING") {
                phase = .running
                log.log(.info, "supervisord reports \(name) RUNNING: \(serversText) ready \(admission)")
                admitWhenReady(now: shim_now_ms())
            }
        }, onDone: { [unowned self] failure in
            if let failure, phase == .starting {
                log.log(.warning, "cannot ask supervisord whether \(name) is RUNNING (\(failure)); \(serversText) ready \(admission)")
                phase = .running
                admitWhenReady(now: shim_now_ms())
            }
            again()
        })
    }
}
