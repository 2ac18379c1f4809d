import Foundation
import Glibc

// Failed requests, measured the way users feel them: two slow HTTP backends (100 ms a
// request, dead at once on SIGTERM) behind a real HAProxy with health checks, run by a real
// supervisord with the listener beside them, and a closed-loop client counting every request
// that does not come back 2xx.

enum Programs {
    static let dir = Paths.root + "/Tests/Programs"
    static let backend = dir + "/slow_backend.py"
    static let client = dir + "/load_client.py"
    static let agentPollers = dir + "/agent_pollers.py"
}

/// "app/app1" -> (admin "ready" | "drain" | "maint", status "UP", "DOWN", "MAINT"...), from
/// `show servers state` and `show stat` on one line of one connection: one instant, not two
/// (a sample that took the admin state before a step and the status after it once counted
/// no server in rotation where there was always one).
func serverView(_ socket: String) -> [String: (admin: String, status: String)] {
    let answer = adminCommand(socket, "show servers state;show stat -1 4 -1")
    let admin = adminStates(answer)
    var result: [String: (String, String)] = [:]
    for line in answer.split(separator: "\n") where !line.hasPrefix("#") {
        let f = line.split(separator: ",", omittingEmptySubsequences: false)
        guard f.count > 17 else { continue }
        let key = "\(f[0])/\(f[1])"
        result[key] = (admin[key] ?? "?", String(f[17]))
    }
    return result
}

final class LoadStack {
    enum Mode { case wrapped, plain }

    /// How the backends behave and how HAProxy sees them.
    struct Backends {
        /// Seconds each backend loads before it binds its port.
        var bindDelay: Double = 0
        /// HAProxy health checks (`option httpchk`), and their pace.
        var checks = true
        var check = "inter 300 fall 2 rise 2"
        /// `option redispatch` with `retries 3`: a failed connect tries another server.
        var redispatch = true
        /// Pre-forked workers serving on each backend's port, and whether the backend and
        /// its workers ignore SIGTERM (uwsgi's default: TERM reloads).
        var workers = 0
        var ignoreTerm = false
        var stopWaitSecs = 10
        /// Seconds each request takes.
        var delay = 0.1
        /// Seconds each backend answers 503 after it binds (loading behind an open port),
        /// before it serves and says READY=1 (when NOTIFY_SOCKET is set).
        var readyDelay: Double = 0
        /// HAProxy's check: HTTP (`option httpchk GET /health`), or a TCP connect only,
        /// which a wedged program's open port passes.
        var httpCheck = true
    }

    /// The tool reaches HAProxy through its stats socket (push), the agent check (pull), or
    /// both; the test reads every HAProxy's admin socket either way.
    enum Path { case push, agent, both }

    let dir = TempDir()
    let mode: Mode
    let listener: Bool
    let backends: Backends
    /// More arguments for the listener and for every wrap (e.g. `--ready-when running`).
    let listenerOptions: [String]
    let wrapOptions: [String]
    /// The listener's executable as its command line names it (an installed copy's name).
    let listenerBinary: String
    /// The programs each supervisord runs, and how many supervisord hosts there are (each
    /// with its own config, socket and listener, behind the one HAProxy).
    let apps: [String]
    let hosts: Int
    /// [host][app] -> port.
    let appPorts: [[Int]]
    /// How many HAProxy instances (load balancers) stand in front, each with its frontend
    /// and admin socket; each checks from its own source address (127.0.0.2, .3...), so the
    /// agent tells them apart.
    let balancers: Int
    let path: Path
    /// The agent's `agent-inter`, in ms.
    let agentInterMs: Int
    /// [host] -> the listener's agent port.
    let agentPorts: [Int]
    /// HAProxy's `server-state-file` (with `load-server-state-from-file global`), kept by the
    /// listener (`--state-file`, with a stats socket), or nil.
    let stateFile: String?
    let masterWorker: Bool
    /// Whether the listener's mappings name each program's address (`@ADDR:PORT`), which
    /// the agent probes before it says ready.
    let agentAddresses: Bool
    let frontendPorts: [Int]
    var frontendPort: Int { frontendPorts[0] }
    var adminSocket: String { adminSocket(0) }
    func adminSocket(_ b: Int) -> String { dir.file(b == 0 ? "admin.sock" : "admin\(b).sock") }
    func haproxyConfig(_ b: Int) -> String { dir.file(b == 0 ? "haproxy.cfg" : "haproxy\(b).cfg") }
    private(set) var haproxies: [Child?] = []
    var haproxy: Child? { haproxies.first ?? nil }
    private(set) var supervisords: [Child?] = []
    var supervisord: Child? { supervisords.first ?? nil }
    private var loads: [Child] = []

    init(_ mode: Mode, listener: Bool = true, apps: [String] = ["app1", "app2"], hosts: Int = 1,
         backends: Backends = Backends(), listenerOptions: [String] = [], wrapOptions: [String] = [],
         listenerBinary: String = Paths.binary, balancers: Int = 1, path: Path = .push, agentInterMs: Int = 500,
         stateFile: Bool = false, masterWorker: Bool = false, agentAddresses: Bool = true) throws {
        self.mode = mode
        self.agentAddresses = agentAddresses
        self.balancers = balancers
        self.path = path
        self.agentInterMs = agentInterMs
        self.masterWorker = masterWorker
        frontendPorts = (0..<balancers).map { _ in freePort() }
        agentPorts = (0..<hosts).map { _ in freePort() }
        self.listenerBinary = listenerBinary
        self.listener = listener
        self.backends = backends
        self.listenerOptions = listenerOptions
        self.wrapOptions = wrapOptions
        self.apps = apps
        self.hosts = hosts
        appPorts = (0..<hosts).map { _ in apps.map { _ in freePort() } }
        supervisords = Array(repeating: nil, count: hosts)
        haproxies = Array(repeating: nil, count: balancers)
        self.stateFile = stateFile ? dir.file("server-state") : nil
        try writeConfigs()
    }

    /// HAProxy's server for an app on a host: the app's name with one host, `APPhN` with several.
    func server(_ app: String, host: Int = 0) -> String { hosts == 1 ? app : "\(app)h\(host)" }
    var allServers: [String] { (0..<hosts).flatMap { h in apps.map { "app/" + server($0, host: h) } } }
    func hostDir(_ h: Int) -> String { hosts == 1 ? dir.path : dir.file("h\(h)") }
    func supervisorSocket(_ h: Int = 0) -> String { hostDir(h) + "/supervisor.sock" }
    func config(_ h: Int = 0) -> String { hostDir(h) + "/supervisord.conf" }
    /// The release every app reads when it starts ("broken", "slow"; absent: good).
    var releaseFile: String { dir.file("release") }
    /// While this file exists, 40 % of real requests fail on every server (an outage).
    var outageFlag: String { dir.file("outage") }

    /// New code on disk: what the next start of each app runs.
    func deploy(_ release: String) throws {
        try release.write(toFile: releaseFile, atomically: true, encoding: .utf8)
    }

    /// Once this file exists, the app's accept loop wedges (SH_WEDGE_SECONDS, 5 s).
    func wedgeFlag(_ app: String, host: Int = 0) -> String { hostDir(host) + "/wedge-" + app }

    /// While this file exists, the app starts without listening (never healthy).
    func brokenFlag(_ app: String, host: Int = 0) -> String { hostDir(host) + "/broken-" + app }

    private func writeConfigs() throws {
        for b in 0..<balancers { try writeHAProxyConfig(b) }
        for host in 0..<hosts { try writeSupervisordConfig(host) }
    }

    /// Balancer b's config: its own frontend, source address and admin socket.
    private func writeHAProxyConfig(_ b: Int) throws {
        let agent = path != .push
        var h = """
            global
                stats socket \(adminSocket(b)) mode 600 level admin
            \(stateFile.map { "    server-state-file \($0)" } ?? "")
            defaults
            \(stateFile == nil ? "" : "    load-server-state-from-file global")
                mode http
                timeout connect 1s
                timeout client 15s
                timeout server 15s
            \(backends.redispatch ? "    retries 3\n    option redispatch" : "")
            frontend www
                bind 127.0.0.1:\(frontendPorts[b])
                default_backend app
            backend app
                balance roundrobin
            \(backends.checks ? (backends.httpCheck ? "    option httpchk GET /health\n" : "") + "    default-server \(backends.check)" : "")

            """
        for host in 0..<hosts {
            for (app, port) in zip(apps, appPorts[host]) {
                let name = server(app, host: host)
                let pull = agent ? " agent-check agent-addr 127.0.0.1 agent-port \(agentPorts[host]) agent-inter \(agentInterMs) agent-send \"app/\(name)\\n\"" : ""
                let source = balancers > 1 ? " source 127.0.0.\(b + 2)" : ""
                h += "    server \(name) 127.0.0.1:\(port)\(backends.checks ? " check" : "")\(source)\(pull)\n"
            }
        }
        try h.write(toFile: haproxyConfig(b), atomically: true, encoding: .utf8)
    }

    /// How the listener and each wrap reach HAProxy: the first admin socket, the agent port
    /// (mappings with the program's address), or both.
    private func listenerTarget(_ host: Int) -> String {
        let socket = "unix://\(adminSocket)"
        let mappings = zip(apps, appPorts[host]).map { app, port in
            "\(app):app/\(server(app, host: host))" + (path == .push || !agentAddresses ? "" : "@127.0.0.1:\(port)")
        }.joined(separator: " ")
        let keep = stateFile.map { "--state-file \($0) " } ?? ""
        switch path {
        case .push: return "\(keep)\(socket) \(mappings)"
        case .agent: return "--agent 127.0.0.1:\(agentPorts[host]) \(mappings)"
        case .both: return "--agent 127.0.0.1:\(agentPorts[host]) \(keep)\(socket) \(mappings)"
        }
    }

    private func wrapTarget(_ app: String, _ port: Int, host: Int) -> String {
        let server = "app/\(self.server(app, host: host))"
        switch path {
        case .push: return "unix://\(adminSocket) \(server)"
        case .agent: return "--agent 127.0.0.1:\(agentPorts[host]) \(server)@127.0.0.1:\(port)"
        case .both: return "--agent 127.0.0.1:\(agentPorts[host]) unix://\(adminSocket) \(server)@127.0.0.1:\(port)"
        }
    }

    /// `wrap --notify` beside an agent relays the program's word through supervisord: the
    /// programs capture their stdout, and the listener hears PROCESS_COMMUNICATION.
    var relays: Bool { mode == .wrapped && wrapOptions.contains("--notify") && path != .push }

    private func writeSupervisordConfig(_ host: Int) throws {
        let hd = hostDir(host)
        mkdir(hd, 0o755)

        var s = supervisordBase(dir: hd)
        for (app, port) in zip(apps, appPorts[host]) {
            let wrap = mode == .wrapped ? "\(Paths.binary) wrap \(wrapOptions.joined(separator: " ")) \(wrapTarget(app, port, host: host)) -- " : ""
            s += """
                [program:\(app)]
                command=\(wrap)/usr/bin/python3 \(Programs.backend) \(port) \(app) \(backends.delay)
                environment=SH_RELEASE_FILE="\(releaseFile)",SH_OUTAGE_FLAG="\(outageFlag)",SH_BROKEN_FLAG="\(brokenFlag(app, host: host))",SH_WEDGE_FLAG="\(wedgeFlag(app, host: host))",SH_READY_DELAY="\(backends.readyDelay)",SH_BIND_DELAY="\(backends.bindDelay)",SH_WORKERS="\(backends.workers)",SH_IGNORE_TERM="\(backends.ignoreTerm ? 1 : 0)"
                startsecs=1
                stopwaitsecs=\(backends.stopWaitSecs)
                stdout_logfile=\(hd)/\(app).out
                stderr_logfile=\(hd)/\(app).err
                \(relays ? "stdout_capture_maxbytes=1KB" : "")

                """
        }
        if listener { s += """
            [eventlistener:haproxy]
            command=\(listenerBinary) \(listenerOptions.joined(separator: " ")) \(listenerTarget(host))
            events=PROCESS_STATE\(relays ? ",PROCESS_COMMUNICATION" : "")
            stderr_logfile=\(hd)/listener.log

            """ }
        try s.write(toFile: hd + "/supervisord.conf", atomically: true, encoding: .utf8)
    }

    /// Starts HAProxy and supervisord; waits until every program is RUNNING and every server
    /// is ready and UP in HAProxy.
    func start() throws {
        for b in 0..<balancers {
            haproxies[b] = try launchHAProxy(config: haproxyConfig(b), socket: adminSocket(b), stdout: dir.file("haproxy\(b).log"),
                                             stderr: dir.file("haproxy\(b).err"), masterWorker: masterWorker)
        }
        for host in 0..<hosts {
            supervisords[host] = try Child(Real.supervisord, ["-c", config(host)],
                                           stdout: hostDir(host) + "/supervisord.out", stderr: hostDir(host) + "/supervisord.err")
        }
        guard waitUntil(20, { allUp() }) else {
            throw TestFailure("not all up: \(ctl("status")) \((0..<balancers).map { serverView(adminSocket($0)) })\n\(dir.read("supervisord.log"))\n\(listenerLog)")
        }
        // A server without a check is "up" before its program binds: the load starts once
        // every program serves.
        guard waitUntil(20, { appPorts.joined().allSatisfy(acceptsConnections) }) else {
            throw TestFailure("not every backend listens: \(ctl("status"))")
        }
    }

    /// The listener's log on the first host.
    var listenerLog: String { (try? String(contentsOfFile: hostDir(0) + "/listener.log", encoding: .utf8)) ?? "" }

    func allUp() -> Bool {
        (0..<balancers).allSatisfy { b in
            let view = serverView(adminSocket(b))
            return allServers.allSatisfy { view[$0]?.admin == "ready" && (view[$0]?.status.hasPrefix("UP") == true || view[$0]?.status == "no check") }
        }
            && (0..<hosts).allSatisfy { h in status(host: h).filter { $0.value == "RUNNING" }.count == apps.count + (listener ? 1 : 0) }
    }

    @discardableResult
    func ctl(_ args: String...) -> String { ctl(host: 0, args) }

    @discardableResult
    func ctl(host: Int, _ args: [String]) -> String {
        supervisorctl(config(host), args)
    }

    /// The pid supervisord reports for a program.
    func pid(_ app: String, host: Int = 0) -> String? {
        let line = ctl(host: host, ["status", app])
        guard let r = line.range(of: "pid ") else { return nil }
        return String(line[r.upperBound...].prefix { $0.isNumber })
    }

    func status(host: Int = 0) -> [String: String] { supervisorStatus(ctl(host: host, ["status"])) }

    /// A memmon-style restart: supervisor.stopProcess, then startProcess, over XML-RPC.
    func restartOverXMLRPC(_ name: String) throws {
        let script = """
            import sys, xmlrpc.client, http.client, socket
            class C(http.client.HTTPConnection):
                def connect(self):
                    self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])
            class T(xmlrpc.client.Transport):
                def make_connection(self, host): return C("localhost")
            s = xmlrpc.client.ServerProxy("http://localhost", transport=T())
            s.supervisor.stopProcess(sys.argv[2], True); s.supervisor.startProcess(sys.argv[2], True)
            """
        let r = try run("/usr/bin/python3", ["-c", script, supervisorSocket(), name], seconds: 40)
        if r.status != 0 { throw TestFailure("XML-RPC restart of \(name): \(r.err)") }
    }

    /// `supervisor-haproxy ARGS` (restart, stop, start), bounded; supervisord is found from
    /// the arguments (`-c`), not from the test's environment.
    func control(_ args: [String], seconds: Double = 120) throws -> (status: Int32, out: String, err: String) {
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        return try run(Paths.binary, args, environment: env, seconds: seconds)
    }

    /// A closed-loop client on every balancer's frontend (`clients` each).
    /// `timeout`: seconds one request may take before its client gives up on it (a failure).
    func startLoad(clients: Int = 8, maxSeconds: Int = 60, timeout: Double = 15) throws {
        try? FileManager.default.removeItem(atPath: dir.file("stop-load"))
        loads = try (0..<balancers).map { b in
            try Child("/usr/bin/python3", [Programs.client, "http://127.0.0.1:\(frontendPorts[b])/", "\(clients)",
                                           dir.file("stop-load"), "\(maxSeconds)", "\(timeout)"],
                      stdout: dir.file("load\(b).json"), stderr: dir.file("load\(b).err"))
        }
    }

    /// Stops the clients and returns their counts, summed.
    func stopLoad() throws -> (ok: Int, failed: Int, detail: String) {
        _ = FileManager.default.createFile(atPath: dir.file("stop-load"), contents: nil)
        return try collectLoad()
    }

    /// The load of a fixed span (`seconds`, the clients' own bound), counted: what users
    /// get from the stack as it is now.
    func load(seconds: Int, clients: Int = 8) throws -> (ok: Int, failed: Int, detail: String) {
        try startLoad(clients: clients, maxSeconds: seconds)
        return try collectLoad()
    }

    /// Waits for the clients to end (bounded) and sums their counts.
    private func collectLoad() throws -> (ok: Int, failed: Int, detail: String) {
        var ok = 0, failed = 0, details: [String] = []
        for (b, load) in loads.enumerated() {
            guard load.waitExit(90) == 0 else { throw TestFailure("load client: \(dir.read("load\(b).err"))") }
            let text = dir.read("load\(b).json")
            guard let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                  let o = json["ok"] as? Int, let f = json["failed"] as? Int else {
                throw TestFailure("load client said '\(text)'")
            }
            ok += o
            failed += f
            details.append(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        loads = []
        return (ok, failed, details.joined(separator: " "))
    }

    /// supervisord's own shutdown (SIGTERM), waited for.
    func shutDownSupervisord() -> Int32? {
        supervisord?.signal(SIGTERM)
        defer { supervisords[0] = nil }
        return supervisord?.waitExit(30)
    }

    func stopHAProxy() {
        for h in haproxies { h?.stop() }
        haproxies = haproxies.map { _ in nil }
    }

    func stop() {
        for l in loads { l.stop() }
        for s in supervisords { s?.stop() }
        supervisords = supervisords.map { _ in nil }
        stopHAProxy()
    }

    deinit { stop() }
}
