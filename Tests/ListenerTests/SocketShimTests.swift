import CSocketShim
import Foundation
import Glibc
import Testing

// The C shim on its own: error texts name the call and the address, deadlines hold.

private func errorText<R: BinaryInteger>(_ body: (UnsafeMutablePointer<CChar>, Int) -> R) -> (Int, String) {
    var buf = [CChar](repeating: 0, count: 256)
    let r = buf.withUnsafeMutableBufferPointer { body($0.baseAddress!, 256) }
    return (Int(r), String(cString: buf))
}

@Suite struct SocketShim {
    @Test func missingUnixSocket() {
        var addr = shim_addr()
        #expect(shim_resolve_unix("/nonexistent/x.sock", &addr, nil, 0) == 0)
        let (fd, err) = errorText { shim_connect(&addr, shim_now_ms() + 1000, "unix:///nonexistent/x.sock", $0, $1) }
        #expect(fd == -1)
        #expect(err == "connect unix:///nonexistent/x.sock: No such file or directory")
    }

    @Test func unixPathTooLong() {
        var addr = shim_addr()
        let (rc, err) = errorText { shim_resolve_unix("/" + String(repeating: "a", count: 200), &addr, $0, $1) }
        #expect(rc == -1 && err.hasSuffix("path empty or too long for a unix socket"))
    }

    @Test func refusedTCP() {
        let port = freePort()
        var addr = shim_addr()
        #expect(shim_resolve_tcp("127.0.0.1", "\(port)", &addr, nil, 0) == 0)
        let (fd, err) = errorText { shim_connect(&addr, shim_now_ms() + 1000, "tcp://127.0.0.1:\(port)", $0, $1) }
        #expect(fd == -1 && err == "connect tcp://127.0.0.1:\(port): Connection refused")
    }

    @Test func ipv6Loopback() {
        var addr = shim_addr()
        #expect(shim_resolve_tcp("::1", "8800", &addr, nil, 0) == 0)
        #expect(shim_addr_family(&addr) == AF_INET6)
    }

    @Test func readTimesOutAtTheDeadlineAndSeesEndOfFile() {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        var buf = [UInt8](repeating: 0, count: 16)
        let (n, err) = errorText { e, len in shim_read(fds[0], &buf, 16, shim_now_ms() + 50, "peer", e, len) }
        #expect(n == -1 && err == "read peer: timed out")
        close(fds[1])
        #expect(shim_read(fds[0], &buf, 16, shim_now_ms() + 50, "peer", nil, 0) == 0)
        close(fds[0])
    }

    @Test func writeToAClosedPeer() {
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        close(fds[1])
        let (rc, err) = errorText { e, len in shim_write_all(fds[0], "x", 1, -1, "peer", e, len) }
        #expect(rc == -1 && err == "write peer: Broken pipe")
        close(fds[0])
    }

    @Test func waitReadableTimesOut() {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        #expect(shim_wait_readable(fds[0], 20) == 0)
        #expect(write(fds[1], "x", 1) == 1)
        #expect(shim_wait_readable(fds[0], 1000) == 1)
        close(fds[0]); close(fds[1])
    }
}
