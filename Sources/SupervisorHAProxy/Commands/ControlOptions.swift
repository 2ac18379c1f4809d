// `restart`, `stop` and `start`: their command line, parsed by hand.

let controlUsage = """
    usage: supervisor-haproxy restart [--rolling [--healthy-for S] [--max-errors P%]] [--force] [OPTIONS] NAME...
           supervisor-haproxy stop [OPTIONS] NAME...
           supervisor-haproxy start [OPTIONS] NAME...
    """

let controlHelp = controlUsage + """


    Stops, starts or restarts supervisord's processes the way HAProxy needs it: a stop
    drains the process's servers first (drain, then wait until show stat reports no current
    and no queued session, or --drain-timeout) and then asks supervisord to stop it; a start
    asks supervisord to start it, sets its servers ready once it serves (the readiness
    gate: HAProxy's check passed, or its address accepts a connection when it has no check)
    and waits until every socket reports them UP.
    NAME is as supervisorctl takes it: program, group:process or group:*.

    With --rolling, restart takes one process at a time, each fully back (RUNNING and UP
    everywhere) before the next is touched; the roll halts at the first process that does not
    come back healthy and leaves every later one untouched. It refuses to take down the last
    server UP and ready in its backend on some socket, unless --force.
    With --healthy-for (or --max-errors), each batch, once UP, is watched before the next:
    HAProxy's own per-server counters (show stat: 5xx answers, response and connection
    errors, health checks gone DOWN), on every socket, against the rest of its backend. A
    batch that fails beyond doubt (at once) or above --max-errors (at the end of the window)
    is drained and put in maint, nothing else is touched, exit 1; a backend failing for
    every server is said to be that, not blamed on the batch (the roll stops, exit 1). Too
    little traffic to judge: it waits up to --progress-deadline, then halts (exit 1), or
    goes on with --accept-unjudged. A reload of HAProxy during the window starts it again.
    Ctrl-C, SIGHUP and SIGTERM: a drain under way is undone, any other step finished; then
    exit 1. A command that gives up puts the servers it changed back as supervisord's states
    of their programs explain (RUNNING: ready, else maint), or names what it left where.

    Where it finds things: supervisord from --supervisor (repeat it for several hosts behind
    the same HAProxy), else $SUPERVISOR_SERVER_URL, else supervisorctl's configuration (-c
    FILE, else the files supervisorctl searches: serverurl, username, password of its
    [supervisorctl] section). The stats sockets and mappings from supervisord itself: the
    command lines of its supervisor-haproxy listener and wraps (however installed: any
    program named supervisor-haproxy*, directly or through env, exec, sh -c), each process's
    servers on its own sockets only. --socket and --map override. A NAME with no server
    mapped is refused unless --no-haproxy.

    Through the agent (a listener or wrap given an agent port, no stats socket): the port
    takes no orders, so a process HAProxy reaches only that way is stopped only if it is a
    wrap with an agent port (it drains itself on supervisord's TERM), else refused unless
    --force; a start waits until every HAProxy polling the port was told ready.

    Options:
      --supervisor URL         supervisord's XML-RPC (unix:///PATH or
                               http://[USER:PASSWORD@]HOST:PORT); repeatable
      -c FILE, --configuration FILE
                               supervisorctl's configuration file
      --socket SOCKET          a stats socket (repeatable): use these instead of those found
      --map PROGRAM:BACKEND/SERVER
                               a mapping (repeatable): use these instead of those found
      --rolling                restart one process at a time, halting at the first failure
      --batch N|N%             with --rolling: N processes (or N% of those named) at a
                               time, never taking a backend's last server UP (unless --force)
      --healthy-for SECONDS    with --rolling: watch each batch that long once it is UP
                               (default 0: not watched; 10 with --max-errors)
      --max-errors PERCENT     the error ratio a watched batch may show (default 1%)
      --progress-deadline SECONDS
                               longest wait for enough traffic to judge a batch (default
                               60, or twice --healthy-for)
      --accept-unjudged        at that deadline, go on with the roll (default: halt)
      --force                  take down the last server UP in its backend all the same (or
                               stop one that nothing can drain)
      --no-haproxy             stop and start a NAME that no HAProxy server is mapped to (else
                               refused, exit 2: a drain that cannot be done is not skipped)
      --drain-timeout SECONDS  longest wait for sessions to end (default 30)
      --up-timeout SECONDS     longest wait for a started server to serve and be UP (default 60)
      --ready-when WHEN        check (the default), connect or running: when a started
                               server is set ready, as the listener's readiness gate
      --timeout SECONDS        bound on one exchange with HAProxy or supervisord (default 2)
      --quiet                  print errors only
      --help                   show this help

    Exit status: 0 when everything asked for is done; 1 when a process did not stop, start or
    come back healthy, the roll was refused or interrupted; 2 on invalid arguments, an unknown
    NAME, a NAME with no server mapped, or a supervisord that cannot be reached (before
    anything is touched).
    """

/// `--batch N` (processes) or `--batch N%` (of those named), at least 1.
enum BatchSize: Equatable {
    case count(Int)
    case percent(Int)

    static func parse(_ value: String) -> Result<BatchSize, Problem> {
        let b = value.bytes
        let percent = b.last == UInt8(ascii: "%")
        let digits = percent ? Array(b.dropLast()) : b
        guard digits.isDigits, digits.count <= 6, let n = Int(digits.string), n >= 1, n <= 100_000, !percent || n <= 100 else {
            return .failure(Problem("--batch '\(value)': expected a number of processes (1 to 100000) or a percentage (1% to 100%)"))
        }
        return .success(percent ? .percent(n) : .count(n))
    }

    /// How many processes of `total` one batch takes.
    func size(of total: Int) -> Int {
        switch self {
        case .count(let n): n
        case .percent(let p): max(1, (total * p + 99) / 100)
        }
    }
}

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
    /// --no-haproxy: a NAME no HAProxy server is mapped to is stopped and started all the same.
    var noHAProxy = false
    var timing = Timing()
    var drainTimeoutMs = 30_000
    var upTimeoutMs = 60_000
    var quiet = false
    var readyWhen = ReadyWhen.check
    /// --batch: how many processes a roll takes at a time.
    var batch: BatchSize?
    /// --healthy-for, --max-errors, --progress-deadline, --accept-unjudged.
    var watch = BatchJudge.Settings()
}

/// `--max-errors 2%` (or `2`, `0.5%`): a ratio from 0 to 1.
func maxErrorsOption(_ value: String) -> Result<Double, Problem> {
    let b = value.bytes.last == UInt8(ascii: "%") ? Array(value.bytes.dropLast()) : value.bytes
    // Thousandths of a percent, through the seconds parser's fixed point.
    guard let thousandths = parseSeconds(b.string, allowZero: true), thousandths <= 100_000 else {
        return .failure(Problem("--max-errors '\(value)': expected a percentage from 0% to 100% (e.g. 2% or 0.5%)"))
    }
    return .success(Double(thousandths) / 100_000)
}

enum ParsedControl: Equatable {
    case run(ControlOptions)
    case help
    case invalid(String)
}

func parseControl(_ action: ControlAction, _ args: [String], environment env: Environment = Environment()) -> ParsedControl {
    var o = ControlOptions()
    o.action = action
    var healthyForGiven = false, deadlineGiven = false
    var watchAsked: [String] = []
    var walker = ArgumentWalker(args, flags: ["--help", "--quiet", "--rolling", "--force", "--no-haproxy", "--accept-unjudged"],
                                valued: ["--supervisor", "--configuration", "--socket", "--map", "--timeout", "--drain-timeout", "--up-timeout",
                                         "--ready-when", "--batch", "--healthy-for", "--max-errors", "--progress-deadline"],
                                aliases: ["-c": "--configuration"])
    while let item = walker.next() {
        do throws(Problem) {
            switch try item.get() {
            case .positional(let p):
                if p.starts(with: "-") && p != "-" { return .invalid("unknown option '\(p)'") }
                o.names.append(p)
            case .flag("--help"): return .help
            case .flag("--quiet"): o.quiet = true
            case .flag("--no-haproxy"): o.noHAProxy = true
            case .flag(let f) where action != .restart: return .invalid("\(f) goes with restart")
            case .flag("--rolling"): o.rolling = true
            case .flag("--force"): o.force = true
            case .flag("--accept-unjudged"): o.watch.acceptUnjudged = true; watchAsked.append("--accept-unjudged")
            case .option("--supervisor", let v):
                guard let url = try supervisorOption(v, env).get() else { return .invalid("--supervisor: 'none' has no use here") }
                o.supervisors.append(url)
            case .option("--configuration", let v): o.configFile = v
            case .option("--socket", let v): o.sockets.append(try socketSpec(v).get())
            case .option("--map", let v): o.mappings.append(try Mapping.parse(v).get())
            case .option("--timeout", let v): o.timing.timeoutMs = try secondsOption("--timeout", v, allowZero: false).get()
            case .option("--drain-timeout", let v): o.drainTimeoutMs = try secondsOption("--drain-timeout", v, allowZero: true).get()
            case .option("--up-timeout", let v): o.upTimeoutMs = try secondsOption("--up-timeout", v, allowZero: false).get()
            case .option("--ready-when", let v): o.readyWhen = try readyWhenOption(v).get()
            case .option("--healthy-for", let v):
                guard action == .restart else { return .invalid("--healthy-for goes with restart --rolling") }
                o.watch.healthyForMs = Int64(try secondsOption("--healthy-for", v, allowZero: true).get())
                healthyForGiven = true
            case .option("--max-errors", let v):
                guard action == .restart else { return .invalid("--max-errors goes with restart --rolling") }
                o.watch.maxErrors = try maxErrorsOption(v).get()
                watchAsked.append("--max-errors")
            case .option("--progress-deadline", let v):
                guard action == .restart else { return .invalid("--progress-deadline goes with restart --rolling") }
                o.watch.progressDeadlineMs = Int64(try secondsOption("--progress-deadline", v, allowZero: false).get())
                deadlineGiven = true
                watchAsked.append("--progress-deadline")
            case .option("--batch", let v):
                guard action == .restart else { return .invalid("--batch goes with restart --rolling") }
                o.batch = try BatchSize.parse(v).get()
            case .flag(let name), .option(let name, _): return .invalid(unhandled(name))
            }
        } catch {
            return .invalid(error.text)
        }
    }
    guard !o.names.isEmpty else { return .invalid("missing NAME: program, group:process or group:*") }
    if o.batch != nil && !o.rolling { return .invalid("--batch goes with --rolling") }
    if (healthyForGiven || !watchAsked.isEmpty) && !o.rolling {
        return .invalid("\(healthyForGiven ? "--healthy-for" : watchAsked[0]) goes with --rolling (a batch is watched before the next)")
    }
    if !healthyForGiven && !watchAsked.isEmpty { o.watch.healthyForMs = 10_000 }
    if healthyForGiven && o.watch.healthyForMs == 0 && !watchAsked.isEmpty {
        return .invalid("\(watchAsked[0]) with --healthy-for 0: nothing is watched")
    }
    if deadlineGiven && o.watch.progressDeadlineMs < o.watch.healthyForMs {
        return .invalid("--progress-deadline (\(secondsText(o.watch.progressDeadlineMs))) is shorter than --healthy-for (\(secondsText(o.watch.healthyForMs)))")
    }
    if !deadlineGiven { o.watch.progressDeadlineMs = max(60_000, 2 * o.watch.healthyForMs) }
    for n in o.names {
        let b = n.bytes
        if b.isEmpty || b.contains(where: { $0 <= 0x20 || $0 == 0x7f }) || b.filter({ $0 == colon }).count > 1 {
            return .invalid("invalid NAME '\(n)': expected program, group:process or group:*")
        }
    }
    return .run(o)
}
