import CSocketShim
import Glibc

/// An address this listener talks to (a stats socket, supervisord), resolved on first use
/// and again after a failure, so that steady-state exchanges never resolve a name.
final class Peer {
    let display: String
    let endpoint: Endpoint
    private let cName: [CChar]
    private var address = shim_addr()
    private var resolved = false
    /// The last failure, as the shim wrote it: "connect tcp://127.0.0.1:8800: Connection refused".
    let error = FixedBuffer(capacity: 512)
    private let chunk = FixedBuffer(capacity: 16384)

    init(display: String, endpoint: Endpoint) {
        self.display = display
        self.endpoint = endpoint
        cName = Array(display.utf8CString)
    }

    var errorText: String { String(bytes: error.bytes) }

    /// One exchange: connect, send `request`, hand every chunk of the answer to `consume`
    /// until the peer closes. All of it within `timeoutMs`. False on any failure, with
    /// `error` set; what arrived before the failure has been consumed.
    func exchange(_ request: Bytes, timeoutMs: Int, consume: (Bytes) -> Void) -> Bool {
        let deadline = shim_now_ms() + Int64(timeoutMs)
        let fd = connect(deadline: deadline)
        if fd < 0 { return false }
        defer { close(fd) }
        let sent = cName.withUnsafeBufferPointer { name in
            error.withCString { e, n in
                shim_write_all(fd, request.baseAddress, request.count, deadline, name.baseAddress, e, n)
            }
        }
        if sent != 0 { return false }
        while true {
            let n = cName.withUnsafeBufferPointer { name in
                error.withCString { e, len in
                    shim_read(fd, chunk.base, chunk.capacity, deadline, name.baseAddress, e, len)
                }
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
        let fd = cName.withUnsafeBufferPointer { name in
            error.withCString { e, n in shim_connect(&address, deadline, name.baseAddress, e, n) }
        }
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

// HAProxy's answers (checked against HAProxy 2.6): every command's answer ends with an empty
// line, so a `set server` that worked answers exactly "\n", and "No such server.\n\n" is a
// refusal. Several commands joined with ';' get their answers in order, each so ended.

/// `set server BACKEND/SERVER state WORD`, without separator or newline.
func appendSetServer(_ b: FixedBuffer, _ target: Target, _ state: AdminState) {
    b.append("set server ")
    b.append(target.backend)
    b.append(byte: UInt8(ascii: "/"))
    b.append(target.server)
    b.append(" state ")
    b.append(state.word)
}

/// The next command's answer in `all` from `pos`, without its terminating empty line;
/// empty means success. Nil when the answer is incomplete: the peer closed too early.
func nextAnswer(_ all: Bytes, from pos: inout Int) -> Bytes? {
    guard pos < all.count else { return nil }
    if all[pos] == newline {
        pos += 1
        return all.slice(pos - 1..<pos - 1)
    }
    var i = pos
    while i + 1 < all.count {
        if all[i] == newline && all[i + 1] == newline {
            let body = all.slice(pos..<i)
            pos = i + 2
            return body
        }
        i += 1
    }
    return nil
}

/// HAProxy's words for a backend or server it does not have: a configuration error,
/// not worth retrying.
func answerSaysMissing(_ body: Bytes) -> Bool {
    body.hasPrefix("No such server.") || body.hasPrefix("No such backend.")
        || body.hasPrefix("Can't find backend.")
}

/// One server line of `show servers state`: fields 2, 4, 6 and 7 (REFERENCE.md).
struct ServerStateLine {
    var backend: Bytes
    var server: Bytes
    var opState: Int
    var adminBits: Int

    init?(_ line: Bytes) {
        var fields: (Bytes, Bytes, Bytes, Bytes, Bytes, Bytes, Bytes) = (Bytes(start: nil, count: 0), Bytes(start: nil, count: 0), Bytes(start: nil, count: 0), Bytes(start: nil, count: 0), Bytes(start: nil, count: 0), Bytes(start: nil, count: 0), Bytes(start: nil, count: 0))
        var n = 0
        var start = 0
        while n < 7 && start <= line.count {
            let end = line.firstIndex(of: space, from: start) ?? line.count
            let field = line.slice(start..<end)
            switch n {
            case 0: fields.0 = field
            case 1: fields.1 = field
            case 2: fields.2 = field
            case 3: fields.3 = field
            case 4: fields.4 = field
            case 5: fields.5 = field
            default: fields.6 = field
            }
            n += 1
            start = end + 1
        }
        guard n == 7, fields.0.decimal(limit: Int(Int32.max)) != nil,
              fields.1.count > 0, fields.3.count > 0,
              let op = fields.5.decimal(limit: 0xffff),
              let admin = fields.6.decimal(limit: 0xffff)
        else { return nil }
        backend = fields.1
        server = fields.3
        opState = op
        adminBits = admin
    }
}

/// Reads a `show servers state` answer as it streams in, line by line in a fixed buffer.
/// Lines longer than the buffer are skipped. `complete` tells whether the answer ended
/// with its empty line, i.e. was not cut short.
final class ServerStateReader {
    private let line = FixedBuffer(capacity: 4096)
    private var lineNumber = 0
    private var previous: UInt8 = 0
    private var last: UInt8 = 0
    /// False when the first line is not a format version: not a `show servers state` answer.
    private(set) var recognized = true
    /// The first line, for error messages when it is not a version number.
    let firstLine = FixedBuffer(capacity: 200)

    func reset() {
        line.clear()
        firstLine.clear()
        lineNumber = 0
        previous = 0
        last = 0
        recognized = true
    }

    var complete: Bool { previous == newline && last == newline }

    func feed(_ chunk: Bytes, _ server: (ServerStateLine) -> Void) {
        for b in chunk {
            previous = last
            last = b
            if b != newline {
                line.append(byte: b)
                continue
            }
            if lineNumber == 0 {
                firstLine.append(line.bytes)
                recognized = line.bytes.decimal(limit: 1000) != nil
            } else if !line.truncated, let s = ServerStateLine(line.bytes) {
                server(s)
            }
            lineNumber += 1
            line.clear()
        }
    }
}
