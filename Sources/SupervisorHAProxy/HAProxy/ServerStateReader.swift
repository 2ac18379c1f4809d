/// One server line of `show servers state`: fields 2, 4, 6 and 7 (REFERENCE.md).
struct ServerStateLine {
    var backend: ByteView
    var server: ByteView
    var opState: Int
    var adminBits: Int

    init?(_ line: ByteView) {
        guard let id = line.field(0, separator: space), id.decimal(limit: Int(Int32.max)) != nil,
              let backend = line.field(1, separator: space), backend.count > 0,
              let server = line.field(3, separator: space), server.count > 0,
              let op = line.field(5, separator: space)?.decimal(limit: 0xffff),
              let admin = line.field(6, separator: space)?.decimal(limit: 0xffff)
        else { return nil }
        self.backend = backend
        self.server = server
        opState = op
        adminBits = admin
    }
}

/// Reads a `show servers state` answer as it streams in.
struct ServerStateReader {
    private var lines = LineSplitter()
    /// False when the first line is not a format version: not a `show servers state` answer.
    private(set) var recognized = true

    mutating func reset() {
        lines.reset()
        recognized = true
    }

    var complete: Bool { lines.complete }
    var firstLine: ByteView { lines.firstLine.bytes }

    mutating func feed(_ chunk: ByteView, _ server: (ServerStateLine) -> Void) {
        var recognized = self.recognized
        lines.feed(chunk) { line, number, truncated in
            if number == 0 {
                recognized = line.decimal(limit: 1000) != nil
            } else if recognized && !truncated, let s = ServerStateLine(line) {
                server(s)
            }
        }
        self.recognized = recognized
    }
}
