import CSocketShim
import Glibc

/// `supervisor-haproxy [listen]`: the event listener. supervisord's events on stdin, each
/// acknowledged as soon as it is read; every HAProxy instance converging on the desired
/// state on its own; supervisord asked for every process's state at start and whenever it
/// dropped events. All of it on one reactor: no peer, however slow or hostile, holds up
/// another.
///
/// A stop signal asks supervisord what it is doing: shutting down or restarting (or gone),
/// every mapped server goes to maint before the listener ends, since the last events of a
/// shutdown never reach it; running (only the listener is being restarted), or refusing to
/// say (a 401, a hang), HAProxy is left as it is. At end of input, what was acknowledged is
/// sent before the listener exits.
final class EventListener {
    /// The listener's life, one state at a time.
    enum Phase: Equatable {
        /// Events in, changes out.
        case running
        /// A stop signal came: supervisord is asked what it is doing; `exit` is how the
        /// listener ends.
        case askingSupervisor(exit: Exit)
        /// Ending as `exit`: what is pending (after a shutdown, every server to maint) is
        /// sent until every instance has settled, or until `deadline`.
        case finishing(exit: Exit, deadline: Int64)

        var exit: Exit? {
            switch self {
            case .running: nil
            case .askingSupervisor(let exit), .finishing(let exit, _): exit
            }
        }
    }

    /// The sync with supervisord (every process's state): none, one under way, or one
    /// under way and another asked for meanwhile (lost events).
    enum Sync { case idle, underWay, underWayAndAskedAgain }

    let options: ListenOptions
    let log: Logger
    let convergence: Convergence
    let reactor = Reactor()
    let policy: StopPolicy
    private(set) var channel: EventChannel!
    private(set) var supervisor: SupervisorClient?
    private var signals: SignalChannel?
    /// The agent ports (`--agent`), bound when the listener runs.
    private(set) var agentPorts: [AgentPort] = []
    private let signalError = FixedBuffer(capacity: 256)
    private var lastPoolSerial: Int?
    private(set) var phase = Phase.running
    private var sync = Sync.idle
    /// Ends a `finishing` listener at its deadline, whatever is still pending.
    private var graceTimer: Timer!

    init(options: ListenOptions, log: Logger, input: Descriptor = .standardInput, output: Descriptor = .standardOutput) {
        self.options = options
        self.log = log
        policy = .listener(timeoutMs: options.timing.timeoutMs)
        convergence = Convergence(table: MappingTable(options.mappings), sockets: options.sockets,
                                  timing: options.timing, log: log, dryRun: options.dryRun,
                                  readyWhen: options.readyWhen, readyBoundMs: Int64(options.readyTimeoutMs),
                                  agent: !options.agents.isEmpty, agentPollers: options.agentPollers,
                                  stateFile: options.stateFile, reactor: reactor)
        channel = EventChannel(input: input, output: output, log: log) { [unowned self] reader in
            handleEvent(reader)
        }
        channel.onEnd = { [unowned self] code in
            // A stop under way finishes what it decided; otherwise the end of input ends it.
            if phase == .running { inputEnded(code, now: reactor.now) }
        }
        graceTimer = Timer { [unowned self] now in graceOver(now: now) }
        reactor.add(channel)
        reactor.add(graceTimer)
        for i in convergence.instances { i.members.forEach(reactor.add) }
        if let answers = convergence.agent {
            agentPorts = options.agents.map { e in
                AgentPort(e, display: e.display, answering: answers, log: log)
            }
        }
        if let url = options.supervisor {
            let client = SupervisorClient(url: url, keys: ["name", "group", "statename", "command", "stdout_capture_maxbytes"], timeoutMs: options.timing.timeoutMs,
                                          valueCapacity: 8192)
            supervisor = client
            reactor.add(client)
        }
    }

    /// Runs until end of input (0), a protocol or I/O error (1), or a stop signal (the
    /// listener then ends by that signal).
    func run() -> Exit {
        if let path = options.stateFile, let problem = ReplacedFile.problem(path) {
            log.log(.error, "\(problem); exiting")
            return .status(2)
        }
        warnAboutSharedServers()
        for port in agentPorts {
            guard port.socket.open() else {
                log.log(.error, "agent port: \(port.socket.peer.errorText); exiting")
                return .status(2)
            }
            port.members.forEach(reactor.add)
            log.log(.info, "answering HAProxy's agent checks at \(port.display); \(options.agentPollers.isEmpty ? "any client that polls counts as a load balancer (--agent-pollers names them)" : "only polls from --agent-pollers count")")
        }
        warnAboutUnprobedServers()
        signals = SignalChannel(policy.handled, error: signalError) { [unowned self] sig in
            stopRequested(sig, now: reactor.now)
        }
        if let signals { reactor.add(signals) } else { log.log(.warning, "\(signalError.text): a stop signal ends the listener at once") }
        // supervisord holds the events until READY: the first is taken once it is known
        // which programs their wraps admit (an event before that would be decided as if
        // there were no wrap).
        findWraps(now: reactor.now)
        let exit = reactor.run(until: { [unowned self] in finished() })
        if reactor.failed { log.log(.error, "\(reactor.error.text); exiting") }
        return exit ?? phase.exit ?? policy.exit(SIGTERM)
    }

    /// Every acknowledged event reaches HAProxy: what is still pending is sent (within the
    /// grace of one exchange) before the listener ends with `code`.
    private func inputEnded(_ code: Int32, now: Int64) {
        let waiting = convergence.instances.reduce(0) { $0 + $1.pendingCount }
        if convergence.settled {
            log.log(.info, "end of input from supervisord; exiting")
            return reactor.stop(.status(code))
        }
        finish(.status(code), now: now)
        log.log(.info, "end of input from supervisord: sending the \(waiting) acknowledged change(s) still pending (at most \(policy.graceMs) ms), then exiting")
    }

    // MARK: stopping

    private func stopRequested(_ sig: Int32, now: Int64) {
        guard phase == .running else { return }
        phase = .askingSupervisor(exit: policy.exit(sig))
        guard let client = supervisor else {
            log.log(.info, "\(signalName(sig)): exiting; no supervisord to ask, HAProxy is left as it is")
            return reactor.stop(policy.exit(sig))
        }
        sync = .idle
        client.call("supervisor.getState", now: now, onStruct: { [unowned self] s in
            guard let state = s.value(2) else { return }
            if state.equals("RUNNING") {
                log.log(.info, "\(signalName(sig)): supervisord is RUNNING, so only the listener stops; HAProxy is left as it is")
                return reactor.stop(policy.exit(sig))
            }
            shutDown(sig, because: "supervisord is \(String(bytes: state))", now: reactor.now)
        }, onDone: { [unowned self] failure in
            guard let failure else {
                return shutDown(sig, because: "supervisord named no state", now: reactor.now)
            }
            // Seen on 4.2.5: while it shuts down, every call answers fault 6 SHUTDOWN_STATE.
            if client.reader.failure == .fault && client.reader.faultCode == 6 {
                return shutDown(sig, because: "supervisord is shutting down", now: reactor.now)
            }
            // Nothing listens where supervisord was: it is gone, and its programs with it.
            if client.nobodyListens {
                return shutDown(sig, because: "supervisord is gone (\(failure))", now: reactor.now)
            }
            // A 401, a permission error, no descriptors, a hang, garbage: a local fault or
            // a peer that does not answer says nothing of the programs. Their own events do.
            let code = client.exchange.peer.error.code
            let why = client.unauthorized ? "supervisord refused the listener's credentials (\(failure))"
                : code.permission ? "the listener may not reach supervisord (\(failure)), so it cannot tell whether supervisord stops"
                : code.outOfResources ? "the listener is out of descriptors or memory (\(failure)), so it cannot tell whether supervisord stops"
                : "supervisord does not say what it is doing (\(failure))"
            log.log(.warning, "\(signalName(sig)): \(why): HAProxy is left as it is; the programs' own events set their servers")
            reactor.stop(policy.exit(sig))
        })
    }

    /// Every mapped server to maint on every socket, within the stop's grace.
    private func shutDown(_ sig: Int32, because reason: String, now: Int64) {
        guard case .askingSupervisor(let exit) = phase, reactor.exit == nil else { return }
        finish(exit, now: now)
        log.log(.info, "\(signalName(sig)): \(reason): every mapped server to maint before exiting")
        if case .ignore = options.stateTable[.stopped] { return }
        for t in convergence.table.targets.indices { convergence.record(target: t, state: .maint) }
    }

    /// Ending as `exit`: what is pending goes out until every instance has settled, or for
    /// one grace at most.
    private func finish(_ exit: Exit, now: Int64) {
        let deadline = now + policy.graceMs
        phase = .finishing(exit: exit, deadline: deadline)
        graceTimer.fire(at: deadline)
    }

    /// A finishing listener is done once every instance has sent what it can.
    private func finished() -> Bool {
        guard case .finishing = phase else { return false }
        return convergence.settled
    }

    /// The grace is over: the listener ends as decided, saying what did not go out.
    private func graceOver(now: Int64) {
        guard case .finishing(let exit, _) = phase else { return }
        let waiting = convergence.instances.reduce(0) { $0 + $1.pendingCount }
        log.log(.warning, "\(policy.graceMs) ms of grace over with \(waiting) change(s) HAProxy did not take; exiting")
        reactor.stop(exit)
    }

    /// Through the agent, readiness needs the program's address (`@ADDR:PORT`).
    private func warnAboutUnprobedServers() {
        guard let answers = convergence.agent, options.readyWhen != .running else { return }
        let names = answers.unprobed.map { convergence.table.targets[$0].name }
        guard !names.isEmpty else { return }
        log.log(.warning, "agent: no @ADDR:PORT in the mapping of \(names.joined(separator: ", ")): the agent calls \(names.count == 1 ? "it" : "them") ready as soon as supervisord says RUNNING, listening or not")
    }

    /// Two programs on one server: legal, but the latest event of either sets it.
    private func warnAboutSharedServers() {
        let table = convergence.table
        for t in table.targets.indices {
            var programs = 0
            var first: [UInt8]?
            table.forEachMapping(ofTarget: t) { m in
                if first == nil { first = table.mappings[m].program }
                if table.mappings[m].program != first { programs += 1 }
            }
            if programs > 0 {
                log.log(.warning, "\(table.targets[t].name) is mapped to several programs (\(table.mappingsText(of: t))): the latest event of any of them sets it")
            }
        }
    }

    private func handleEvent(_ reader: EventReader) {
        noticeLostEvents(reader.current.poolSerial)
        let name = reader.eventName
        if name.equals("PROCESS_COMMUNICATION_STDOUT") { return relayed(reader.payload.bytes) }
        guard let state = ProcessState(eventName: name) else {
            if let l = log.begin(.debug) {
                l.append("ignored ")
                l.append(name)
                log.end()
            }
            return
        }
        guard let event = ProcessStatePayload(reader.payload.bytes) else {
            if let l = log.begin(.warning) {
                l.append(name)
                l.append(" without processname: '")
                l.append(reader.payload.bytes.slice(0..<min(reader.payload.count, 200)))
                l.append("'")
                log.end()
            }
            return
        }
        let table = convergence.table
        let action = options.stateTable[state]
        var matched = false
        table.forEachMatch(process: event.processName, group: event.groupName) { m in
            matched = true
            guard case .set(let admin) = action else {
                logEvent(.debug, name, event, m, nil)
                return
            }
            // A start (STARTING, RUNNING) of a program under `wrap` is its wrap's.
            let start = state == .starting || state == .running
            let t = table.targetOf[m]
            logEvent(.info, name, event, m, admin, leftToWrap: start && convergence.admissionLeft(t) ? t : nil)
            convergence.record(target: table.targetOf[m], state: admin, wrapsOwn: start)
        }
        if !matched, let l = log.begin(.debug) {
            l.append("ignored ")
            l.append(name)
            l.append(" for ")
            if let g = event.groupName {
                l.append(g)
                l.append(byte: colon)
            }
            l.append(event.processName)
            l.append(" (not mapped)")
            log.end()
        }
    }

    /// What a `wrap --notify` relayed of its program through supervisord (NotifyRelay): the
    /// agent's answer for its servers follows it. supervisord names the process; the data
    /// is the process's own output, hostile until parsed.
    private func relayed(_ payload: ByteView) {
        guard let agent = convergence.agent, let event = ProcessStatePayload(payload) else { return }
        let data = payload.slice(min((payload.firstIndex(of: newline) ?? payload.count) + 1, payload.count)..<payload.count)
        let table = convergence.table
        guard let notice = parseRelayed(data) else {
            if let l = log.begin(.debug) {
                l.append("ignored PROCESS_COMMUNICATION_STDOUT from ")
                l.append(event.processName)
                l.append(" (not a supervisor-haproxy notice): '")
                l.append(data.slice(0..<min(data.count, 200)))
                l.append("'")
                log.end()
            }
            return
        }
        table.forEachMatch(process: event.processName, group: event.groupName) { m in
            let t = table.targetOf[m]
            let heard = agent.programSaid(t, notice, now: reactor.now)
            guard heard != .notRelayed else {
                if let l = log.begin(.debug) {
                    l.append("ignored a notice relayed for ")
                    l.append(table.mappings[m].program)
                    l.append(": no 'wrap --notify' with --agent found for it at start")
                    log.end()
                }
                return
            }
            // The wrap repeats its notice every few seconds: only a change is worth a line.
            guard let l = log.begin(heard == .changed ? .info : .debug) else { return }
            l.append("Received PROCESS_COMMUNICATION_STDOUT for ")
            l.append(table.mappings[m].program)
            l.append(": its wrap relays '")
            l.append(notice.word.text)
            if notice.status.count > 0 {
                l.append(" #")
                l.append(notice.status)
            }
            l.append("'; the agent answers ")
            l.append(agent.answerWords(t))
            l.append(" for ")
            l.append(table.mappings[m].target.backend)
            l.append(byte: slash)
            l.append(table.mappings[m].target.server)
            l.append(".")
            log.end()
        }
    }

    /// The original tool's line:
    /// `Received PROCESS_STATE_EXITED (from RUNNING) for instance2, sending MAINT for plone04/plone0402.`
    private func logEvent(_ level: Logger.Level, _ name: ByteView, _ event: ProcessStatePayload,
                          _ m: Int, _ admin: AdminState?, leftToWrap: Int? = nil) {
        let mapping = convergence.table.mappings[m]
        guard let l = log.begin(level) else { return }
        l.append("Received ")
        l.append(name)
        l.append(" (from ")
        if let from = event.fromState { l.append(from) } else { l.append("?") }
        l.append(") for ")
        l.append(mapping.program)
        // What goes out, in the original's words: "sending X" where a socket takes it; the
        // agent only answers it; ready waits at the gate.
        if let leftToWrap {
            l.append(", left to its wrap (")
            if convergence.wrapNotifies.contains(leftToWrap) {
                l.append(admin == .ready ? "--notify: ready once the program says READY=1" : "--notify: it keeps the server in maint until the program says READY=1")
            } else {
                l.append(admin == .ready ? "ready once it serves: its readiness gate" : "it keeps the server in maint until RUNNING")
            }
            l.append("), nothing sent for ")
        } else if let admin {
            l.append(convergence.instances.isEmpty ? ", the agent answers " : ", sending ")
            l.append(admin.logWord)
            l.append(" for ")
        } else {
            l.append(", ignored by --on, nothing sent for ")
        }
        l.append(mapping.target.backend)
        l.append(byte: slash)
        l.append(mapping.target.server)
        if admin == .ready && leftToWrap == nil && convergence.instances.isEmpty,
           let agent = convergence.agent, agent.isRelayed(convergence.table.targetOf[m]) {
            l.append(options.readyWhen != .running ? " once the program says READY=1 (relayed by its wrap) and it serves (readiness gate)"
                     : " once the program says READY=1 (relayed by its wrap)")
        } else if admin == .ready && leftToWrap == nil && options.readyWhen != .running {
            // What the gate sends meanwhile is its own line, per socket.
            l.append(" once it serves (readiness gate)")
        }
        l.append(".")
        log.end()
    }

    /// A gap in `poolserial` means supervisord dropped events (its buffer overflowed):
    /// what they said is asked for again.
    private func noticeLostEvents(_ serial: Int?) {
        guard let serial else { return }
        defer { lastPoolSerial = serial }
        guard let last = lastPoolSerial, serial > last + 1 else { return }
        let lost = serial - last - 1
        guard supervisor != nil else {
            log.log(.warning, "supervisord dropped \(lost) event(s) (poolserial \(last) to \(serial)); no supervisord to ask for the states they carried")
            return
        }
        log.log(.warning, "supervisord dropped \(lost) event(s) (poolserial \(last) to \(serial)): asking it for every process's state")
        syncWithSupervisor(now: reactor.now)
    }

    /// Which mapped programs run under `wrap` on a socket of this listener's: there, their
    /// admission is the wrap's (its readiness gate at RUNNING, after READY=1 with
    /// `--notify`; one gate per server, not two), and a start sends nothing. Read once from
    /// supervisord's configuration (`getAllConfigInfo`, each process's command line, parsed
    /// as `wrap` parses it); then the start-up sync.
    private func findWraps(now: Int64) {
        guard let client = supervisor, !convergence.instances.isEmpty || convergence.agent != nil else { return takeEvents(now: now) }
        client.call("supervisor.getAllConfigInfo", now: now, onStruct: { [unowned self] s in
            guard let name = s.value(0), let group = s.value(1), let command = s.value(3),
                  let found = discoverMappings(command: Array(command), group: Array(group).string, name: Array(name).string),
                  found.wrap else { return }
            let table = convergence.table
            for (k, i) in convergence.instances.enumerated() where found.sockets.contains(where: { $0.endpoint == i.peer.endpoint }) {
                table.forEachMatch(process: name, group: group) { m in
                    guard found.mappings.contains(where: { $0.target == table.targets[table.targetOf[m]] }) else { return }
                    convergence.leaveAdmission(instance: k, target: table.targetOf[m], notify: found.notify)
                    log.log(.info, "\(table.mappings[m].program.string) runs under 'supervisor-haproxy wrap\(found.notify ? " --notify" : "")': at \(i.peer.display), \(table.targets[table.targetOf[m]].name) is admitted by its wrap (ready once \(found.notify ? "the program says READY=1 and " : "")it serves: the wrap's readiness gate), not by the listener at RUNNING")
                }
            }
            if let agent = convergence.agent, found.notify && !found.agents.isEmpty {
                let capture = s.value(4)?.decimal(limit: Int(Int32.max))
                table.forEachMatch(process: name, group: group) { m in
                    let t = table.targetOf[m]
                    guard found.mappings.contains(where: { $0.target == table.targets[t] }) else { return }
                    agent.relayFrom(t, now: reactor.now)
                    let program = table.mappings[m].program.string
                    if capture == 0 {
                        log.log(.error, "\(program) runs under 'supervisor-haproxy wrap --notify --agent' but has stdout_capture_maxbytes 0: supervisord hands the listener nothing its wrap relays, so the agent answers maint for \(table.targets[t].name) until it is set (stdout_capture_maxbytes=1KB in its [program:x])")
                    } else {
                        log.log(.info, "\(program) runs under 'supervisor-haproxy wrap --notify --agent': for \(table.targets[t].name) the agent takes the program's word as its wrap relays it (PROCESS_COMMUNICATION): maint from each start until READY=1, then ready once it serves")
                    }
                }
            }
        }, onDone: { [unowned self] failure in
            if let failure { log.log(.warning, "cannot read supervisord's configuration (\(failure)): a program under 'wrap' is admitted by the listener at RUNNING too (two readiness gates for its server), and the agent takes no program's word relayed by a 'wrap --notify'") }
            takeEvents(now: reactor.now)
        })
    }

    /// READY to supervisord (the events it held come), and the start-up sync.
    private func takeEvents(now: Int64) {
        channel.ready()
        syncWithSupervisor(now: now)
    }

    /// The state of every mapped program from supervisord, applied as it streams in; an
    /// event that arrives meanwhile is newer and wins.
    private func syncWithSupervisor(now: Int64) {
        guard let client = supervisor, phase == .running else { return }
        if sync != .idle {
            sync = .underWayAndAskedAgain
            return
        }
        sync = .underWay
        var processes = 0, taken = 0
        convergence.syncStarted()
        client.call("supervisor.getAllProcessInfo", now: now, onStruct: { [unowned self] s in
            guard let name = s.value(0), let group = s.value(1), let stateName = s.value(2) else { return }
            processes += 1
            guard let state = ProcessState(name: stateName), case .set(let admin) = options.stateTable[state] else { return }
            let table = convergence.table
            table.forEachMatch(process: name, group: group) { m in
                if convergence.recordFromSync(target: table.targetOf[m], state: admin,
                                              wrapsOwn: state == .starting || state == .running) { taken += 1 }
            }
        }, onDone: { [unowned self] failure in
            let again = sync == .underWayAndAskedAgain
            sync = .idle
            if let failure, client.unauthorized {
                log.log(.error, "start-up sync from \(client.url.display) refused: \(failure): the listener has no credentials supervisord takes (give SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD in its environment=); carrying on with events alone, and a stop signal leaves HAProxy as it is")
            } else if let failure {
                log.log(.warning, "start-up sync from \(client.url.display) failed: \(failure); carrying on with events alone")
            } else {
                log.log(.info, "start-up sync: supervisord reports \(processes) process(es); \(taken) mapped server state(s) taken from them")
            }
            if again { syncWithSupervisor(now: reactor.now) }
        })
    }
}
