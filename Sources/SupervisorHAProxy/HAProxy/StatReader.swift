/// One server line of `show stat`'s CSV (0-based fields, REFERENCE.md): 0 pxname,
/// 1 svname, 2 qcur, 4 scur, 17 status.
struct StatLine {
    var backend: ByteView
    var server: ByteView
    var queued: Int
    var sessions: Int
    /// `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check`, with ` 1/3` while a check is turning.
    var status: ByteView

    init?(_ line: ByteView) {
        let comma = UInt8(ascii: ",")
        guard line.first != UInt8(ascii: "#"),
              let backend = line.field(0, separator: comma), backend.count > 0,
              let server = line.field(1, separator: comma), server.count > 0,
              let queued = line.field(2, separator: comma)?.decimal(limit: Int(Int32.max)),
              let sessions = line.field(4, separator: comma)?.decimal(limit: Int(Int32.max)),
              let status = line.field(17, separator: comma)
        else { return nil }
        self.backend = backend
        self.server = server
        self.queued = queued
        self.sessions = sessions
        self.status = status
    }

    /// UP by its health check, or ready without one ("no check").
    var isUp: Bool { StatLine.serving(status) }

    /// Taking requests: `UP` (also while a check turns, `UP 1/3`) or `no check`.
    static func serving(_ status: ByteView) -> Bool { status.hasPrefix("UP") || status.equals("no check") }
}

extension StatLine: AnswerLine {
    /// The first line is the CSV header.
    static func recognizes(firstLine: ByteView) -> Bool { firstLine.hasPrefix("# pxname,svname,") }
}

/// Reads a `show stat` answer as it streams in (several, one per backend asked for, in one
/// answer: each header line is skipped).
typealias StatReader = AnswerReader<StatLine>
