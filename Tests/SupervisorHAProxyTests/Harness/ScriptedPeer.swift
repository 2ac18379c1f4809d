import CSocketShim
import Foundation
import Glibc
@testable import SupervisorHAProxy

// An HAProxy stats socket inside the test process, as a member of the reactor under test:
// each connection's request line is handed to `answer`, whose text is written back before
// the connection is closed (as HAProxy's CLI does in non-interactive mode). With the reactor's
// virtual clock (`advanceTime`), a state machine talking to it runs exactly, in milliseconds.

final class ScriptedPeer: Pollable {
    let path: String
    private(set) var fd: Int32 = -1
    private let reactor: Reactor
    /// Every request line, with the virtual time it came at.
    private(set) var requests: [(at: Int64, line: String)] = []
    /// The answer to one request line (without its newline).
    var answer: (String, Int64) -> String = { _, _ in "\n" }

    init(in dir: TempDir, reactor: Reactor, name: String = "scripted.sock") {
        path = dir.file(name)
        self.reactor = reactor
        listen()
        reactor.add(self)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Stops listening (and removes the socket file): a connect is refused from then on.
    func stopListening() {
        close(fd)
        fd = -1
        unlink(path)
    }

    /// Listens again.
    func listen() {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        Glibc.listen(fd, 16)
    }

    var pollFD: Int32 { fd }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { Int64.max }

    func turn(revents: Int16, now: Int64) {
        while fd >= 0 {
            let c = accept(fd, nil, nil)
            guard c >= 0 else { return }
            _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
            reactor.add(Connection(fd: c, peer: self))
        }
    }

    fileprivate func answered(_ line: String, now: Int64) -> String {
        requests.append((now, line))
        return answer(line, now)
    }

    private final class Connection: Pollable {
        let fd: Int32
        unowned let peer: ScriptedPeer
        var buffer: [UInt8] = []
        var done = false

        init(fd: Int32, peer: ScriptedPeer) {
            self.fd = fd
            self.peer = peer
        }

        var pollFD: Int32 { done ? -1 : fd }
        var pollEvents: Int16 { Int16(SHIM_POLLIN) }
        var wakeAt: Int64 { Int64.max }

        func turn(revents: Int16, now: Int64) {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { buffer += chunk[0..<n] }
            guard n == 0 || buffer.contains(10) else { return }
            let line = String(decoding: buffer.prefix { $0 != 10 }, as: UTF8.self)
            let text = Array(peer.answered(line, now: now).utf8)
            _ = text.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(fd)
            done = true
            peer.reactor.remove(self)
        }
    }
}

/// `show stat`'s header and one line per server, as HAProxy writes them (the fields this
/// program reads, found by name).
func statAnswer(_ servers: [(backend: String, server: String, sessions: Int, status: String)]) -> String {
    var t = "# pxname,svname,qcur,qmax,scur,smax,status,chkfail,check_status,addr,\n"
    for s in servers { t += "\(s.backend),\(s.server),0,0,\(s.sessions),0,\(s.status),0,L7OK,127.0.0.1:9,\n" }
    return t + "\n"
}

/// `show servers state`'s answer (format 1): each server's forced admin bits.
func serversStateAnswer(_ servers: [(backend: String, server: String, adminBits: Int)]) -> String {
    var t = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n"
    for (k, s) in servers.enumerated() { t += "1 \(s.backend) \(k + 1) \(s.server) 127.0.0.1 2 \(s.adminBits)\n" }
    return t + "\n"
}
