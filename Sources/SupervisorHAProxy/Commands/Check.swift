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

func runCheck(_ options: Options) -> Int32 {
    let convergence = Convergence(table: MappingTable(options.mappings), sockets: options.sockets,
                                  timing: options.timing, log: Logger(threshold: .error), dryRun: true)
    let reactor = Reactor()
    for i in convergence.instances {
        i.readOnce = true
        reactor.add(i)
    }
    let priorities = options.supervisor.map { PriorityCheck(url: $0, table: convergence.table, timeoutMs: options.timing.timeoutMs) }
    if let priorities {
        reactor.add(priorities.client)
        priorities.start()
    }
    while convergence.instances.contains(where: { $0.readsDone == 0 }) || priorities?.client.busy == true {
        guard reactor.turn() else {
            writeOut(2, "supervisor-haproxy: \(reactor.error.text)\n")
            return 1
        }
    }
    let table = convergence.table
    var problems = 0
    var lines: [String] = priorities?.warnings ?? []
    for i in convergence.instances {
        guard !i.lastReadFailed else {
            problems += 1
            lines.append("FAIL \(i.peer.display): unreachable: \(i.peer.errorText)")
            continue
        }
        for (m, mapping) in table.mappings.enumerated() {
            let t = table.targetOf[m]
            let name = mapping.text
            switch i.presence[t] {
            case .present:
                let admin = AdminState(adminBits: i.adminBits[t])
                lines.append("ok   \(i.peer.display) \(name): \(admin.word), \(opStateWord(i.opState[t]))")
            case .missingBackend:
                problems += 1
                lines.append("FAIL \(i.peer.display) \(name): no such backend")
            default:
                problems += 1
                lines.append("FAIL \(i.peer.display) \(name): no such server")
            }
        }
    }
    lines.append(problems == 0
        ? "check passed: \(table.mappings.count) mapping(s) on \(convergence.instances.count) socket(s)"
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
            let words = Array(command).split(separator: space).map { Array($0) }
            if words.contains(where: { $0.count >= 18 && $0.suffix(18).elementsEqual("supervisor-haproxy".utf8) }) && !words.contains(Array("wrap".utf8)) {
                listeners.append((shown, priority))
            }
            var mapped = false
            table.forEachMatch(process: name, group: group) { _ in mapped = true }
            if mapped { programs.append((shown, priority)) }
        }, onDone: { [unowned self] failure in
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
