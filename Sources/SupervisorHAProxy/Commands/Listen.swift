import CSocketShim

/// `supervisor-haproxy [listen]`: the event listener. supervisord's events on stdin, each
/// acknowledged as soon as it is read; every HAProxy instance converging on the desired
/// state on its own; supervisord asked for every process's state at start. All of it on one
/// reactor: no peer, however slow or hostile, holds up another.
final class Listener {
    let options: Options
    let log: Logger
    let convergence: Convergence
    let reactor = Reactor()
    private(set) var channel: EventChannel!
    private(set) var supervisor: SupervisorClient?

    init(options: Options, log: Logger, input: Int32 = 0, output: Int32 = 1) {
        self.options = options
        self.log = log
        convergence = Convergence(table: MappingTable(options.mappings), sockets: options.sockets,
                                  timing: options.timing, log: log, dryRun: options.dryRun)
        channel = EventChannel(input: input, output: output, log: log) { [unowned self] reader in
            handleEvent(reader)
        }
        reactor.add(channel)
        for i in convergence.instances { reactor.add(i) }
        if let url = options.supervisor {
            let client = SupervisorClient(url: url, keys: ["name", "group", "statename"], timeoutMs: options.timing.timeoutMs)
            supervisor = client
            reactor.add(client)
        }
    }

    /// Runs until end of input (0) or a protocol or I/O error (1).
    func run() -> Int32 {
        warnAboutSharedServers()
        channel.ready()
        syncWithSupervisor(now: shim_now_ms())
        while channel.exitCode == nil {
            guard reactor.turn() else {
                log.log(.error, "\(reactor.error.text); exiting")
                return 1
            }
        }
        return channel.exitCode!
    }

    /// Two programs on one server: legal, but the latest event of either sets it.
    private func warnAboutSharedServers() {
        let table = convergence.table
        var firstProgram: [[UInt8]?] = Array(repeating: nil, count: table.targets.count)
        var warned = Array(repeating: false, count: table.targets.count)
        for (m, mapping) in table.mappings.enumerated() {
            let t = table.targetOf[m]
            guard let first = firstProgram[t] else {
                firstProgram[t] = mapping.program
                continue
            }
            if first != mapping.program && !warned[t] {
                warned[t] = true
                log.log(.warning, "\(table.targets[t].name) is mapped to several programs (\(table.mappingsText(of: t))): the latest event of any of them sets it")
            }
        }
    }

    private func handleEvent(_ reader: EventReader) {
        let name = reader.eventName
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
                logEvent(.debug, name, event, table.mappings[m], nil)
                return
            }
            logEvent(.info, name, event, table.mappings[m], admin)
            convergence.record(target: table.targetOf[m], state: admin)
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

    /// The original tool's line:
    /// `Received PROCESS_STATE_EXITED (from RUNNING) for instance2, sending MAINT for plone04/plone0402.`
    private func logEvent(_ level: Logger.Level, _ name: ByteView, _ event: ProcessStatePayload,
                          _ mapping: Mapping, _ admin: AdminState?) {
        guard let l = log.begin(level) else { return }
        l.append("Received ")
        l.append(name)
        l.append(" (from ")
        if let from = event.fromState { l.append(from) } else { l.append("?") }
        l.append(") for ")
        l.append(mapping.program)
        if let admin {
            l.append(", sending ")
            l.append(admin.logWord)
            l.append(" for ")
        } else {
            l.append(", ignored by --on, nothing sent for ")
        }
        l.append(mapping.target.backend)
        l.append(byte: slash)
        l.append(mapping.target.server)
        l.append(".")
        log.end()
    }

    /// The state of every mapped program from supervisord, applied as it streams in; an
    /// event that arrives meanwhile is newer and wins.
    private func syncWithSupervisor(now: Int64) {
        guard let client = supervisor else { return }
        var processes = 0, taken = 0
        convergence.syncStarted()
        client.call("supervisor.getAllProcessInfo", now: now, onStruct: { [unowned self] s in
            guard let name = s.value(0), let group = s.value(1), let stateName = s.value(2) else { return }
            processes += 1
            guard let state = ProcessState(name: stateName), case .set(let admin) = options.stateTable[state] else { return }
            let table = convergence.table
            table.forEachMatch(process: name, group: group) { m in
                if convergence.recordFromSync(target: table.targetOf[m], state: admin) { taken += 1 }
            }
        }, onDone: { [unowned self] failure in
            if let failure {
                log.log(.warning, "start-up sync from \(client.url.display) failed: \(failure); carrying on with events alone")
            } else {
                log.log(.info, "start-up sync: supervisord reports \(processes) process(es); \(taken) mapped server state(s) taken from them")
            }
        })
    }
}
