import Foundation
import Glibc

// A supervisord and an HAProxy made from the sections a test gives: for the lifecycles the
// example configs do not have (a dozen processes, a password on the unix socket, a
// master-worker HAProxy reloaded, a listener's priority).

final class Fleet {
    let dir = TempDir()
    let tcpPort = freePort()
    var adminSocket: String { dir.file("admin.sock") }
    var supervisorSocket: String { dir.file("supervisor.sock") }
    let masterWorker: Bool
    private(set) var haproxy: Child?
    private(set) var supervisord: Child?

    /// `backends`: name -> servers (each pointing nowhere; no checks); `{admin}`, `{tcp}` and
    /// `{dir}` in `programs` as in `listener`. Nothing listens behind
    /// them, so the listener's readiness gate is off (`--ready-when running`): its own tests
    /// are StartUpTests. `programs`: raw
    /// supervisord sections. `listener`: the listener's arguments after the binary (nil: no
    /// listener), where `{admin}` stands for the unix admin socket's path and `{tcp}` for the
    /// TCP one's port; `listenerExtra`: more lines for its section; `binary`: the listener's. `unixAuth`: user and password on
    /// supervisord's unix socket; `inet`: an inet server with a password instead of the socket.
    init(backends: [(String, [String])], programs: String, listener: [String]?, listenerExtra: String = "",
         unixAuth: (String, String)? = nil, inet: InetServer? = nil, masterWorker: Bool = false,
         addresses: [String: String] = [:], checks: Bool = false, binary: String = Paths.binary) throws {
        self.masterWorker = masterWorker
        var h = """
            global
                stats socket \(adminSocket) mode 600 level admin expose-fd listeners
                stats socket ipv4@127.0.0.1:\(tcpPort) level admin
            defaults
                mode http
                timeout connect 1s
                timeout client 5s
                timeout server 5s

            """
        for (backend, servers) in backends {
            h += "backend \(backend)\n"
            for s in servers { h += "    server \(s) \(addresses[s] ?? "127.0.0.1:9")\(checks ? " check inter 1s" : "")\n" }
        }
        try h.write(toFile: dir.file("haproxy.cfg"), atomically: true, encoding: .utf8)
        var s = supervisordBase(dir: dir.path, auth: unixAuth, inet: inet) + expand(programs) + "\n"
        if let listener {
            s += """
                [eventlistener:listener]
                command=\(binary) --ready-when running \(listener.map(expand).joined(separator: " "))
                events=PROCESS_STATE
                stderr_logfile=\(dir.file("listener.log"))
                \(listenerExtra)

                """
        }
        try s.write(toFile: dir.file("supervisord.conf"), atomically: true, encoding: .utf8)
    }

    func expand(_ text: String) -> String {
        text.replacingOccurrences(of: "{admin}", with: adminSocket).replacingOccurrences(of: "{tcp}", with: "\(tcpPort)")
            .replacingOccurrences(of: "{dir}", with: dir.path)
    }

    func startHAProxy() throws {
        haproxy = try launchHAProxy(config: dir.file("haproxy.cfg"), socket: adminSocket, stdout: dir.file("haproxy.log"),
                                   stderr: dir.file("haproxy.err"), masterWorker: masterWorker)
    }

    /// supervisord, waited for until `running` of its processes are RUNNING.
    func startSupervisord(running: Int) throws {
        supervisord = try Child(Real.supervisord, ["-c", dir.file("supervisord.conf")],
                                stdout: dir.file("supervisord.out"), stderr: dir.file("supervisord.err"))
        guard waitUntil(20, { status().values.filter { $0 == "RUNNING" }.count >= running }) else {
            throw TestFailure("supervisord: \(status())\n\(dir.read("supervisord.log"))")
        }
    }

    @discardableResult
    func ctl(_ args: String...) -> String {
        supervisorctl(dir.file("supervisord.conf"), args)
    }

    func status() -> [String: String] { supervisorStatus(ctl("status")) }

    /// "backend/server" -> "ready" | "drain" | "maint".
    func states() -> [String: String] { serverView(adminSocket).mapValues(\.admin) }

    func waitFor(_ servers: [String], _ state: String, seconds: Double = 10) -> Bool {
        waitUntil(seconds) { let s = states(); return servers.allSatisfy { s[$0] == state } }
    }

    var listenerLog: String { dir.read("listener.log") }
    var supervisordLog: String { dir.read("supervisord.log") }

    func stop() {
        supervisord?.stop()
        haproxy?.stop()
        supervisord = nil
        haproxy = nil
    }

    deinit { stop() }
}
