import Foundation
import Glibc
import Testing

// `wrap --notify` and `--watchdog` with the real programs: the program's own READY=1 and
// WATCHDOG=1 (systemd's notify protocol) decide when HAProxy sends it requests. Under a
// closed-loop load, each with a control run without the feature that must show the
// failures; then real uWSGI; then hostile datagrams.

/// Each backend binds at once and answers 503 for 3 s (loading behind an open port) before
/// it serves and says READY=1; HAProxy checks by TCP connect only, which an open port passes.
private let loading = LoadStack.Backends(check: "inter 300 fall 2 rise 2", delay: 0.05, readyDelay: 3, httpCheck: false)
private let tcpChecked = LoadStack.Backends(check: "inter 300 fall 2 rise 2", delay: 0.05, httpCheck: false)

/// How many times the wrap of `app` logged `text`.
private func count(_ stack: LoadStack, _ app: String, _ text: String) -> Int {
    stack.dir.read("\(app).err").components(separatedBy: text).count - 1
}

/// When each failed request was sent (wall clock), from the load's counts.
private func failedSent(_ detail: String) -> [Double] {
    guard let json = try? JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: Any],
          let sent = json["failed_sent"] as? [[Any]] else { return [] }
    return sent.compactMap { $0.first as? Double }
}

/// supervisorctl restart of app1 under load, the listener beside the wraps; the load ends
/// once app1 is back (its second start said READY=1 when `notify`) and every server is UP.
private func restartUnderLoad(_ stack: LoadStack, notify: Bool) throws -> (ok: Int, failed: Int, detail: String) {
    try stack.start()
    try stack.startLoad()
    #expect(stack.ctl("restart", "app1").contains("app1: started"))
    if notify {
        #expect(waitUntil(20) { count(stack, "app1", "the program says READY=1") == 2 }, "\(stack.dir.read("app1.err"))")
    } else {
        #expect(waitUntil(20) { acceptsConnections(stack.appPorts[0][0]) })
    }
    #expect(waitUntil(20) { stack.allUp() }, "\(serverView(stack.adminSocket))")
    return try stack.stopLoad()
}

@Suite(.serialized, .timeLimit(.minutes(5))) struct ProgramReadinessUnderLoad {
    @Test func aProgramTakesNoRequestBeforeItSaysReady() throws {
        let stack = try LoadStack(.wrapped, backends: loading, wrapOptions: ["--notify"])
        defer { stack.stop() }
        let r = try restartUnderLoad(stack, notify: true)
        print("restart of a program that loads 3 s behind its open port, wrap --notify: \(r.detail)")
        #expect(r.failed == 0 && r.ok > 50, "\(r.detail)\n\(stack.dir.read("app1.err"))")
        #expect(stack.listenerLog.contains("for app1, left to its wrap (--notify: ready once the program says READY=1), nothing sent for app/app1."),
                "the listener beside leaves the admission to the wrap: \(stack.listenerLog)")
        #expect(stack.dir.read("app1.err").contains("the program's STATUS: serving"))
    }

    @Test func withoutNotifyTheOpenPortLetsItInEarly() throws {
        let stack = try LoadStack(.wrapped, backends: loading)
        defer { stack.stop() }
        let r = try restartUnderLoad(stack, notify: false)
        print("the same restart, wrap without --notify: \(r.detail)")
        #expect(r.failed > 0, "the control must fail: \(r.detail)")
    }

    /// Through the agent alone (no stats socket): the wrap relays the program's word to the
    /// listener through supervisord (PROCESS_COMMUNICATION), and the agent answers maint
    /// until READY=1; the program's STATUS= shows in HAProxy as the agent's description.
    @Test func throughTheAgentAProgramTakesNoRequestBeforeItSaysReady() throws {
        let stack = try LoadStack(.wrapped, backends: loading, wrapOptions: ["--notify"], path: .agent, agentInterMs: 300)
        defer { stack.stop() }
        let r = try restartUnderLoad(stack, notify: true)
        print("restart of a program that loads 3 s behind its open port, wrap --notify --agent: \(r.detail)")
        #expect(r.failed == 0 && r.ok > 50, "\(r.detail)\n\(stack.dir.read("app1.err"))\n\(stack.listenerLog)")
        let log = stack.listenerLog
        #expect(log.contains("app1 runs under 'supervisor-haproxy wrap --notify --agent': for app/app1 the agent takes the program's word as its wrap relays it (PROCESS_COMMUNICATION): maint from each start until READY=1"), "\(log)")
        #expect(log.contains("Received PROCESS_COMMUNICATION_STDOUT for app1: its wrap relays 'ready"), "\(log)")
        let stat = adminCommand(stack.adminSocket, "show stat -1 4 -1")
        #expect(waitUntil(5) { adminCommand(stack.adminSocket, "show stat -1 4 -1").contains("via agent : up (serving)") },
                "the program's STATUS= is the agent's description: \(stat)")
    }

    /// The listener restarts while the programs serve: it cannot know what they said before,
    /// so the agent answers a word HAProxy ignores until each wrap repeats its notice (every
    /// 5 s), then ready. Nothing is taken out of rotation on the way.
    @Test func throughTheAgentAListenerRestartTakesNothingOut() throws {
        let stack = try LoadStack(.wrapped, backends: loading, wrapOptions: ["--notify"], path: .agent, agentInterMs: 300)
        defer { stack.stop() }
        try stack.start()
        try stack.startLoad()
        #expect(stack.ctl("restart", "haproxy").contains("haproxy: started"))
        var sawMaint = false
        let relayed = waitUntil(20) {
            if serverView(stack.adminSocket).values.contains(where: { $0.admin != "ready" }) { sawMaint = true }
            let log = stack.listenerLog
            guard let restart = log.range(of: "start-up sync", options: .backwards) else { return false }
            let after = log[restart.upperBound...]
            return after.contains("for app1: its wrap relays 'ready") && after.contains("for app2: its wrap relays 'ready")
        }
        let r = try stack.stopLoad()
        print("listener restarted under load, wrap --notify --agent: \(r.detail)")
        #expect(relayed, "each wrap repeated its notice to the new listener: \(stack.listenerLog)")
        #expect(!sawMaint && r.failed == 0 && r.ok > 50, "\(r.detail)\n\(stack.listenerLog)")
        #expect(stack.listenerLog.contains("for app1: its wrap relays 'ready #serving'; the agent answers state-not-known-yet (HAProxy keeps what it has) until"),
                "the new listener found app1 RUNNING with nothing heard: \(stack.listenerLog)")
    }

    @Test func throughTheAgentWithoutNotifyTheOpenPortLetsItInEarly() throws {
        let stack = try LoadStack(.wrapped, backends: loading, path: .agent, agentInterMs: 300)
        defer { stack.stop() }
        let r = try restartUnderLoad(stack, notify: false)
        print("the same restart through the agent, wrap without --notify: \(r.detail)")
        #expect(r.failed > 0, "the control must fail: \(r.detail)")
    }

    /// app1's accept loop wedges for 5 s with its port open (a TCP check passes), under
    /// clients that give up on a request after 2 s (a user who does not wait) and go on:
    /// with --watchdog 1 no request sent 2 s after the wedge began (the watchdog and one
    /// second) fails, and app1 is back once its pings resume.
    @Test func aWedgedProgramIsOutOfRotationWithinItsWatchdog() throws {
        let stack = try LoadStack(.wrapped, backends: tcpChecked, wrapOptions: ["--notify", "--watchdog", "1"])
        defer { stack.stop() }
        let r = try wedgeUnderLoad(stack, back: { serverView(stack.adminSocket)["app/app1"]?.admin == "ready" })
        let late = failedSent(r.load.detail).filter { $0 > r.wedgeAt + 2 }
        print("a 5 s wedge, wrap --watchdog 1: \(r.load.detail)")
        #expect(late.isEmpty, "requests sent 2 s after the wedge began that failed: \(late)")
        #expect(r.wentOut, "app1 to maint: \(stack.dir.read("app1.err"))")
        let log = stack.dir.read("app1.err")
        #expect(log.contains("no WATCHDOG=1 for ") && log.contains("WATCHDOG=1 again"), "\(log)")
        #expect(stack.ctl("status", "app1").contains("RUNNING"), "nothing was killed")
    }

    @Test func withoutTheWatchdogTheWedgedProgramGetsRequestsThroughout() throws {
        let stack = try LoadStack(.wrapped, backends: tcpChecked)
        defer { stack.stop() }
        let r = try wedgeUnderLoad(stack, back: { true })
        let late = failedSent(r.load.detail).filter { $0 > r.wedgeAt + 2 }
        print("a 5 s wedge, no watchdog: \(r.load.detail)")
        #expect(!late.isEmpty, "the control must fail requests late in the wedge: \(r.load.detail)")
    }
}

/// Wedges app1's loop for 5 s under load; ends the load once the wedge is over (the program
/// answers again) and `back()` holds.
private func wedgeUnderLoad(_ stack: LoadStack, back: @escaping () -> Bool) throws
    -> (load: (ok: Int, failed: Int, detail: String), wedgeAt: Double, wentOut: Bool) {
    do { try stack.start() } catch { throw TestFailure("\(error)\napp1's wrap:\n\(stack.dir.read("app1.err"))") }
    try stack.startLoad(timeout: 2)
    let wedgeAt = Date().timeIntervalSince1970
    _ = FileManager.default.createFile(atPath: stack.wedgeFlag("app1"), contents: nil)
    #expect(waitUntil(5) { !FileManager.default.fileExists(atPath: stack.wedgeFlag("app1")) }, "the wedge began")
    let wentOut = waitUntil(4) { serverView(stack.adminSocket)["app/app1"]?.admin == "maint" }
    #expect(waitUntil(20) { answers(port: stack.appPorts[0][0]) }, "the wedge ended")
    #expect(waitUntil(20) { back() && stack.allUp() }, "\(serverView(stack.adminSocket))")
    return (try stack.stopLoad(), wedgeAt, wentOut)
}

/// Whether a GET / on 127.0.0.1:port begins to come back within a second.
private func answers(port: Int) -> Bool {
    guard let fd = connectLoopback(port) else { return false }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 1, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = "GET / HTTP/1.0\r\n\r\n".withCString { send(fd, $0, strlen($0), 0) }
    var buf = [UInt8](repeating: 0, count: 64)
    return recv(fd, &buf, buf.count, 0) > 0
}

/// A real HAProxy with one server, `web/web1` on `port`, checked by TCP connect.
private func haproxyFor(port: Int, in dir: TempDir) throws -> (child: Child, socket: String) {
    let socket = dir.file("admin.sock")
    let config = """
        global
            stats socket \(socket) mode 600 level admin
        defaults
            mode http
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        backend web
            server web1 127.0.0.1:\(port) check inter 200 fall 2 rise 1
        """
    try (config + "\n").write(toFile: dir.file("haproxy.cfg"), atomically: true, encoding: .utf8)
    let child = try launchHAProxy(config: dir.file("haproxy.cfg"), socket: socket, stdout: dir.file("haproxy.log"), stderr: dir.file("haproxy.err"))
    return (child, socket)
}

/// One server behind a real HAProxy (`haproxyFor`), in a folder of its own; stopped with it.
private final class OneServer {
    let dir = TempDir()
    let port = freePort()
    let haproxy: Child
    let socket: String

    init() throws { (haproxy, socket) = try haproxyFor(port: port, in: dir) }
    deinit { haproxy.stop() }

    /// web/web1's admin state.
    func state() -> String? { adminStates(adminCommand(socket, "show servers state"))["web/web1"] }
}

/// `wrap --supervisor none --verbose OPTIONS unix://SOCKET web/web1 -- COMMAND`, its log in dir/wrap.log.
private func wrap(_ options: [String], socket: String, _ command: [String], in dir: TempDir) throws -> Child {
    var env = ProcessInfo.processInfo.environment
    env["SUPERVISOR_SERVER_URL"] = nil
    return try Child(Paths.binary, ["wrap", "--supervisor", "none", "--verbose"] + options + ["unix://" + socket, "web/web1", "--"] + command,
                     environment: env, stdout: dir.file("program.out"), stderr: dir.file("wrap.log"))
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct ProgramReadinessWithRealServers {
    /// uWSGI (Debian's, python3 plugin) speaks the protocol by itself once NOTIFY_SOCKET is
    /// set: it binds, loads its app (2 s here), then says READY=1. Its port accepts all along.
    @Test func uWSGIIsReadyAtItsOwnReady() throws {
        let site = try OneServer()
        let (dir, port, socket) = (site.dir, site.port, site.socket)
        try "import time\ntime.sleep(2)\ndef application(env, start_response):\n    start_response('200 OK', [])\n    return [b'uwsgi']\n"
            .write(toFile: dir.file("app.py"), atomically: true, encoding: .utf8)
        let w = try wrap(["--notify"], socket: socket, ["uwsgi", "--plugin", "python3", "--http-socket", "127.0.0.1:\(port)",
                                                        "--wsgi-file", dir.file("app.py"), "--master", "--die-on-term", "--processes", "1"], in: dir)
        defer { w.stop() }
        #expect(waitUntil(10) { acceptsConnections(port) }, "uWSGI binds first: \(dir.read("program.out"))")
        #expect(!dir.read("wrap.log").contains("the program says READY=1") && adminStates(adminCommand(socket, "show servers state"))["web/web1"] == "maint",
                "its port accepts while it loads: still in maint")
        #expect(waitUntil(15) { dir.read("wrap.log").contains("the program says READY=1 (pid ") }, "\(dir.read("wrap.log"))")
        #expect(waitUntil(10) { adminStates(adminCommand(socket, "show servers state"))["web/web1"] == "ready" }, "\(dir.read("wrap.log"))")
        #expect(dir.read("wrap.log").contains("the program's STATUS: uWSGI is ready"), "\(dir.read("wrap.log"))")
        w.signal(SIGTERM)
        #expect(w.waitExit(15) != nil, "uWSGI ends on TERM (--die-on-term), and the wrapper with it")
    }
}

/// The wrapper's open descriptors and resident memory (kB).
private func footprint(_ pid: pid_t) -> (fds: Int, rssKB: Int) {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count ?? -1
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
    return (fds, rss)
}

extension ProgramReadinessWithRealServers {
    /// A program's own graceful reload (SIGHUP, passed on by the wrapper): it says
    /// RELOADING=1, the server drains, and is ready again after its next READY=1.
    @Test func aReloadTheProgramAnnouncesDrainsItUntilItsNextReady() throws {
        let site = try OneServer()
        let (dir, port, socket) = (site.dir, site.port, site.socket)
        let w = try wrap(["--notify"], socket: socket, ["/usr/bin/python3", Programs.backend, "\(port)", "web1", "0.01"], in: dir)
        defer { w.stop() }
        let state = site.state
        #expect(waitUntil(10) { dir.read("wrap.log").contains("the program says READY=1") && state() == "ready" }, "\(dir.read("wrap.log"))")
        w.signal(SIGHUP)
        #expect(waitUntil(5) { state() == "drain" }, "\(dir.read("wrap.log"))")
        #expect(waitUntil(10) { state() == "ready" }, "\(dir.read("wrap.log"))")
        let log = dir.read("wrap.log")
        #expect(log.contains("the program says RELOADING=1: web/web1 to drain until its next READY=1"), "\(log)")
        #expect(log.components(separatedBy: "the program says READY=1").count == 3, "\(log)")
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct HostileNotifications {
    /// A stranger's READY=1 (another uid), a 64 KiB datagram, garbage, a two-second flood and
    /// passed descriptors: the server stays in maint, the wrapper keeps its descriptors and
    /// its memory, its log stays short; then the program's own READY=1 lets it in.
    @Test func hostileDatagramsChangeNothingAndCostNoGrowth() throws {
        let site = try OneServer()
        let (dir, port, socket) = (site.dir, site.port, site.socket)
        let go = dir.file("go")
        let program = """
            import os, socket, time, http.server, threading
            srv = http.server.HTTPServer(("127.0.0.1", \(port)), http.server.BaseHTTPRequestHandler)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            while not os.path.exists("\(go)"):
                time.sleep(0.05)
            a = os.environ["NOTIFY_SOCKET"]
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", "\\0" + a[1:])
            time.sleep(3600)
            """
        let w = try wrap(["--notify", "--ready-timeout", "1"], socket: socket, ["/usr/bin/python3", "-c", program], in: dir)
        defer { w.stop() }
        #expect(waitUntil(10) { dir.read("wrap.log").contains("NOTIFY_SOCKET=@") }, "\(dir.read("wrap.log"))")
        let log = dir.read("wrap.log")
        let name = try #require(log.range(of: "NOTIFY_SOCKET=").map { String(log[$0.upperBound...].prefix { !$0.isWhitespace }) })
        #expect(waitUntil(10) { acceptsConnections(port) })
        let before = footprint(w.pid)
        func sender(_ mode: String, as user: [String] = []) throws -> Int {
            let r = try run(which("setpriv"), user + ["/usr/bin/python3", Programs.dir + "/notify_sender.py", name, mode], seconds: 20)
            return Int(r.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        #expect(try sender("ready", as: ["--reuid=65534", "--regid=65534", "--clear-groups"]) == 5)
        #expect(try sender("huge") == 1)
        #expect(try sender("garbage") == 9)
        let flood = try sender("flood")
        #expect(try sender("fds") == 200)
        #expect(flood > 1000, "the flood went through: \(flood)")
        // Every datagram read (the reactor takes the queue each turn): the state is the answer.
        #expect(waitUntil(5) { dir.read("wrap.log").contains("the program's STATUS: x") })
        #expect(adminStates(adminCommand(socket, "show servers state"))["web/web1"] == "maint", "none of it was READY=1")
        let after = footprint(w.pid)
        #expect(after.fds == before.fds, "descriptors: \(before.fds) -> \(after.fds)")
        #expect(after.rssKB - before.rssKB < 512, "RSS: \(before.rssKB) -> \(after.rssKB) kB")
        let wrapLog = dir.read("wrap.log")
        let lines = wrapLog.split(separator: "\n")
        #expect(lines.filter { $0.contains("STATUS") }.count <= 6, "a STATUS line a second at most: \(lines.count) lines")
        #expect(wrapLog.contains("ignored 1 datagram(s), the last from uid 65534, not the program's (0)"), "the first said at once, the rest counted for later: \(wrapLog)")
        #expect(!wrapLog.contains("\u{1b}"), "escaped")
        #expect(!wrapLog.contains("the program says READY=1"))
        #expect(wrapLog.contains("no READY=1 from the program ") && wrapLog.contains(" ms after its start (--ready-timeout): web/web1 stay out of rotation"), "\(wrapLog)")
        _ = FileManager.default.createFile(atPath: go, contents: nil)
        #expect(waitUntil(10) { adminStates(adminCommand(socket, "show servers state"))["web/web1"] == "ready" }, "\(dir.read("wrap.log"))")
        #expect(w.running)
    }
}
