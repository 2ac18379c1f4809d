import Foundation
import Glibc
import Testing
@testable import SupervisorHAProxy

// Every byte from outside is hostile: validated before it shapes a command, escaped before
// it is logged; a secret never reaches a message.

@Suite(.serialized, .timeLimit(.minutes(2))) struct HostileInput {
    /// Events naming processes with every byte 0-255: only commands for the mapped server,
    /// built from its validated names, ever reach the socket.
    @Test func everyByteInPayloadsReachesNoCommand() throws {
        let dir = TempDir()
        let standIn = try StandIn(unixPath: dir.file("record.sock"), mode: .recordAsHAProxy)
        defer { standIn.stop() }
        let d = try Driver(["--resync", "0", "unix://" + standIn.path, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        for b in UInt8(0)...255 {
            // The byte itself, not its UTF-8 spelling: 0x80-0xff arrive as single bytes.
            let name = [UInt8(ascii: "w"), b, UInt8(ascii: "b")]
            let payload = Array("processname:".utf8) + name + Array(" groupname:".utf8) + name + Array(";x from_state:RUNNING\\\n".utf8)
            #expect(try d.send(bytes: Array("PROCESS_STATE_STOPPED".utf8), payload) == "RESULT 2\nOK", "byte \(b)")
            // In the header line itself a newline ends the line (a malformed header, on which
            // the listener exits for supervisord to restart it): every other byte.
            if b != newline {
                #expect(try d.send(bytes: Array("PROCESS_STATE_".utf8) + name, Array("processname:web1".utf8)) == "RESULT 2\nOK", "byte \(b)")
            }
        }
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK")
        #expect(waitUntil(5) { String(decoding: standIn.received, as: UTF8.self).contains("state maint") })
        // Reads, and the one command for the one mapped server.
        let sent = String(decoding: standIn.received, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(sent.filter { $0 != "show servers state" && $0 != "show info" } == ["set server web/web1 state maint"], "\(sent)")
        // And the log stayed one line per line, printable ASCII only.
        let log = d.log
        #expect(log.utf8.allSatisfy { $0 == 10 || ($0 >= 0x20 && $0 < 0x7f) })
        #expect(log.split(separator: "\n").allSatisfy { $0.contains(#/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d [A-Z]+ /#) })
    }

    /// The report's case: a payload without processname that forges a log line and a
    /// terminal escape.
    @Test func aForgedLogLineStaysInsideItsOwnLine() throws {
        let dir = TempDir()
        let d = try Driver(["--resync", "0", "--supervisor", "none", "unix://" + dir.file("none.sock"), "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send("PROCESS_STATE_STOPPED", "x:1\n2026-01-01T00:00:00 ERROR forged line\u{1b}[31m") == "RESULT 2\nOK")
        #expect(waitUntil(5) { d.log.contains("without processname") })
        let lines = d.log.split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("2026-01-01T00:00:00 ERROR forged") }, "\(d.log)")
        #expect(d.log.contains("x:1\\n2026-01-01T00:00:00 ERROR forged line\\x1b[31m"), "\(d.log)")
        #expect(!d.log.utf8.contains(0x1b))
    }

    @Test(arguments: [
        // A backslash is HAProxy's escape: 'we\b/we\b1' drove web/web1.
        (["/a.sock", "web1:we\\b/we\\b1"], "BACKEND contains a backslash"),
        (["/a.sock", "web1:web\\/web1"], "BACKEND contains a backslash"),
        (["/a.sock", "web1:web/web1", "web1:web/web1"], "mapping 'web1:web/web1' is given twice"),
        (["--supervisor", "http://h:1/RPC2\r\nX-Injected: yes\r\n", "/a.sock", "a:b/c"], "contains byte 0x0d"),
        (["--supervisor", "http://h:1/a b", "/a.sock", "a:b/c"], "contains a space"),
        (["--supervisor", "unix://relative", "/a.sock", "a:b/c"], "a unix socket path must be absolute"),
        (["tcp://user:pw@127.0.0.1:80", "a:b/c"], "takes no user or password"),
        (["--help=x"], "--help takes no value"),
        (["--quiet=1", "/a.sock", "a:b/c"], "--quiet takes no value"),
    ])
    func refusedWithTheMessageAUserExpects(_ args: [String], _ message: String) throws {
        let r = try run(Paths.binary, args, seconds: 10)
        #expect(r.status == 2 && r.out.isEmpty, "\(r.err)")
        #expect(r.err.contains(message), "\(r.err)")
        #expect(!r.err.utf8.contains(13), "no raw CR in the message")
    }

    @Test func twoProgramsOnOneServerAreWarnedAbout() throws {
        let dir = TempDir()
        let d = try Driver(["--resync", "0", "unix://" + dir.file("none.sock"), "web1:web/web1", "web2:web/web1", "web1:static/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(waitUntil(5) { d.log.contains("WARNING web/web1 is mapped to several programs (web1:web/web1, web2:web/web1): the latest event of any of them sets it") }, "\(d.log)")
        #expect(!d.log.contains("static/web1 is mapped"))
    }

    /// The password never reaches a message: command-line errors, failed syncs of every
    /// kind, and their log lines.
    @Test func theSupervisordPasswordIsNeverShown() throws {
        let dir = TempDir()
        var outputs: [String] = []
        // Invalid URLs on the command line: a bad port, a password with '/', a bad scheme.
        for url in ["http://admin:s3cret@127.0.0.1:99999", "http://admin:s3/cret@127.0.0.1:x", "https://admin:s3cret@h:1"] {
            let r = try run(Paths.binary, ["--supervisor", url, "/a.sock", "a:b/c"], seconds: 10)
            #expect(r.status == 2)
            outputs.append(r.err)
        }
        let refused = freePort()
        let garbage = try StandIn(unixPath: dir.file("garbage.sock"), mode: .garbage)
        let hang = try StandIn(unixPath: dir.file("hang.sock"), mode: .hang)
        defer { garbage.stop(); hang.stop() }
        for url in ["http://admin:s3cret@127.0.0.1:\(refused)", "http://admin:s3cret@no-such-host.invalid:1"] {
            let d = try Driver(["--timeout", "1", "--supervisor", url, "unix://" + dir.file("none.sock"), "a:b/c"], dir: TempDir())
            try d.expectReady()
            #expect(waitUntil(5) { d.log.contains("start-up sync from http://admin:***@") })
            outputs.append(d.log)
            d.child.stop()
        }
        // Over a unix socket, with credentials from the environment.
        for sock in [garbage.path, hang.path] {
            var env = ProcessInfo.processInfo.environment
            env["SUPERVISOR_SERVER_URL"] = "unix://" + sock
            env["SUPERVISOR_USERNAME"] = "admin"
            env["SUPERVISOR_PASSWORD"] = "s3cret"
            let d = try Driver(["--timeout", "1", "unix://" + dir.file("none.sock"), "a:b/c"], dir: TempDir(), environment: env)
            try d.expectReady()
            #expect(waitUntil(5) { d.log.contains("start-up sync from unix://\(sock) failed") }, "\(d.log)")
            outputs.append(d.log)
            d.child.stop()
        }
        for o in outputs { #expect(!o.contains("s3cret") && !o.contains("s3/cret"), "\(o)") }
        #expect(outputs[0].contains("http://admin:***@127.0.0.1:99999"), "\(outputs[0])")
    }

    /// A unix socket whose listen backlog is full waits within --timeout, as TCP does, and
    /// says what happened.
    @Test func aFullUnixBacklogWaitsAndSaysSo() throws {
        let dir = TempDir()
        let full = try StandIn(unixPath: dir.file("full.sock"), mode: .neverAccept)
        defer { full.stop() }
        // Fill the backlog (0 lets one connection wait).
        var fillers: [Int32] = []
        for _ in 0..<4 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in full.path.utf8.enumerated() { p[i] = b } }
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            fillers.append(fd)
        }
        defer { fillers.forEach { close($0) } }
        let d = try Driver(["--timeout", "0.5", "--resync", "0", "unix://" + full.path, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(waitUntil(5) { d.log.contains("connect unix://\(full.path): timed out (its listen backlog stayed full)") }, "\(d.log)")
        #expect(!d.log.contains("Transport endpoint is not connected"))
    }
}
