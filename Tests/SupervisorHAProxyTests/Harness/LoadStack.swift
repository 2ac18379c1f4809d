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
}

/// One command over a unix admin socket, through socat (not through our code).
func adminCommand(_ socket: String, _ line: String) -> String {
    (try? run(which("socat"), ["-t", "2", "-", "UNIX-CONNECT:\(socket)"], input: line + "\n", seconds: 10).out) ?? ""
}

/// "app/app1" -> (admin "ready" | "drain" | "maint", status "UP", "DOWN", "MAINT"...), from
/// `show servers state` and `show stat`.
func serverView(_ socket: String) -> [String: (admin: String, status: String)] {
    var admin: [String: String] = [:]
    for line in adminCommand(socket, "show servers state").split(separator: "\n") {
        let f = line.split(separator: " ")
        guard f.count >= 7, Int(f[0]) != nil, let bits = Int(f[6]) else { continue }
        admin["\(f[1])/\(f[3])"] = bits & 1 != 0 ? "maint" : bits & 8 != 0 ? "drain" : "ready"
    }
    var result: [String: (String, String)] = [:]
    for line in adminCommand(socket, "show stat -1 4 -1").split(separator: "\n") where !line.hasPrefix("#") {
        let f = line.split(separator: ",", omittingEmptySubsequences: false)
        guard f.count > 17 else { continue }
        let key = "\(f[0])/\(f[1])"
        result[key] = (admin[key] ?? "?", String(f[17]))
    }
    return result
}

final class LoadStack {
    enum Mode { case wrapped, plain }

    let dir = TempDir()
    let mode: Mode
    let listener: Bool
    let apps = ["app1", "app2"]
    let appPorts = [freePort(), freePort()]
    let frontendPort = freePort()
    var adminSocket: String { dir.file("admin.sock") }
    private(set) var haproxy: Child?
    private(set) var supervisord: Child?
    private var load: Child?

    init(_ mode: Mode, listener: Bool = true) throws {
        self.mode = mode
        self.listener = listener
        try writeConfigs()
    }

    private func writeConfigs() throws {
        var h = """
            global
                stats socket \(adminSocket) mode 600 level admin
            defaults
                mode http
                timeout connect 1s
                timeout client 15s
                timeout server 15s
                retries 3
                option redispatch
            frontend www
                bind 127.0.0.1:\(frontendPort)
                default_backend app
            backend app
                balance roundrobin
                option httpchk GET /health
                default-server inter 300 fall 2 rise 2

            """
        for (app, port) in zip(apps, appPorts) { h += "    server \(app) 127.0.0.1:\(port) check\n" }
        try h.write(toFile: dir.file("haproxy.cfg"), atomically: true, encoding: .utf8)

        var s = """
            [unix_http_server]
            file=\(dir.file("supervisor.sock"))
            [supervisord]
            nodaemon=true
            logfile=\(dir.file("supervisord.log"))
            pidfile=\(dir.file("supervisord.pid"))
            childlogdir=\(dir.path)
            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
            [supervisorctl]
            serverurl=unix://\(dir.file("supervisor.sock"))

            """
        for (app, port) in zip(apps, appPorts) {
            let wrap = mode == .wrapped ? "\(Paths.binary) wrap unix://\(adminSocket) app/\(app) -- " : ""
            s += """
                [program:\(app)]
                command=\(wrap)/usr/bin/python3 \(Programs.backend) \(port) \(app)
                startsecs=1
                stopwaitsecs=10
                stdout_logfile=\(dir.file(app + ".out"))
                stderr_logfile=\(dir.file(app + ".err"))

                """
        }
        if listener { s += """
            [eventlistener:haproxy]
            command=\(Paths.binary) unix://\(adminSocket) \(apps.map { "\($0):app/\($0)" }.joined(separator: " "))
            events=PROCESS_STATE
            stderr_logfile=\(dir.file("listener.log"))

            """ }
        try s.write(toFile: dir.file("supervisord.conf"), atomically: true, encoding: .utf8)
    }

    /// Starts HAProxy and supervisord; waits until every program is RUNNING and every server
    /// is ready and UP in HAProxy.
    func start() throws {
        haproxy = try Child(which("haproxy"), ["-db", "-f", dir.file("haproxy.cfg")],
                            stdout: dir.file("haproxy.log"), stderr: dir.file("haproxy.err"))
        guard waitUntil(10, { adminCommand(adminSocket, "show info").contains("Name: HAProxy") }) else {
            throw TestFailure("HAProxy did not start: \(dir.read("haproxy.err"))")
        }
        supervisord = try Child(which("supervisord"), ["-c", dir.file("supervisord.conf")],
                                stdout: dir.file("supervisord.out"), stderr: dir.file("supervisord.err"))
        guard waitUntil(20, { allUp() }) else {
            throw TestFailure("not all up: \(ctl("status")) \(serverView(adminSocket))\n\(dir.read("supervisord.log"))")
        }
    }

    func allUp() -> Bool {
        let view = serverView(adminSocket)
        return apps.allSatisfy { view["app/\($0)"]?.admin == "ready" && view["app/\($0)"]?.status.hasPrefix("UP") == true }
            && status().filter { $0.value == "RUNNING" }.count == apps.count + (listener ? 1 : 0)
    }

    @discardableResult
    func ctl(_ args: String...) -> String {
        (try? run(which("supervisorctl"), ["-c", dir.file("supervisord.conf")] + args, seconds: 40).out) ?? ""
    }

    func status() -> [String: String] {
        var result: [String: String] = [:]
        for line in ctl("status").split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if f.count >= 2 { result[String(f[0])] = String(f[1]) }
        }
        return result
    }

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
        let r = try run("/usr/bin/python3", ["-c", script, dir.file("supervisor.sock"), name], seconds: 40)
        if r.status != 0 { throw TestFailure("XML-RPC restart of \(name): \(r.err)") }
    }

    func startLoad(clients: Int = 8, maxSeconds: Int = 60) throws {
        load = try Child("/usr/bin/python3", [Programs.client, "http://127.0.0.1:\(frontendPort)/", "\(clients)",
                                              dir.file("stop-load"), "\(maxSeconds)"],
                         stdout: dir.file("load.json"), stderr: dir.file("load.err"))
    }

    /// Stops the client and returns its counts.
    func stopLoad() throws -> (ok: Int, failed: Int, detail: String) {
        FileManager.default.createFile(atPath: dir.file("stop-load"), contents: nil)
        guard load?.waitExit(30) == 0 else { throw TestFailure("load client: \(dir.read("load.err"))") }
        let text = dir.read("load.json")
        guard let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let ok = json["ok"] as? Int, let failed = json["failed"] as? Int else {
            throw TestFailure("load client said '\(text)'")
        }
        return (ok, failed, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// supervisord's own shutdown (SIGTERM), waited for.
    func shutDownSupervisord() -> Int32? {
        supervisord?.signal(SIGTERM)
        defer { supervisord = nil }
        return supervisord?.waitExit(30)
    }

    func stop() {
        load?.stop()
        supervisord?.stop()
        haproxy?.stop()
        supervisord = nil
        haproxy = nil
    }

    deinit { stop() }
}
