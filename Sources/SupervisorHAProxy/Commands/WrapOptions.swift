// `wrap`'s command line: SOCKET BACKEND/SERVER... -- COMMAND [ARG...], parsed by hand.

let wrapUsage = """
    usage: supervisor-haproxy wrap [OPTIONS] SOCKET BACKEND/SERVER... -- COMMAND [ARG...]
           supervisor-haproxy wrap [OPTIONS] --socket SOCKET [--socket SOCKET...] BACKEND/SERVER... -- COMMAND [ARG...]
    """

let wrapHelp = wrapUsage + """


    Runs COMMAND as its child (same stdin, stdout, stderr, environment and directory; its own
    process group; it cannot outlive the wrapper), as a supervisord program's command:
      [program:web1]
      command = supervisor-haproxy wrap unix:///run/haproxy/admin.sock web/web1 -- bin/web1

    At start: the servers go to maint, and to ready once supervisord reports the program
    RUNNING (at once when no supervisord is known).
    On SIGTERM, SIGINT or SIGQUIT: drain on every socket; wait until HAProxy reports no
    current and no queued session on the servers (show stat), or --drain-timeout; then the
    same signal to the program's process group; once it has exited, maint. A second stop
    signal passes it on at once. SIGHUP, SIGUSR1, SIGUSR2 and SIGWINCH are passed on at once.
    When the program exits by itself: maint at once. The wrapper then ends as the program did:
    the same exit status, or death by the same signal.
    HAProxy trouble never holds up a stop: each exchange is bounded by --timeout.

    Options:
      --socket SOCKET          a stats socket; repeat for several HAProxy instances. When
                               given, every argument before -- is a server
      --timeout SECONDS        bound on one exchange with HAProxy or supervisord (default 2)
      --drain-timeout SECONDS  longest wait for sessions to end (default: half of the
                               program's stopwaitsecs from supervisord, else 5)
      --supervisor URL         supervisord, asked for stopwaitsecs and when the program is
                               RUNNING (default $SUPERVISOR_SERVER_URL; 'none': ready at once)
      --quiet                  log errors only
      --verbose                also log each exchange
      --help                   show this help

    Exit status: the program's; 127 when COMMAND is not found, 126 when it cannot be run;
    2 on invalid arguments.
    """

struct WrapOptions: Equatable {
    var sockets: [SocketSpec] = []
    var targets: [Target] = []
    var command: [String] = []
    var timing = Timing()
    /// nil: from supervisord's stopwaitsecs.
    var drainTimeoutMs: Int?
    var supervisor: SupervisorURL?
    /// supervisord's `group:process` name of the wrapped program, from the environment.
    var programName: String?
    var startupWarnings: [String] = []
    var logLevel = Logger.Level.info
}

enum ParsedWrap: Equatable {
    case run(WrapOptions)
    case help
    case invalid(String)
}

/// Milliseconds from seconds that may have a fraction ("2", "0.5"), at most a day; nil if
/// not such a number.
func parseSeconds(_ value: String, allowZero: Bool) -> Int? {
    let b = value.bytes
    let dot = b.firstIndex(of: UInt8(ascii: ".")) ?? b.count
    let whole = Array(b[..<dot]), fraction = dot < b.count ? Array(b[(dot + 1)...]) : []
    guard whole.isDigits || (whole.isEmpty && fraction.isDigits), fraction.isEmpty || fraction.isDigits,
          whole.count <= 6, dot == b.count || !fraction.isEmpty else { return nil }
    var ms = whole.reduce(0) { $0 * 10 + Int($1 - 0x30) } * 1000
    for (k, d) in fraction.prefix(3).enumerated() { ms += Int(d - 0x30) * [100, 10, 1][k] }
    guard ms <= 86_400_000, allowZero || ms > 0 else { return nil }
    return ms
}

func parseWrap(_ args: [String], environment env: Environment = Environment()) -> ParsedWrap {
    var o = WrapOptions()
    if let text = env.supervisorURL {
        switch SupervisorURL.parse(text, username: env.username, password: env.password) {
        case .success(let url): o.supervisor = url
        case .failure(let e): o.startupWarnings.append("$SUPERVISOR_SERVER_URL: \(e.urlMessage); servers go ready at once")
        }
    }
    if let p = env.processName, !p.isEmpty {
        o.programName = (env.groupName.map { $0.isEmpty ? "" : $0 + ":" } ?? "") + p
    }
    guard let dashes = args.firstIndex(of: "--") else {
        if args.contains("--help") { return .help }
        return .invalid("missing '-- COMMAND': the program to run comes after --")
    }
    o.command = Array(args[(dashes + 1)...])
    var positional: [String] = []
    var i = 0
    let before = Array(args[..<dashes])
    while i < before.count {
        var arg = before[i]
        i += 1
        guard arg.starts(with: "--") else {
            positional.append(arg)
            continue
        }
        var inlineValue: String?
        let ab = arg.bytes
        if let eq = ab.firstIndex(of: UInt8(ascii: "=")) {
            inlineValue = Array(ab[(eq + 1)...]).string
            arg = Array(ab[..<eq]).string
        }
        switch arg {
        case "--help", "--quiet", "--verbose":
            if inlineValue != nil { return .invalid("\(arg) takes no value") }
            if arg == "--help" { return .help }
            o.logLevel = arg == "--quiet" ? .error : .debug
            continue
        case "--socket", "--timeout", "--drain-timeout", "--supervisor":
            break
        default:
            return .invalid("unknown option '\(arg)'")
        }
        let value: String
        if let inlineValue {
            value = inlineValue
        } else if i < before.count {
            value = before[i]
            i += 1
        } else {
            return .invalid("\(arg) needs a value")
        }
        switch arg {
        case "--socket":
            switch parseAddress(value) {
            case .success(let e): o.sockets.append(SocketSpec(text: value, endpoint: e))
            case .failure(let e): return .invalid(e.message)
            }
        case "--timeout":
            guard let ms = parseSeconds(value, allowZero: false) else {
                return .invalid("--timeout '\(value)': expected a number of seconds from 0.001 to 86400")
            }
            o.timing.timeoutMs = ms
        case "--drain-timeout":
            guard let ms = parseSeconds(value, allowZero: true) else {
                return .invalid("--drain-timeout '\(value)': expected a number of seconds from 0 to 86400")
            }
            o.drainTimeoutMs = ms
        default:
            if value == "none" {
                o.supervisor = nil
            } else {
                switch SupervisorURL.parse(value, username: env.username, password: env.password) {
                case .success(let url): o.supervisor = url
                case .failure(let e): return .invalid("--supervisor: " + e.urlMessage)
                }
            }
        }
    }
    if o.sockets.isEmpty {
        guard let first = positional.first else { return .invalid("missing SOCKET and BACKEND/SERVER") }
        switch parseAddress(first) {
        case .success(let e): o.sockets.append(SocketSpec(text: first, endpoint: e))
        case .failure(let e): return .invalid(e.message)
        }
        positional.removeFirst()
    }
    guard !positional.isEmpty else { return .invalid("missing BACKEND/SERVER") }
    for p in positional {
        switch Target.parse(p) {
        case .success(let t):
            if o.targets.contains(t) { return .invalid("server '\(p)' is given twice") }
            o.targets.append(t)
        case .failure(let e): return .invalid(e.message)
        }
    }
    guard let program = o.command.first, !program.isEmpty else { return .invalid("missing COMMAND after --") }
    if o.command.contains(where: { $0.utf8.contains(0) }) { return .invalid("COMMAND contains a NUL byte") }
    return .run(o)
}
