/// One server line of `show servers state`, format 1 (docs/protocols.md, "show servers
/// state"): fields 1, 2, 4, 6 and 7, the same in every version this program was run against.
struct ServerStateLine {
    var backend: ByteView
    var server: ByteView
    var opState: Int
    var adminBits: Int

    init?(_ line: ByteView, _ columns: Void) {
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

extension ServerStateLine: AnswerLine {
    /// The first line is the format version.
    static func columns(firstLine: ByteView) -> Void? { firstLine.decimal(limit: 1000) != nil ? () : nil }
}

/// Reads a `show servers state` answer as it streams in.
typealias ServerStateReader = AnswerReader<ServerStateLine>
