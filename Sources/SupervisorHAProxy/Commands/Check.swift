import CSocketShim

// `check` (and --check): for deploy scripts and config reviews. Reads `show servers state`
// from every socket at once and prints one line per mapping and socket; exit 0 when every
// mapped server exists everywhere, 1 otherwise.

/// HAProxy's srv_op_state values.
func opStateWord(_ op: Int) -> String {
    switch op {
    case 0: "down"
    case 1: "starting"
    case 2: "up"
    case 3: "stopping"
    default: "op state \(op)"
    }
}

/// One socket's `show servers state`, read once.
private final class CheckRead: HAProxyAnswers {
    let client: HAProxyClient
    let table: MappingTable
    private(set) var view: ServerStates
    private(set) var done = false
    private(set) var ok = false
    /// From `show info`, read after the state: HAProxy's major and minor version.
    private(set) var version: (major: Int, minor: Int)?

    init(_ socket: SocketSpec, table: MappingTable, timeoutMs: Int) {
        client = HAProxyClient(socket, timeoutMs: timeoutMs)
        self.table = table
        view = ServerStates(table)
    }

    func serverState(_ line: ServerStateLine) { view.take(line, table) }

    func finished(_ client: HAProxyClient, _ command: HAProxyClient.Command, ok: Bool, now: Int64) {
        if command == .info {
            version = ok ? client.info.version : nil
            done = true
            return
        }
        self.ok = ok
        guard ok else {
            done = true
            return
        }
        view.conclude(table) { _, _ in }
        client.showInfo(now: now, for: self)
    }
}

func runCheck(_ options: ListenOptions) -> Int32 {
    let table = MappingTable(options.mappings)
    let reactor = Reactor()
    let reads = options.sockets.map { CheckRead($0, table: table, timeoutMs: options.timing.timeoutMs) }
    let now = shim_now_ms()
    for r in reads {
        reactor.add(r.client)
        r.client.showServersState(now: now, for: r)
    }
    let priorities = options.supervisor.map { PriorityCheck(url: $0, table: table, timeoutMs: options.timing.timeoutMs) }
    if let priorities {
        reactor.add(priorities.client)
        priorities.start()
    }
    reactor.run(until: { reads.allSatisfy(\.done) && priorities?.client.busy != true })
    if reactor.failed {
        writeOut(2, "supervisor-haproxy: \(reactor.error.text)\n")
        return 1
    }
    var problems = priorities?.refused == true ? 1 : 0
    var lines: [String] = priorities?.warnings ?? []
    for r in reads {
        let display = r.client.peer.display
        guard r.ok else {
            problems += 1
            lines.append("FAIL \(display): unreachable: \(r.client.peer.errorText)")
            continue
        }
        if let v = r.version, v.major > 3 || (v.major == 3 && v.minor >= 1) {
            lines.append("NOTE \(display): HAProxy \(v.major).\(v.minor) has the server keyword 'init-state fully-down' (e.g. on default-server): unless it is set, a server leaving maint is UP before any check; the readiness gate (--ready-when) covers that on every version")
        }
        for (m, mapping) in table.mappings.enumerated() {
            let t = table.targetOf[m]
            let name = mapping.text
            switch r.view.presence[t] {
            case .present:
                lines.append("ok   \(display) \(name): \(r.view.admin(t).word), \(opStateWord(r.view.opState[t]))")
            case .missingBackend:
                problems += 1
                lines.append("FAIL \(display) \(name): no such backend")
            default:
                problems += 1
                lines.append("FAIL \(display) \(name): no such server")
            }
        }
    }
    lines.append(problems == 0
        ? "check passed: \(table.mappings.count) mapping(s) on \(reads.count) socket(s)"
        : "check failed: \(problems) problem(s)")
    writeOut(1, lines.map { $0.escaped }.joined(separator: "\n") + "\n")
    return problems == 0 ? 0 : 1
}

/// The listener must be stopped after the programs it watches, or their last events are
/// lost at shutdown: supervisord stops groups from the highest priority down. Reads
/// `getAllConfigInfo` and warns of every listener (a supervisor-haproxy command that is not
/// `wrap`) whose group priority is not below a mapped program's.
final class PriorityCheck {
    let client: SupervisorClient
    let table: MappingTable
    private(set) var warnings: [String] = []
    /// supervisord answered 401: a problem, not a warning.
    private(set) var refused = false
    private var listeners: [(name: String, priority: Int)] = []
    private var programs: [(name: String, priority: Int)] = []

    init(url: SupervisorURL, table: MappingTable, timeoutMs: Int) {
        client = SupervisorClient(url: url, keys: ["group", "name", "group_prio", "command"], timeoutMs: timeoutMs)
        self.table = table
    }

    func start() {
        client.call("supervisor.getAllConfigInfo", now: shim_now_ms(), onStruct: { [unowned self] s in
            guard let group = s.value(0), let name = s.value(1), let prio = s.value(2), let command = s.prefix(3) else { return }
            let priority = prio.first == UInt8(ascii: "-") ? -(prio.slice(1..<prio.count).decimal(limit: 1 << 30) ?? 0) : (prio.decimal(limit: 1 << 30) ?? 0)
            let shown = group.equals(name) ? String(bytes: name) : "\(String(bytes: group)):\(String(bytes: name))"
            if ownCommand(commandWords(Array(command)))?.command == "listen" { listeners.append((shown, priority)) }
            var mapped = false
            table.forEachMatch(process: name, group: group) { _ in mapped = true }
            if mapped { programs.append((shown, priority)) }
        }, onDone: { [unowned self] failure in
            if let failure, client.unauthorized {
                refused = true
                warnings.append("FAIL \(client.url.display): supervisord refused these credentials (\(failure)); a listener without the ones it takes cannot sync and leaves HAProxy as it is on a stop (give SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD in its environment=)")
                return
            }
            if let failure {
                warnings.append("WARN \(client.url.display): cannot check the listener's priority: \(failure)")
                return
            }
            for l in listeners {
                guard let p = programs.first(where: { $0.priority <= l.priority }) else { continue }
                warnings.append("WARN \(l.name) has priority \(l.priority), not below \(p.name)'s \(p.priority): supervisord stops it first at shutdown and the last events are lost (give the listener priority=-1, the default of event listeners)")
            }
        })
    }
}
