import Foundation
import Glibc

/// A stats socket that misbehaves in ways a real HAProxy cannot be made to: it accepts and
/// never answers, answers garbage, or closes without answering. Only for those cases.
final class StandIn {
    enum Mode {
        case hang, garbage, closeAtOnce
        /// A `show servers state` answer whose server lines never end.
        case endlessServers
        /// An HTTP 200 XML-RPC answer whose body never ends (as supervisord).
        case endlessXMLRPC
        /// Answers as HAProxy does (an empty server list; an empty line per command) and
        /// records every byte it is sent.
        case recordAsHAProxy
        /// Listens with a backlog of 0 and never accepts: its backlog is full at once.
        case neverAccept
        /// Answers `show servers state` (with web/web1) and `show info` as HAProxy does, and
        /// closes without a word on anything else (`set server`).
        case readsOnly
    }

    /// What the accepting thread and the test share.
    private final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var clients: [Int32] = []
        var connections = 0
        var stopped = false
        var received: [UInt8] = []
    }

    let path: String
    private let fd: Int32
    private let shared = Shared()
    private let thread: Thread

    init(unixPath: String, mode: Mode) throws {
        path = unixPath
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in unixPath.utf8.enumerated() { p[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0, listen(fd, mode == .neverAccept ? 0 : 16) == 0 else { throw TestFailure("stand-in cannot listen on \(unixPath)") }
        let listener = fd
        let me = shared
        // Closed once: a descriptor closed twice may be another test's by then (tests in one
        // process share the descriptor table).
        let closeClient = { (c: Int32) in
            me.lock.lock()
            if let i = me.clients.firstIndex(of: c) {
                me.clients.remove(at: i)
                close(c)
            }
            me.lock.unlock()
        }
        thread = Thread {
            if mode == .neverAccept { return }
            while true {
                let c = accept(listener, nil, nil)
                guard c >= 0 else { return }
                me.lock.lock()
                me.connections += 1
                me.clients.append(c)
                me.lock.unlock()
                var buf = [UInt8](repeating: 0, count: 65536)
                var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
                var got: [UInt8] = []
                // A whole command line, as HAProxy reads it.
                while !got.contains(10), poll(&p, 1, 1000) > 0 {
                    let n = read(c, &buf, buf.count)
                    if n <= 0 { break }
                    got += buf[0..<n]
                }
                me.lock.lock()
                me.received += got
                me.lock.unlock()
                switch mode {
                case .hang:
                    continue
                case .garbage:
                    let g = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
                    _ = g.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                    closeClient(c)
                case .closeAtOnce:
                    closeClient(c)
                case .recordAsHAProxy:
                    let line = String(decoding: got, as: UTF8.self)
                    let answer = line.hasPrefix("show servers state")
                        ? "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n\n"
                        : line.hasPrefix("show info") ? "Name: HAProxy\nPid: 1\nStart_time_sec: 1\n\n"
                        : String(repeating: "\n", count: line.split(separator: ";").count)
                    _ = answer.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                    closeClient(c)
                case .neverAccept:
                    closeClient(c)
                case .readsOnly:
                    let line = String(decoding: got, as: UTF8.self)
                    let answer = line.hasPrefix("show servers state")
                        ? "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n1 web 1 web1 127.0.0.1 2 0\n\n"
                        : line.hasPrefix("show info") ? "Name: HAProxy\nPid: 1\nStart_time_sec: 1\n\n" : ""
                    _ = answer.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                    closeClient(c)
                case .endlessServers, .endlessXMLRPC:
                    let head = mode == .endlessServers
                        ? "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n"
                        : "HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n<?xml version='1.0'?><methodResponse><params><param><value><array><data>"
                    let line = mode == .endlessServers
                        ? "1 other 1 other1 127.0.0.1 2 0 1 1 2 1 0 0 8 0 0 0 - 80 - 0 0 - - 0\n"
                        : "<value><struct><member><name>name</name><value><string>x</string></value></member></struct></value>"
                    let block = head + String(repeating: line, count: 200)
                    let one = String(repeating: line, count: 200)
                    Thread.detachNewThread {
                        var text = block
                        while true {
                            let n = text.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                            if n <= 0 { break }
                            text = one
                        }
                        closeClient(c)
                    }
                }
            }
        }
        thread.start()
    }

    /// Every byte the stand-in was sent.
    var received: [UInt8] {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        return shared.received
    }

    var connectionCount: Int {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        return shared.connections
    }

    func stop() {
        shared.lock.lock()
        defer { shared.lock.unlock() }
        if shared.stopped { return }
        shared.stopped = true
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        for c in shared.clients { close(c) }
        unlink(path)
    }

    deinit { stop() }
}
