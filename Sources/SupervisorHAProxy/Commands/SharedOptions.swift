// What `listen` (and `check`) and `wrap` share on their command lines: where HAProxy is,
// supervisord, the readiness gate, the log. One piece, read one way by both.

struct SharedOptions: Equatable {
    var sockets: [SocketSpec] = []
    /// The listeners' agent ports (`--agent`): where `listen` answers, what `wrap` asks.
    var agents: [Endpoint] = []
    var timing = Timing()
    /// nil: supervisord is not asked.
    var supervisor: SupervisorURL?
    /// Said at start (an invalid $SUPERVISOR_SERVER_URL, credentials not found...).
    var startupWarnings: [String] = []
    var startupNotes: [String] = []
    var logLevel = Logger.Level.info
    var readyWhen = ReadyWhen.check
    var readyTimeoutMs = 60_000

    static let flags: Set<String> = ["--quiet", "--verbose"]
    static let valued: Set<String> = ["--socket", "--agent", "--timeout", "--supervisor", "--ready-when", "--ready-timeout"]

    /// supervisord from `$SUPERVISOR_SERVER_URL`, or the warning `consequence` names.
    init(environment env: Environment, ifInvalid consequence: (String) -> String) {
        switch SupervisorURL.fromEnvironment(env) {
        case .success(let url): supervisor = url
        case .failure(let e): startupWarnings.append(consequence("$SUPERVISOR_SERVER_URL: \(e.text)"))
        case nil: break
        }
    }

    init() {}

    /// Takes `item` when it is a shared option: true, else false (the command's own).
    mutating func take(_ item: ArgumentWalker.Item, _ env: Environment) throws(Problem) -> Bool {
        switch item {
        case .flag("--quiet"): logLevel = .error
        case .flag("--verbose"): logLevel = .debug
        case .option("--socket", let v): sockets.append(try socketSpec(v).get())
        case .option("--agent", let v): agents.append(try agentAddress(v).get())
        case .option("--timeout", let v): timing.timeoutMs = try secondsOption("--timeout", v, allowZero: false).get()
        case .option("--supervisor", let v): supervisor = try supervisorOption(v, env).get()
        case .option("--ready-when", let v): readyWhen = try readyWhenOption(v).get()
        case .option("--ready-timeout", let v): readyTimeoutMs = try secondsOption("--ready-timeout", v, allowZero: false).get()
        default: return false
        }
        return true
    }

    /// supervisord's credentials for its children, once the command line is read.
    mutating func takeParentCredentials(_ env: Environment) {
        supervisor = supervisor?.withParentCredentials(env, found: &startupNotes, missing: &startupWarnings)
    }
}
