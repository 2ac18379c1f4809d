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
    while convergence.instances.contains(where: { $0.readsDone == 0 }) {
        guard reactor.turn() else {
            writeOut(2, "supervisor-haproxy: \(reactor.error.text)\n")
            return 1
        }
    }
    let table = convergence.table
    var problems = 0
    var lines: [String] = []
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
