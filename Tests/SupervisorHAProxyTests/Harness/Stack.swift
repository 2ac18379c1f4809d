import Foundation
import Glibc

// The real programs, started from the very config files under examples/ that `make demo`
// and docker-compose.yml use, with addresses from the environment.

/// Where the supervised programs listen; HAProxy's servers point there.
struct AppPorts {
    var web1 = freePort()
    var web2 = freePort()
    var apiBase = freePortPair()

    var environment: [String: String] {
        ["SH_APP_HOST": "127.0.0.1", "SH_APP_BIND": "127.0.0.1",
         "SH_WEB1_PORT": "\(web1)", "SH_WEB2_PORT": "\(web2)",
         "SH_API_PORT_BASE": "\(apiBase)", "SH_API_PORT_1": "\(apiBase + 1)"]
    }
}

/// The servers examples/haproxy.cfg declares.
let allServers = ["web/web1", "web/web2", "static/web1", "api/api0", "api/api1"]

/// The mappings that match examples/supervisord.conf's programs to those servers.
let exampleMappings = ["web1:web/web1", "web1:static/web1", "web2:web/web2",
                       "api:api_00:api/api0", "api:api_01:api/api1"]

final class HAProxy {
    let dir: TempDir
    let name: String
    let tcpPort = freePort()
    let ipv6: Bool
    let apps: AppPorts
    private(set) var child: Child?

    init(dir: TempDir, name: String = "haproxy", ipv6: Bool = false, apps: AppPorts) {
        self.dir = dir
        self.name = name
        self.ipv6 = ipv6
        self.apps = apps
    }

    var unixPath: String { dir.file("\(name)-admin.sock") }
    var userPath: String { dir.file("\(name)-user.sock") }
    /// The listener's spellings of the two admin sockets.
    var tcpAddress: String { ipv6 ? "tcp://[::1]:\(tcpPort)" : "tcp://127.0.0.1:\(tcpPort)" }
    var unixAddress: String { "unix://" + unixPath }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment.merging(apps.environment) { $1 }
        env["SH_STATS_TCP"] = ipv6 ? "ipv6@[::1]:\(tcpPort)" : "ipv4@127.0.0.1:\(tcpPort)"
        env["SH_STATS_UNIX"] = unixPath
        env["SH_STATS_USER"] = userPath
        env["SH_FRONTEND"] = "127.0.0.1:\(freePort())"
        return env
    }

    @discardableResult
    func start() throws -> HAProxy {
        child = try launchHAProxy(config: Paths.haproxyConfig, socket: unixPath, stdout: dir.file("\(name).log"),
                                 stderr: dir.file("\(name).err"), environment: environment)
        return self
    }

    func stop() {
        child?.stop()
        child = nil
    }

    func kill9() {
        child?.signal(SIGKILL)
        _ = child?.waitExit(5)
        child = nil
    }

    /// One command over the unix admin socket, through socat (not through our code).
    func command(_ line: String, socket: String? = nil) throws -> String {
        try run(which("socat"), ["-t", "2", "-", "UNIX-CONNECT:\(socket ?? unixPath)"], input: line + "\n", seconds: 10).out
    }

    /// "web/web1" -> "ready" | "drain" | "maint", from the forced bits of srv_admin_state.
    func states() -> [String: String] { adminStates(adminCommand(unixPath, "show servers state")) }

    /// Waits (at most `seconds`) until every named server is in `state`.
    @discardableResult
    func waitFor(_ servers: [String], _ state: String, seconds: Double = 15) -> Bool {
        waitUntil(seconds) {
            let s = states()
            return servers.allSatisfy { s[$0] == state }
        }
    }

    func set(_ server: String, _ state: String) throws {
        _ = try command("set server \(server) state \(state)")
    }

    deinit { stop() }
}

final class Supervisord {
    let dir: TempDir
    let apps: AppPorts
    let httpPort = freePort()
    var listenerArgs: [String]
    var listener: String
    private(set) var child: Child?

    init(dir: TempDir, apps: AppPorts, listenerArgs: [String], listener: String = Paths.binary) {
        self.dir = dir
        self.apps = apps
        self.listenerArgs = listenerArgs
        self.listener = listener
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment.merging(apps.environment) { $1 }
        env["SH_RUN_DIR"] = dir.path
        env["SH_SUPERVISORD_LOG"] = dir.file("supervisord.log")
        env["SH_LISTENER_LOG"] = dir.file("listener.log")
        env["SH_WWW"] = Paths.root + "/examples/www"
        env["SH_LISTENER"] = listener
        env["SH_LISTENER_ARGS"] = listenerArgs.joined(separator: " ")
        env["SH_SUPERVISOR_HTTP"] = "127.0.0.1:\(httpPort)"
        env["SH_SUPERVISOR_USER"] = "operator"
        env["SH_SUPERVISOR_PASSWORD"] = "s3cret"
        return env
    }

    var httpURL: String { "http://operator:s3cret@127.0.0.1:\(httpPort)" }
    var unixURL: String { "unix://" + dir.file("supervisor.sock") }

    /// Starts supervisord and waits until every program and the listener are RUNNING.
    @discardableResult
    func start(waitRunning: Bool = true) throws -> Supervisord {
        child = try Child(Real.supervisord, ["-c", Paths.supervisordConfig], environment: environment,
                          stdout: dir.file("supervisord.out"), stderr: dir.file("supervisord.err"))
        guard waitUntil(10, { FileManager.default.fileExists(atPath: dir.file("supervisor.sock")) }) else {
            throw TestFailure("supervisord did not start: \(dir.read("supervisord.out")) \(dir.read("supervisord.err"))")
        }
        if waitRunning {
            guard waitUntil(20, { let s = status(); return s.count == 5 && s.values.allSatisfy { $0 == "RUNNING" } }) else {
                throw TestFailure("supervisord's programs did not all reach RUNNING: \(status())\n\(log)")
            }
        }
        return self
    }

    func stop() {
        child?.stop()
        child = nil
    }

    @discardableResult
    func ctl(_ args: String...) -> String {
        supervisorctl(Paths.supervisordConfig, args, environment: environment, seconds: 30)
    }

    /// "web1" / "api:api_00" / "haproxy" -> state name.
    func status() -> [String: String] { supervisorStatus(ctl("status")) }

    func waitStatus(_ name: String, _ state: String, seconds: Double = 15) -> Bool {
        waitUntil(seconds) { status()[name] == state }
    }

    var log: String { dir.read("supervisord.log") }
    var listenerLog: String { dir.read("listener.log") }

    /// Lines of supervisord's log that tell of a listener protocol problem.
    var protocolProblems: [String] {
        log.split(separator: "\n").map(String.init).filter {
            $0.contains("UNKNOWN") || $0.contains("protocol") || $0.contains("overflowed") || $0.contains("unexpected")
                || $0.contains("exited: haproxy")
        }
    }

    deinit { stop() }
}

/// Plays supervisord over the eventlistener protocol against the listener binary.
final class Driver {
    let child: Child
    let dir: TempDir
    private var serial = 0
    private var buffered: [UInt8] = []

    /// Nothing listens behind the servers the Driver's events name, so the readiness gate is
    /// off (`--ready-when running`) unless a test names `--ready-when` itself.
    init(_ args: [String], dir: TempDir, binary: String = Paths.binary, environment: [String: String]? = nil) throws {
        self.dir = dir
        var args = args
        if !args.contains("--ready-when") {
            // After the listener's own path when another program runs it (setpriv, valgrind).
            let at = binary == Paths.binary ? 0 : (args.firstIndex { $0.hasSuffix("supervisor-haproxy") }.map { $0 + 1 } ?? args.count)
            args.insert(contentsOf: ["--ready-when", "running"], at: at)
        }
        var env = environment ?? ProcessInfo.processInfo.environment
        if environment == nil { env["SUPERVISOR_SERVER_URL"] = nil }
        child = try Child(binary, args, environment: env, pipeStdin: true, pipeStdout: true,
                          stderr: dir.file("driver-listener.log"))
    }

    var log: String { dir.read("driver-listener.log") }

    static func event(_ name: String, _ payload: String, serial: Int = 1) -> String {
        "ver:3.0 server:supervisor serial:\(serial) pool:haproxy poolserial:\(serial) eventname:\(name) len:\(payload.utf8.count)\n" + payload
    }

    static func processState(_ state: String, _ process: String, group: String? = nil, from: String = "RUNNING") -> (String, String) {
        ("PROCESS_STATE_\(state)", "processname:\(process) groupname:\(group ?? process) from_state:\(from) pid:4242")
    }

    func write(_ text: String) {
        child.write(text)
    }

    func closeInput() {
        child.closeStdin()
    }

    /// Reads exactly `count` bytes from the listener's stdout within `seconds`.
    func read(_ count: Int, seconds: Double = 10) throws -> String {
        let fd = child.stdoutFD!
        let end = Date().addingTimeInterval(seconds)
        while buffered.count < count {
            let left = Int32(max(0, end.timeIntervalSinceNow * 1000))
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, left) > 0 else {
                throw TestFailure("listener wrote \(buffered.count) of \(count) bytes in \(seconds) s: '\(String(decoding: buffered, as: UTF8.self))'; its log:\n\(log)")
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = Glibc.read(fd, &chunk, 4096)
            if n <= 0 { throw TestFailure("listener closed stdout after '\(String(decoding: buffered, as: UTF8.self))'; its log:\n\(log)") }
            buffered += chunk[0..<n]
        }
        let out = String(decoding: buffered[0..<count], as: UTF8.self)
        buffered.removeFirst(count)
        return out
    }

    /// Whatever stdout held (without waiting).
    func drained() -> String {
        let fd = child.stdoutFD!
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, 0) > 0 {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = Glibc.read(fd, &chunk, 4096)
            if n <= 0 { break }
            buffered += chunk[0..<n]
        }
        defer { buffered = [] }
        return String(decoding: buffered, as: UTF8.self)
    }

    func expectReady() throws {
        let r = try read(6)
        if r != "READY\n" { throw TestFailure("expected READY, got '\(r)'") }
    }

    /// Sends one event and returns the listener's result ("RESULT 2\nOK"), having read the
    /// READY that follows it.
    @discardableResult
    func send(_ name: String, _ payload: String) throws -> String {
        serial += 1
        write(Driver.event(name, payload, serial: serial))
        let result = try read(11)
        try expectReady()
        return result
    }

    @discardableResult
    func send(_ e: (String, String)) throws -> String { try send(e.0, e.1) }

    /// An event whose name and payload are raw bytes (any of 0-255, not UTF-8).
    func send(bytes name: [UInt8], _ payload: [UInt8]) throws -> String {
        serial += 1
        let header = "ver:3.0 server:supervisor serial:\(serial) pool:haproxy poolserial:\(serial) eventname:"
        child.write(bytes: Array(header.utf8) + name + Array(" len:\(payload.count)\n".utf8) + payload)
        let result = try read(11)
        try expectReady()
        return result
    }
}
