import Foundation
import Glibc

// The real programs every stack starts, in one place: which binaries (Debian's by default;
// `make compat` names others through SH_HAPROXY, SH_SUPERVISORD and SH_SUPERVISORCTL), how
// HAProxy is started and waited for, the sections every test supervisord has, supervisorctl,
// and how `show servers state` reads as admin states.

enum Real {
    private static func named(_ variable: String, _ program: String) -> String {
        ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 } ?? which(program)
    }

    static var haproxy: String { named("SH_HAPROXY", "haproxy") }
    static var supervisord: String { named("SH_SUPERVISORD", "supervisord") }
    static var supervisorctl: String { named("SH_SUPERVISORCTL", "supervisorctl") }
}

/// HAProxy on `config` (master-worker with `-W`), waited for until it answers `show info` on
/// the unix admin socket `socket`.
func launchHAProxy(config: String, socket: String, stdout: String, stderr: String,
                  environment: [String: String]? = nil, masterWorker: Bool = false) throws -> Child {
    let child = try Child(Real.haproxy, (masterWorker ? ["-W"] : []) + ["-db", "-f", config], environment: environment,
                          stdout: stdout, stderr: stderr)
    guard waitUntil(10, { adminCommand(socket, "show info").contains("Name: HAProxy") }) else {
        child.stop()
        throw TestFailure("HAProxy did not answer on \(socket): \((try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")")
    }
    return child
}

/// The sections every test supervisord has: its unix socket (with `auth` when given), its
/// log and pid files in `dir`, the RPC interface, and supervisorctl pointed at the socket.
/// supervisord's `[inet_http_server]` with a password (no unix socket at all).
struct InetServer {
    var port = freePort()
    var user = "op"
    var serverPassword: String
    var clientPassword: String
}

/// supervisord's own sections: a unix socket (with `auth`'s user and password), or with
/// `inet` only an `[inet_http_server]` on loopback, its password as the file spells it for
/// supervisord and for supervisorctl.
func supervisordBase(dir: String, auth: (String, String)? = nil, inet: InetServer? = nil) -> String {
    let server: String, client: String
    if let inet {
        server = "[inet_http_server]\nport=127.0.0.1:\(inet.port)\nusername=\(inet.user)\npassword=\(inet.serverPassword)\n"
        client = "serverurl=http://127.0.0.1:\(inet.port)\nusername=\(inet.user)\npassword=\(inet.clientPassword)\n"
    } else {
        let credentials = auth.map { "username=\($0.0)\npassword=\($0.1)\n" } ?? ""
        server = "[unix_http_server]\nfile=\(dir)/supervisor.sock\n" + credentials
        client = "serverurl=unix://\(dir)/supervisor.sock\n" + credentials
    }
    return server + """
        [supervisord]
        nodaemon=true
        logfile=\(dir)/supervisord.log
        pidfile=\(dir)/supervisord.pid
        childlogdir=\(dir)
        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
        [supervisorctl]

        """ + client + "\n"
}

/// supervisorctl with `config`: what it printed, "" when it could not run.
@discardableResult
func supervisorctl(_ config: String, _ args: [String], environment: [String: String]? = nil, seconds: Double = 40) -> String {
    (try? run(Real.supervisorctl, ["-c", config] + args, environment: environment, seconds: seconds).out) ?? ""
}

/// One command over a unix admin socket, through socat (not through our code).
func adminCommand(_ socket: String, _ line: String) -> String {
    (try? run(which("socat"), ["-t", "2", "-", "UNIX-CONNECT:\(socket)"], input: line + "\n", seconds: 10).out) ?? ""
}

/// "backend/server" -> "ready" | "drain" | "maint", from the forced bits of
/// srv_admin_state in a `show servers state` answer.
func adminStates(_ answer: String) -> [String: String] {
    var result: [String: String] = [:]
    for line in answer.split(separator: "\n") {
        let f = line.split(separator: " ")
        guard f.count >= 7, Int(f[0]) != nil, let bits = Int(f[6]) else { continue }
        result["\(f[1])/\(f[3])"] = bits & 1 != 0 ? "maint" : bits & 8 != 0 ? "drain" : "ready"
    }
    return result
}
