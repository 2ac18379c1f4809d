// The command line, parsed by hand (an argument-parsing package would double the binary).
// Same positional form as the Python original: SOCKET PROGRAM:BACKEND/SERVER...

let version = "2.0.0"

let usage = """
    usage: supervisor-haproxy [OPTIONS] SOCKET PROGRAM:BACKEND/SERVER...
           supervisor-haproxy [OPTIONS] --socket SOCKET [--socket SOCKET...] PROGRAM:BACKEND/SERVER...
    """

let help = usage + """


    A supervisord event listener (events = PROCESS_STATE) that sets HAProxy servers to
    ready, drain or maint through HAProxy's admin-level stats socket as the programs
    behind them start, stop or die, and keeps HAProxy matching supervisord.

    SOCKET    tcp://HOST:PORT, tcp://[IPV6]:PORT, unix:///PATH, ipv4@HOST:PORT,
              ipv6@[ADDR]:PORT, unix@/PATH or /PATH
    PROGRAM:BACKEND/SERVER
              SERVER is what follows the last '/'; PROGRAM and BACKEND split at the last
              ':' before it. PROGRAM is a process name (any group) or group:process.
              A program may be mapped to several servers; all of them follow it.

    State table: RUNNING -> ready; STOPPING -> drain; STARTING, BACKOFF, EXITED,
    STOPPED, FATAL, UNKNOWN -> maint.

    Options:
      --socket SOCKET       a stats socket; repeat for several HAProxy instances. When
                            given, every positional argument is a mapping
      --timeout SECONDS     bound on one exchange with HAProxy or supervisord:
                            connect, send, answer (default 2)
      --retry-max SECONDS   longest wait between retries of a change HAProxy did not
                            take; retries start at 0.5 s and double (default 30;
                            0 turns retries off)
      --resync SECONDS      read 'show servers state' this often and repair what differs
                            (default 30; 0 turns it off)
      --supervisor URL      supervisord to ask for every process's state at start
                            (unix:///PATH or http://[USER:PASSWORD@]HOST:PORT; default
                            $SUPERVISOR_SERVER_URL; 'none' turns start-up sync off)
      --on STATE=ACTION     override the state table; ACTION is ready, drain, maint or
                            ignore (repeatable), e.g. --on STOPPING=maint
      --check               check that every mapped server exists on every socket, print
                            each one's state, exit 0 if all is well and 1 if not
      --dry-run             speak the protocol and log the commands; send none
      --quiet               log errors only
      --verbose             also log ignored events, HAProxy's answers and retries
      --help                show this help
      --version             show the version

    Exit status: 0 at end of input; 1 on a protocol error from supervisord or a failed
    --check; 2 on invalid arguments.
    """

struct SocketSpec: Equatable {
    var text: String
    var endpoint: Endpoint
}

struct Options: Equatable {
    var sockets: [SocketSpec] = []
    var mappings: [Mapping] = []
    var timing = Timing()
    var supervisor: String?
    var stateTable = StateTable()
    var check = false
    var dryRun = false
    var logLevel = Logger.Level.info
}

enum ParsedCommandLine: Equatable {
    case run(Options)
    case help
    case version
    /// The offending argument and what is wrong with it.
    case invalid(String)
}

/// Parses the arguments after the program name; `supervisorURL` is $SUPERVISOR_SERVER_URL,
/// the default for --supervisor.
func parseCommandLine(_ args: [String], supervisorURL: String? = nil) -> ParsedCommandLine {
    var o = Options()
    o.supervisor = supervisorURL
    var positional: [String] = []
    var i = 0
    var optionsEnded = false

    /// Milliseconds, from seconds that may have a fraction: digits, then '.' and digits.
    func seconds(_ value: String, allowZero: Bool) -> Int? {
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

    while i < args.count {
        var arg = args[i]
        i += 1
        if optionsEnded || !arg.starts(with: "--") || arg == "--" {
            if arg == "--" && !optionsEnded {
                optionsEnded = true
            } else {
                positional.append(arg)
            }
            continue
        }
        var inlineValue: String?
        let argBytes = arg.bytes
        if let eq = argBytes.firstIndex(of: UInt8(ascii: "=")) {
            inlineValue = Array(argBytes[(eq + 1)...]).string
            arg = Array(argBytes[..<eq]).string
        }
        switch arg {
        case "--help": return .help
        case "--version": return .version
        case "--quiet", "--verbose", "--check", "--dry-run":
            if inlineValue != nil { return .invalid("\(arg) takes no value") }
            switch arg {
            case "--quiet": o.logLevel = .error
            case "--verbose": o.logLevel = .debug
            case "--check": o.check = true
            default: o.dryRun = true
            }
            continue
        case "--socket", "--timeout", "--retry-max", "--resync", "--supervisor", "--on":
            break
        default:
            return .invalid("unknown option '\(arg)'")
        }
        let value: String
        if let inlineValue {
            value = inlineValue
        } else if i < args.count {
            value = args[i]
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
        case "--timeout", "--retry-max", "--resync":
            guard let ms = seconds(value, allowZero: arg != "--timeout"), arg != "--timeout" || ms > 0 else {
                return .invalid("\(arg) '\(value)': expected a number of seconds from \(arg == "--timeout" ? "0.001" : "0") to 86400")
            }
            switch arg {
            case "--timeout": o.timing.timeoutMs = ms
            case "--retry-max": o.timing.retryMaxMs = ms == 0 ? 0 : max(ms, Timing.retryFirstMs)
            default: o.timing.resyncMs = ms
            }
        case "--supervisor":
            if value == "none" {
                o.supervisor = nil
            } else if case .failure(let e) = SupervisorURL.parse(value) {
                return .invalid("--supervisor: " + e.urlMessage)
            } else {
                o.supervisor = value
            }
        default: // --on
            if let problem = o.stateTable.override(value) { return .invalid(problem) }
        }
    }

    if o.sockets.isEmpty {
        guard let first = positional.first else { return .invalid("missing SOCKET and PROGRAM:BACKEND/SERVER mappings") }
        switch parseAddress(first) {
        case .success(let e): o.sockets.append(SocketSpec(text: first, endpoint: e))
        case .failure(let e): return .invalid(e.message)
        }
        positional.removeFirst()
    }
    guard !positional.isEmpty else { return .invalid("missing PROGRAM:BACKEND/SERVER mappings") }
    for p in positional {
        switch Mapping.parse(p) {
        case .success(let m): o.mappings.append(m)
        case .failure(let e): return .invalid(e.message)
        }
    }
    return .run(o)
}
