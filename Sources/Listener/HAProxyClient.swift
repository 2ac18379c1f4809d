import CSocketShim
import Glibc

/// An address this listener talks to (a stats socket, supervisord), resolved on first use
/// and again after a failure, so that steady-state exchanges never resolve a name.
final class Peer {
    let display: String
    let endpoint: Endpoint
    private let cName: UnsafeMutablePointer<CChar>
    private var address = shim_addr()
    private var resolved = false
    /// The last failure, as the shim wrote it: "connect tcp://127.0.0.1:8800: Connection refused".
    let error = FixedBuffer(capacity: 512)
    private let chunk = FixedBuffer(capacity: 16384)

    init(display: String, endpoint: Endpoint) {
        self.display = display
        self.endpoint = endpoint
        cName = strdup(display)
    }

    deinit { free(cName) }

    var errorText: String { String(bytes: error.bytes) }

    /// Records a failure found in what the peer answered: "DISPLAY: reason 'quoted'".
    func fail(_ reason: StaticString, quoting: Bytes? = nil) {
        error.clear()
        error.append(display)
        error.append(": ")
        error.append(reason)
        if let quoting {
            error.append(" '")
            error.append(quoting)
            error.append("'")
        }
    }

    /// One exchange: connect, send `request`, hand every chunk of the answer to `consume`
    /// until the peer closes. All of it within `timeoutMs`. False on any failure, with
    /// `error` set; what arrived before the failure has been consumed.
    func exchange(_ request: Bytes, timeoutMs: Int, consume: (Bytes) -> Void) -> Bool {
        let deadline = shim_now_ms() + Int64(timeoutMs)
        let fd = connect(deadline: deadline)
        if fd < 0 { return false }
        defer { close(fd) }
        let sent = error.withCString { e, n in
            shim_write_all(fd, request.baseAddress, request.count, deadline, cName, e, n)
        }
        if sent != 0 { return false }
        while true {
            let n = error.withCString { e, len in
                shim_read(fd, chunk.base, chunk.capacity, deadline, cName, e, len)
            }
            if n < 0 { return false }
            if n == 0 { return true }
            consume(Bytes(start: chunk.base, count: n))
        }
    }

    private func connect(deadline: Int64) -> Int32 {
        if !resolved {
            let rc: Int32 = error.withCString { e, n in
                switch endpoint {
                case .tcp(let host, let port): shim_resolve_tcp(host, port, &address, e, n)
                case .unix(let path): shim_resolve_unix(path, &address, e, n)
                }
            }
            if rc != 0 { return -1 }
            resolved = true
        }
        let fd = error.withCString { e, n in shim_connect(&address, deadline, cName, e, n) }
        // A name may point elsewhere next time (a restarted container, say).
        if fd < 0, case .tcp = endpoint { resolved = false }
        return fd
    }
}

extension FixedBuffer {
    /// Lends the whole buffer to a C function that writes a NUL-terminated message into it,
    /// then takes the message as the buffer's contents.
    func withCString<R>(_ body: (UnsafeMutablePointer<CChar>, Int) -> R) -> R {
        clear()
        base[0] = 0
        let r = UnsafeMutableRawPointer(base).withMemoryRebound(to: CChar.self, capacity: capacity) {
            body($0, capacity)
        }
        count = strlen(UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self))
        return r
    }
}
