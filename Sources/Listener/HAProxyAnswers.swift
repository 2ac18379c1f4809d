// HAProxy's side of the runtime API: the commands this listener sends and the answers it
// reads. Checked against HAProxy 2.6: every command's answer ends with an empty line, so a
// `set server` that worked answers exactly "\n" and "No such server.\n\n" is a refusal;
// several commands joined with ';' get their answers in order, each so ended.

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
