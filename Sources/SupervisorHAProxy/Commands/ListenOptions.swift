// `listen` and `check`: their command line, parsed by hand (an argument-parsing package
// would double the binary). The same positional form as the Python original:
// SOCKET PROGRAM:BACKEND/SERVER... Their help is the program's (Help.swift).

@dynamicMemberLookup
struct ListenOptions: Equatable {
    /// What `listen` shares with `wrap` (`o.timing`, `o.sockets`... read through).
    var shared = SharedOptions()
    /// The load balancers' addresses (`--agent-pollers`): the only ones counted as pollers.
    var agentPollers: [AddressRange] = []
    /// HAProxy's `server-state-file`, kept current (`--state-file`).
    var stateFile: String?
    var mappings: [Mapping] = []
    var stateTable = StateTable()
    var check = false
    var dryRun = false

    subscript<T>(dynamicMember path: WritableKeyPath<SharedOptions, T>) -> T {
        get { shared[keyPath: path] }
        set { shared[keyPath: path] = newValue }
    }
}

enum ParsedListen: Equatable {
    case run(ListenOptions)
    case help
    case version
    /// The offending argument and what is wrong with it.
    case invalid(String)
}

/// Parses the arguments of `listen` (or `check`, with `check` set).
func parseListen(_ args: [String], environment env: Environment = Environment(), check: Bool = false) -> ParsedListen {
    var o = ListenOptions()
    o.check = check
    o.shared = SharedOptions(environment: env) { "start-up sync off: \($0)" }
    var positional: [String] = []
    var walker = ArgumentWalker(args, flags: SharedOptions.flags.union(["--help", "--version", "--check", "--dry-run"]),
                                valued: SharedOptions.valued.union(["--retry-max", "--resync", "--reload-check", "--on",
                                                                    "--state-file", "--agent-pollers"]))
    while let item = walker.next() {
        do throws(Problem) {
            let item = try item.get()
            if try o.shared.take(item, env) { continue }
            switch item {
            case .positional(let p): positional.append(p)
            case .flag("--help"): return .help
            case .flag("--version"): return .version
            case .flag("--check"): o.check = true
            case .flag("--dry-run"): o.dryRun = true
            case .option("--agent-pollers", let v):
                for part in v.split(separator: ",", omittingEmptySubsequences: false) {
                    switch AddressRange.parse(String(part)) {
                    case .success(let r): o.agentPollers.append(r)
                    case .failure(let e): return .invalid("--agent-pollers: \(e.text)")
                    }
                }
            case .option("--state-file", let v):
                guard v.hasPrefix("/"), !v.bytes.contains(0) else { return .invalid("--state-file '\(v.escaped)': give an absolute path (HAProxy's server-state-file)") }
                o.stateFile = v
            case .option("--retry-max", let v):
                let ms = try secondsOption("--retry-max", v, allowZero: true).get()
                o.timing.retryMaxMs = ms == 0 ? 0 : max(ms, Timing.retryFirstMs)
            case .option("--resync", let v): o.timing.resyncMs = try secondsOption("--resync", v, allowZero: true).get()
            case .option("--reload-check", let v): o.timing.reloadCheckMs = try secondsOption("--reload-check", v, allowZero: true).get()
            case .option("--on", let v): if let problem = o.stateTable.override(v) { return .invalid(problem) }
            case .flag(let name), .option(let name, _): return .invalid(unhandled(name))
            }
        } catch {
            return .invalid(error.text)
        }
    }

    // With --agent, a stats socket is optional: a first word that is no socket address is a mapping.
    let firstIsSocket = positional.first.map { (try? socketSpec($0).get()) != nil } ?? false
    if o.sockets.isEmpty && (o.agents.isEmpty || firstIsSocket) {
        guard let first = positional.first else { return .invalid("missing SOCKET and PROGRAM:BACKEND/SERVER mappings") }
        switch socketSpec(first) {
        case .success(let spec): o.sockets.append(spec)
        case .failure(let problem): return .invalid(problem.text)
        }
        positional.removeFirst()
    }
    guard !positional.isEmpty else { return .invalid("missing PROGRAM:BACKEND/SERVER mappings") }
    var seen = Set<String>()
    for p in positional {
        switch Mapping.parse(p) {
        case .success(let m):
            if !seen.insert(m.text).inserted { return .invalid("mapping '\(p)' is given twice") }
            o.mappings.append(m)
        case .failure(let e): return .invalid(e.text)
        }
    }
    if o.stateFile != nil && o.sockets.count != 1 {
        return .invalid("--state-file is the state of one HAProxy: give it with exactly one SOCKET (\(o.sockets.count) given)")
    }
    if !o.agentPollers.isEmpty && o.agents.isEmpty {
        return .invalid("--agent-pollers names who may poll the agent port: give it with --agent")
    }
    if o.check && o.sockets.isEmpty { return .invalid("check needs a SOCKET: it asks HAProxy itself") }
    o.shared.takeParentCredentials(env)
    return .run(o)
}

/// `--agent tcp://ADDR:PORT` (or `ADDR:PORT`, `ipv4@`, `ipv6@`): a TCP address to bind, given
/// in full, since the port is open to whoever reaches the address.
func agentAddress(_ v: String) -> Result<Endpoint, Problem> {
    let text = v.bytes.contains(UInt8(ascii: "@")) || v.hasPrefix("tcp://") || v.hasPrefix("/") || v.hasPrefix("unix:") ? v : "tcp://" + v
    switch addressOrReason(text) {
    case .success(.tcp(let host, let port)): return .success(.tcp(host: host, port: port))
    case .success(.unix): return .failure(Problem("--agent '\(v.escaped)': HAProxy's agent check connects over TCP; give ADDR:PORT"))
    case .failure(let e): return .failure(Problem("--agent '\(v.escaped)': \(e.text)"))
    }
}
