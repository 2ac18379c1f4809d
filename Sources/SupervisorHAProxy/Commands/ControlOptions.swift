// `restart`, `stop` and `start`: their command line, parsed by hand.

let controlUsage = """
    usage: supervisor-haproxy restart [--rolling] [--force] [OPTIONS] NAME...
           supervisor-haproxy stop [OPTIONS] NAME...
           supervisor-haproxy start [OPTIONS] NAME...
    """

let controlHelp = controlUsage + """


    Stops, starts or restarts supervisord's processes the way HAProxy needs it: a stop
    drains the process's servers first (drain, then wait until show stat reports no current
    and no queued session, or --drain-timeout) and then asks supervisord to stop it; a start
    asks supervisord to start it, sets its servers ready and waits until every socket
    reports them UP by their health check (a server without checks: ready is enough).
    NAME is as supervisorctl takes it: program, group:process or group:*.

    With --rolling, restart takes one process at a time, each fully back (RUNNING and UP
    everywhere) before the next is touched; the roll halts at the first process that does not
    come back healthy and leaves every later one untouched. It refuses to take down the last
    server UP and ready in its backend on some socket, unless --force. Ctrl-C stops after
    the current step.

    Where it finds things: supervisord from --supervisor (repeat it for several hosts behind
    the same HAProxy), else $SUPERVISOR_SERVER_URL, else supervisorctl's configuration (-c
    FILE, else the files supervisorctl searches: serverurl, username, password of its
    [supervisorctl] section). The stats sockets and mappings from supervisord itself: the
    command lines of its supervisor-haproxy listener and wraps. --socket and --map override.

    Options:
      --supervisor URL         supervisord's XML-RPC (unix:///PATH or
                               http://[USER:PASSWORD@]HOST:PORT); repeatable
      -c FILE, --configuration FILE
                               supervisorctl's configuration file
      --socket SOCKET          a stats socket (repeatable): use these instead of those found
      --map PROGRAM:BACKEND/SERVER
                               a mapping (repeatable): use these instead of those found
      --rolling                restart one process at a time, halting at the first failure
      --force                  take down the last server UP in its backend all the same
      --drain-timeout SECONDS  longest wait for sessions to end (default 30)
      --up-timeout SECONDS     longest wait for a started server to be UP (default 60)
      --timeout SECONDS        bound on one exchange with HAProxy or supervisord (default 2)
      --quiet                  print errors only
      --help                   show this help

    Exit status: 0 when everything asked for is done; 1 when a process did not stop, start or
    come back healthy, the roll was refused or interrupted; 2 on invalid arguments, an unknown
    NAME, or a supervisord that cannot be reached (before anything is touched).
    """

enum ControlAction: String {
    case stop, start, restart
}

struct ControlOptions: Equatable {
    var action = ControlAction.restart
    var names: [String] = []
    var supervisors: [SupervisorURL] = []
    var configFile: String?
    var sockets: [SocketSpec] = []
    var mappings: [Mapping] = []
    var rolling = false
    var force = false
    var timing = Timing()
    var drainTimeoutMs = 30_000
    var upTimeoutMs = 60_000
    var quiet = false
}

enum ParsedControl: Equatable {
    case run(ControlOptions)
    case help
    case invalid(String)
}

func parseControl(_ action: ControlAction, _ args: [String], environment env: Environment = Environment()) -> ParsedControl {
    var o = ControlOptions()
    o.action = action
    var i = 0
    while i < args.count {
        var arg = args[i]
        i += 1
        if arg == "-c" { arg = "--configuration" }
        guard arg.starts(with: "--") else {
            if arg.starts(with: "-") && arg != "-" { return .invalid("unknown option '\(arg)'") }
            o.names.append(arg)
            continue
        }
        var inlineValue: String?
        let ab = arg.bytes
        if let eq = ab.firstIndex(of: UInt8(ascii: "=")) {
            inlineValue = Array(ab[(eq + 1)...]).string
            arg = Array(ab[..<eq]).string
        }
        switch arg {
        case "--help", "--quiet", "--rolling", "--force":
            if inlineValue != nil { return .invalid("\(arg) takes no value") }
            if (arg == "--rolling" || arg == "--force") && action != .restart { return .invalid("\(arg) goes with restart") }
            switch arg {
            case "--help": return .help
            case "--quiet": o.quiet = true
            case "--rolling": o.rolling = true
            default: o.force = true
            }
            continue
        case "--supervisor", "--configuration", "--socket", "--map", "--timeout", "--drain-timeout", "--up-timeout":
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
        case "--supervisor":
            switch SupervisorURL.parse(value, username: env.username, password: env.password) {
            case .success(let url): o.supervisors.append(url)
            case .failure(let e): return .invalid("--supervisor: " + e.urlMessage)
            }
        case "--configuration":
            o.configFile = value
        case "--socket":
            switch parseAddress(value) {
            case .success(let e): o.sockets.append(SocketSpec(text: value, endpoint: e))
            case .failure(let e): return .invalid(e.message)
            }
        case "--map":
            switch Mapping.parse(value) {
            case .success(let m): o.mappings.append(m)
            case .failure(let e): return .invalid(e.message)
            }
        default:
            guard let ms = parseSeconds(value, allowZero: arg == "--drain-timeout") else {
                return .invalid("\(arg) '\(value)': expected a number of seconds up to 86400")
            }
            switch arg {
            case "--timeout": o.timing.timeoutMs = ms
            case "--drain-timeout": o.drainTimeoutMs = ms
            default: o.upTimeoutMs = ms
            }
        }
    }
    guard !o.names.isEmpty else { return .invalid("missing NAME: program, group:process or group:*") }
    for n in o.names {
        let b = n.bytes
        if b.isEmpty || b.contains(where: { $0 <= 0x20 || $0 == 0x7f }) || b.filter({ $0 == colon }).count > 1 {
            return .invalid("invalid NAME '\(n)': expected program, group:process or group:*")
        }
    }
    return .run(o)
}
