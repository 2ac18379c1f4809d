// `wrap`'s command line: SOCKET BACKEND/SERVER... -- COMMAND [ARG...], parsed by hand.

let wrapUsage = """
    usage: supervisor-haproxy wrap [OPTIONS] SOCKET BACKEND/SERVER... -- COMMAND [ARG...]
           supervisor-haproxy wrap [OPTIONS] --socket SOCKET [--socket SOCKET...] BACKEND/SERVER... -- COMMAND [ARG...]
           supervisor-haproxy wrap [OPTIONS] --agent ADDR:PORT BACKEND/SERVER[@ADDR:PORT]... -- COMMAND [ARG...]
    """

let wrapHelp = wrapUsage + """


    Runs COMMAND as its child (same stdin, stdout, stderr, environment and directory; its own
    process group; it cannot outlive the wrapper), as a supervisord program's command:
      [program:web1]
      command = supervisor-haproxy wrap unix:///run/haproxy/admin.sock web/web1 -- bin/web1

    At start: the servers go to maint, and to ready once supervisord reports the program
    RUNNING (at once when no supervisord is known) and it serves: through the readiness
    gate, as the listener's (see 'supervisor-haproxy --help').
    On SIGTERM, SIGINT or SIGQUIT: drain on every socket; wait until HAProxy reports no
    current and no queued session on the servers (show stat), or --drain-timeout; then the
    same signal to the program's process group; once it has exited, maint. A second stop
    signal passes it on at once. Every other signal is passed on to the program at once (as
    tini). Shortly before stopwaitsecs ends the program's process group is killed, and
    whatever of it outlives the program.
    Through the agent (--agent: the listener's agent port; no socket needed): the listener
    drains on supervisord's STOPPING; the wrapper asks the port until every HAProxy polling it
    has been told drain, then (with @ADDR:PORT) until the program has no established
    connection on its port, or --drain-timeout; then the signal.
    With --notify, the program says itself when it serves (systemd's notify protocol: the
    wrapper passes NOTIFY_SOCKET, a private abstract socket; only datagrams from the
    program's uid or root count): READY=1 opens the readiness gate (before it, the servers
    stay in maint, whatever its port does); STOPPING=1 or RELOADING=1 drains them until the
    next READY=1; STATUS= is logged; MAINPID= is ignored (the wrapper watches its own
    child). With --agent too, the wrapper relays the program's word to the listener through
    supervisord (PROCESS_COMMUNICATION on its stdout: give the program
    stdout_capture_maxbytes=1KB and the listener events=PROCESS_STATE,PROCESS_COMMUNICATION);
    the agent answers maint until READY=1, and carries STATUS= as HAProxy's description.
    With --watchdog, it also passes WATCHDOG_USEC and WATCHDOG_PID: a program that
    sends no WATCHDOG=1 for that long is taken out of rotation (maint; its port may well
    still accept) until its pings resume and the gate passes again. The wrapper never kills
    it for that: supervisord owns restarts.
    When the program exits by itself: maint at once. The wrapper then ends as the program did:
    the same exit status, or death by the same signal.
    HAProxy trouble never holds up a stop: each exchange is bounded by --timeout.

    Options:
      --socket SOCKET          a stats socket; repeat for several HAProxy instances. When
                               given, every argument before -- is a server
      --agent ADDR:PORT        the listener's agent port, asked during a drain (repeatable)
      --timeout SECONDS        bound on one exchange with HAProxy or supervisord (default 2)
      --drain-timeout SECONDS  longest wait for sessions to end (default: half of
                               stopwaitsecs, else 5)
      --stop-wait SECONDS      the program's stopwaitsecs, when supervisord cannot be asked
                               (default: supervisord's; unknown: the program's group is never
                               killed early, supervisord's SIGKILL ends the wrapper)
      --supervisor URL         supervisord, asked for stopwaitsecs and when the program is
                               RUNNING (default $SUPERVISOR_SERVER_URL; 'none': ready at once)
      --ready-when WHEN        check (the default), connect or running: as the listener's
      --ready-timeout SECONDS  say which server is still not serving after this long
                               (default 60; it stays out of rotation)
      --notify                 ready when the program says READY=1 (NOTIFY_SOCKET), drain on
                               its STOPPING=1 or RELOADING=1
      --watchdog SECONDS       with --notify: out of rotation when no WATCHDOG=1 came for
                               this long, back once the pings resume
      --quiet                  log errors only
      --verbose                also log each exchange
      --help                   show this help

    Exit status: the program's; 127 when COMMAND is not found, 126 when it cannot be run;
    2 on invalid arguments.
    """

@dynamicMemberLookup
struct WrapOptions: Equatable {
    /// What `wrap` shares with `listen` (`o.timing`, `o.sockets`... read through).
    var shared = SharedOptions()
    var targets: [Target] = []
    /// The program's ports (`@ADDR:PORT` after a server), whose connections a drain through
    /// the agent waits for.
    var ports: [Int] = []
    var command: [String] = []
    /// nil: from supervisord's stopwaitsecs.
    var drainTimeoutMs: Int?
    /// The program's stopwaitsecs (`--stop-wait`); nil: asked of supervisord.
    var stopWaitMs: Int?
    /// supervisord's `group:process` name of the wrapped program, from the environment.
    var programName: String?
    /// --notify: the program's READY=1 opens the gate; --watchdog: its pings keep it in.
    var notify = false
    var watchdogMs: Int?

    subscript<T>(dynamicMember path: WritableKeyPath<SharedOptions, T>) -> T {
        get { shared[keyPath: path] }
        set { shared[keyPath: path] = newValue }
    }
}

enum ParsedWrap: Equatable {
    case run(WrapOptions)
    case help
    case invalid(String)
}

func parseWrap(_ args: [String], environment env: Environment = Environment()) -> ParsedWrap {
    var o = WrapOptions()
    o.shared = SharedOptions(environment: env) { "\($0); servers go ready at once" }
    if let p = env.processName, !p.isEmpty {
        o.programName = (env.groupName.map { $0.isEmpty ? "" : $0 + ":" } ?? "") + p
    }
    guard let dashes = args.firstIndex(of: "--") else {
        if args.contains("--help") { return .help }
        return .invalid("missing '-- COMMAND': the program to run comes after --")
    }
    o.command = Array(args[(dashes + 1)...])
    var positional: [String] = []
    var walker = ArgumentWalker(Array(args[..<dashes]), flags: SharedOptions.flags.union(["--help", "--notify"]),
                                valued: SharedOptions.valued.union(["--drain-timeout", "--stop-wait", "--watchdog"]))
    while let item = walker.next() {
        do throws(Problem) {
            let item = try item.get()
            if try o.shared.take(item, env) { continue }
            switch item {
            case .positional(let p): positional.append(p)
            case .flag("--help"): return .help
            case .option("--drain-timeout", let v): o.drainTimeoutMs = try secondsOption("--drain-timeout", v, allowZero: true).get()
            case .option("--stop-wait", let v): o.stopWaitMs = try secondsOption("--stop-wait", v, allowZero: false).get()
            case .flag("--notify"): o.notify = true
            case .option("--watchdog", let v): o.watchdogMs = try secondsOption("--watchdog", v, allowZero: false).get()
            case .flag(let name), .option(let name, _): return .invalid(unhandled(name))
            }
        } catch {
            return .invalid(error.text)
        }
    }
    // With --agent, a stats socket is optional: a first word that is no socket address is a server.
    let firstIsSocket = positional.first.map { (try? socketSpec($0).get()) != nil } ?? false
    if o.sockets.isEmpty && (o.agents.isEmpty || firstIsSocket) {
        guard let first = positional.first else { return .invalid("missing SOCKET and BACKEND/SERVER") }
        switch socketSpec(first) {
        case .success(let spec): o.sockets.append(spec)
        case .failure(let problem): return .invalid(problem.text)
        }
        positional.removeFirst()
    }
    guard !positional.isEmpty else { return .invalid("missing BACKEND/SERVER") }
    for p in positional {
        let server: [UInt8], address: Endpoint?
        switch splitServerAddress(p.bytes) {
        case .success(let split): (server, address) = split
        case .failure(let e): return .invalid("invalid server '\(p)': \(e.text)")
        }
        switch Target.parse(server.string) {
        case .success(let t):
            if o.targets.contains(t) { return .invalid("server '\(p)' is given twice") }
            o.targets.append(t)
        case .failure(let e): return .invalid(e.text)
        }
        if case .tcp(_, let port)? = address { o.ports.append(Int(port) ?? 0) }
    }
    if !o.ports.isEmpty && o.agents.isEmpty {
        return .invalid("'@ADDR:PORT' after a server is for a drain through --agent; without --agent, HAProxy's show stat counts the sessions")
    }
    if o.watchdogMs != nil && !o.notify { return .invalid("--watchdog goes with --notify (the pings come over NOTIFY_SOCKET)") }
    guard let program = o.command.first, !program.isEmpty else { return .invalid("missing COMMAND after --") }
    if o.command.contains(where: { $0.utf8.contains(0) }) { return .invalid("COMMAND contains a NUL byte") }
    o.shared.takeParentCredentials(env)
    return .run(o)
}

