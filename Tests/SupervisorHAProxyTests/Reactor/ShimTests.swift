import CSocketShim
import Foundation
import Glibc
import Testing
@testable import SupervisorHAProxy

// The C shim on its own: one contract (negative result, "<call> <name>: <reason>" in the
// caller's buffer), non-blocking connects, every address of a name, spawn's exec errors.

/// A NULL-terminated argv of C strings; free with `freeArgs`.
private func cArgs(_ a: [String]) -> [UnsafeMutablePointer<CChar>?] {
    a.map { s -> UnsafeMutablePointer<CChar>? in strdup(s) } + [nil]
}

private func errorText<R: BinaryInteger>(_ body: (UnsafeMutablePointer<CChar>, Int) -> R) -> (Int, String) {
    var buf = [CChar](repeating: 0, count: 256)
    let r = buf.withUnsafeMutableBufferPointer { body($0.baseAddress!, 256) }
    return (Int(r), String(cString: buf))
}

@Suite struct Shim {
    @Test func missingUnixSocket() {
        var addr = shim_addr()
        #expect(shim_resolve_unix("/nonexistent/x.sock", &addr, nil, 0) == 1)
        var fd: Int32 = 0
        let (rc, err) = errorText { shim_connect_start(&addr, &fd, "unix:///nonexistent/x.sock", $0, $1) }
        #expect(rc == -1 && fd == -1)
        #expect(err == "connect unix:///nonexistent/x.sock: No such file or directory")
    }

    @Test func unixPathTooLong() {
        var addr = shim_addr()
        let (rc, err) = errorText { shim_resolve_unix("/" + String(repeating: "a", count: 200), &addr, $0, $1) }
        #expect(rc == -1 && err.hasSuffix("path empty or too long for a unix socket"))
    }

    @Test func refusedTCPIsReportedWhenTheConnectFinishes() {
        let port = freePort()
        var addr = shim_addr()
        #expect(shim_resolve_tcp("127.0.0.1", "\(port)", &addr, 1, nil, 0) == 1)
        var fd: Int32 = -1
        let rc = shim_connect_start(&addr, &fd, "tcp://127.0.0.1:\(port)", nil, 0)
        if rc == 1 {
            var p = shim_pollfd(fd: fd, events: Int16(SHIM_POLLOUT), revents: 0)
            #expect(shim_poll(&p, 1, shim_now_ms() + 1000, nil, 0) == 1)
            let (r, err) = errorText { shim_connect_finish(fd, "tcp://127.0.0.1:\(port)", $0, $1) }
            #expect(r == -1 && err == "connect tcp://127.0.0.1:\(port): Connection refused")
            shim_close(fd)
        } else {
            #expect(rc == -1)
        }
    }

    @Test func everyAddressOfANameIsResolved() {
        var addrs = [shim_addr](repeating: shim_addr(), count: 8)
        let n = shim_resolve_tcp("localhost", "8800", &addrs, 8, nil, 0)
        #expect(n >= 1)
        let families = Set((0..<Int(n)).map { shim_addr_family(&addrs[$0]) })
        #expect(families.isSubset(of: [AF_INET, AF_INET6]))
        var one = shim_addr()
        #expect(shim_resolve_tcp("::1", "8800", &one, 1, nil, 0) == 1 && shim_addr_family(&one) == AF_INET6)
        let (rc, err) = errorText { shim_resolve_tcp("no-such-host.invalid", "1", &one, 1, $0, $1) }
        #expect(rc == -1 && err.hasPrefix("getaddrinfo no-such-host.invalid: "))
    }

    @Test func readSaysNothingThereThenEndOfFile() {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        var buf = [UInt8](repeating: 0, count: 16)
        #expect(shim_read(fds[0], &buf, 16, "peer", nil, 0) == -2)
        close(fds[1])
        #expect(shim_read(fds[0], &buf, 16, "peer", nil, 0) == 0)
        close(fds[0])
    }

    @Test func writeToAClosedPeer() {
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        close(fds[1])
        let (rc, err) = errorText { e, len in shim_write_all(fds[0], "x", 1, -1, "peer", e, len) }
        #expect(rc == -1 && err == "write peer: Broken pipe")
        let (rc2, err2) = errorText { e, len in shim_send(fds[0], "x", 1, "peer", e, len) }
        #expect(rc2 == -1 && err2 == "write peer: Broken pipe")
        close(fds[0])
    }

    @Test func pollStopsAtTheDeadline() {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        var p = shim_pollfd(fd: fds[0], events: Int16(SHIM_POLLIN), revents: 0)
        #expect(shim_poll(&p, 1, shim_now_ms() + 20, nil, 0) == 0)
        #expect(write(fds[1], "x", 1) == 1)
        #expect(shim_poll(&p, 1, shim_now_ms() + 1000, nil, 0) == 1 && p.revents & Int16(SHIM_POLLIN) != 0)
        close(fds[0]); close(fds[1])
    }

    @Test func spawnReportsExecErrorsAsErrno() {
        var pid: Int32 = 0, pidfd: Int32 = -1
        let missing = cArgs(["/nonexistent/program"])
        defer { missing.forEach { free($0) } }
        #expect(shim_spawn(missing[0], missing, &pid, &pidfd, nil, 0) == ENOENT)
        let dir = TempDir()
        #expect(FileManager.default.createFile(atPath: dir.file("plain"), contents: Data("x".utf8), attributes: [.posixPermissions: 0o644]))
        let notExecutable = cArgs([dir.file("plain")])
        defer { notExecutable.forEach { free($0) } }
        #expect(shim_spawn(notExecutable[0], notExecutable, &pid, &pidfd, nil, 0) == EACCES)
    }

    @Test func spawnedChildHasItsOwnGroupAndEndsAsReported() {
        var pid: Int32 = 0, pidfd: Int32 = -1
        let argv = cArgs(["sh", "-c", "exit 7"])
        defer { argv.forEach { free($0) } }
        #expect(shim_spawn(argv[0], argv, &pid, &pidfd, nil, 0) == 0)
        var p = shim_pollfd(fd: pidfd, events: Int16(SHIM_POLLIN), revents: 0)
        #expect(shim_poll(&p, 1, shim_now_ms() + 5000, nil, 0) == 1, "the pidfd is readable once the child ends")
        var code: Int32 = -1, sig: Int32 = -1
        #expect(shim_reap(pid, &code, &sig, nil, 0) == 1 && code == 7 && sig == 0)
        shim_close(pidfd)
    }

    /// A socket bound to a port and connected to that same port opens onto itself: the
    /// connect probe must not take that for a program serving.
    @Test func aConnectToItselfIsToldApart() {
        let port = freePort()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(bound == 0 && connected == 0, "TCP simultaneous open onto itself")
        #expect(shim_connected_to_self(fd, "probe", nil, 0) == 1)
        #expect(acceptsConnections(port) == false, "the abortive close left nothing listening")
    }

    /// An ordinary connection, to a socket that listens, is not connected to itself.
    @Test func anOrdinaryConnectionIsNotConnectedToItself() {
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(server) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(server, $0, &len) } }
        #expect(listen(server, 4) == 0)
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, len) } }
        #expect(connected == 0)
        #expect(shim_connected_to_self(client, "probe", nil, 0) == 0)
    }

    /// Each failure keeps its errno beside its words: a refused connect is told apart from a
    /// missing socket file and from a permission error.
    @Test func aFailureKeepsItsErrno() {
        let dir = TempDir()
        let err = FixedBuffer(capacity: 256)
        var a = shim_addr()
        var fd: Int32 = -1
        _ = err.withCString { e, n in shim_resolve_unix(dir.file("absent.sock"), &a, e, n) }
        #expect(err.withCString { e, n in shim_connect_start(&a, &fd, "absent", e, n) } == Int32(SHIM_FAILED))
        #expect(err.code == Errno(raw: ENOENT) && err.code.nobodyListens && err.text.contains("No such file"), "\(err.text)")
        // A socket file nobody listens on any more: refused.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        _ = err.withCString { e, n in shim_resolve_unix(dir.file("stale.sock"), &a, e, n) }
        _ = withUnsafePointer(to: &a.storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, a.len) } }
        close(stale)
        #expect(err.withCString { e, n in shim_connect_start(&a, &fd, "stale", e, n) } == Int32(SHIM_FAILED))
        #expect(err.code == Errno(raw: ECONNREFUSED) && err.code.nobodyListens, "\(err.text)")
        // A success clears it.
        #expect(err.withCString { e, n in shim_resolve_unix(dir.file("x.sock"), &a, e, n) } == 1)
        #expect(err.code == .none && err.isEmpty)
        #expect(!Errno(raw: EACCES).nobodyListens && Errno(raw: EACCES).permission)
        #expect(!Errno(raw: EMFILE).nobodyListens && Errno(raw: EMFILE).outOfResources)
        #expect(!Errno.timedOut.nobodyListens)
    }
}
