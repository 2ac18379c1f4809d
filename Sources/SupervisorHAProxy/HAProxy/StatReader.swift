/// One server line of `show stat`'s CSV, its fields found by the names of the header line
/// (docs/protocols.md, "show stat"): HAProxy adds and moves fields between versions (those
/// from 100 on moved between 2.6 and 2.8), so no position is assumed.
struct StatLine {
    var backend: ByteView
    var server: ByteView
    var queued: Int
    var sessions: Int
    /// `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check`, with ` 1/3` while a check is turning.
    var status: ByteView
    /// Whether HAProxy checks the server: `chkfail` is a number then, empty without a check
    /// (also while the server is in maint, when `status` says only MAINT).
    var hasCheck: Bool
    /// The last check's outcome (`L4CON`, `L7OK`...; empty when none), and the server's
    /// `ADDR:PORT` (empty when HAProxy does not say).
    var checkStatus: ByteView
    var address: ByteView
    /// What HAProxy counted for the server since its worker started (zero where the header
    /// lacks a field).
    var counters: ServerCounters

    /// Where the fields this program reads stand, from the header `# pxname,svname,...`; the
    /// last three are optional (-1 when the header lacks them).
    struct Columns {
        var pxname = -1, svname = -1, qcur = -1, scur = -1, status = -1
        var chkfail = -1, checkStatus = -1, addr = -1
        /// The counters (`ServerCounters`): sessions, errors, answers by class, check downs.
        var stot = -1, econ = -1, eresp = -1, chkdown = -1
        /// `hrsp_1xx` ... `hrsp_5xx`, `hrsp_other`: fixed fields, no array (a header is read
        /// per answer, on the event path).
        var hrsp1 = -1, hrsp2 = -1, hrsp3 = -1, hrsp4 = -1, hrsp5 = -1, hrspOther = -1

        mutating func setAnswerColumn(_ k: Int, _ index: Int) {
            switch k {
            case 0: hrsp1 = index
            case 1: hrsp2 = index
            case 2: hrsp3 = index
            case 3: hrsp4 = index
            case 4: hrsp5 = index
            default: hrspOther = index
            }
        }
    }

    init?(_ line: ByteView, _ c: Columns) {
        let comma = UInt8(ascii: ",")
        guard line.first != UInt8(ascii: "#"),
              let backend = line.field(c.pxname, separator: comma), backend.count > 0,
              let server = line.field(c.svname, separator: comma), server.count > 0,
              let queued = line.field(c.qcur, separator: comma)?.decimal(limit: Int(Int32.max)),
              let sessions = line.field(c.scur, separator: comma)?.decimal(limit: Int(Int32.max)),
              let status = line.field(c.status, separator: comma)
        else { return nil }
        self.backend = backend
        self.server = server
        self.queued = queued
        self.sessions = sessions
        self.status = status
        hasCheck = (line.field(c.chkfail, separator: comma)?.count ?? 0) > 0
        checkStatus = line.field(c.checkStatus, separator: comma) ?? .empty
        address = line.field(c.addr, separator: comma) ?? .empty
        func count(_ index: Int) -> Int? { line.field(index, separator: comma)?.decimal(limit: Int(Int64.max >> 8)) }
        counters = ServerCounters()
        counters.connectErrors = count(c.econ) ?? 0
        counters.responseErrors = count(c.eresp) ?? 0
        counters.checkDowns = count(c.chkdown) ?? 0
        counters.serverErrors = count(c.hrsp5) ?? 0
        // HTTP: what the server answered (every class) or failed to; TCP (no hrsp_ fields):
        // its sessions.
        if count(c.hrsp2) != nil {
            let answered = (count(c.hrsp1) ?? 0) + (count(c.hrsp2) ?? 0) + (count(c.hrsp3) ?? 0) + (count(c.hrsp4) ?? 0)
                + (count(c.hrsp5) ?? 0) + (count(c.hrspOther) ?? 0)
            counters.tried = answered + counters.responseErrors + counters.connectErrors
        } else {
            counters.tried = count(c.stot) ?? 0
        }
    }

    /// UP by its health check, or ready without one ("no check").
    var isUp: Bool { StatLine.serving(status) }

    /// Taking requests: `UP` (also while a check turns, `UP 1/3`) or `no check`.
    static func serving(_ status: ByteView) -> Bool { status.hasPrefix("UP") || status.equals("no check") }
}

extension StatLine: AnswerLine {
    /// The header names every field; all five must be there.
    static func columns(firstLine: ByteView) -> Columns? {
        guard firstLine.hasPrefix("# ") else { return nil }
        let header = firstLine.slice(2..<firstLine.count)
        var c = Columns()
        var index = 0, start = 0
        for i in 0...header.count where i == header.count || header[i] == UInt8(ascii: ",") {
            let name = header.slice(start..<i)
            if name.equals("pxname") { c.pxname = index }
            else if name.equals("svname") { c.svname = index }
            else if name.equals("qcur") { c.qcur = index }
            else if name.equals("scur") { c.scur = index }
            else if name.equals("status") { c.status = index }
            else if name.equals("chkfail") { c.chkfail = index }
            else if name.equals("check_status") { c.checkStatus = index }
            else if name.equals("addr") { c.addr = index }
            else if name.equals("stot") { c.stot = index }
            else if name.equals("econ") { c.econ = index }
            else if name.equals("eresp") { c.eresp = index }
            else if name.equals("chkdown") { c.chkdown = index }
            else if name.hasPrefix("hrsp_") { c.setAnswerColumn(StatLine.answerClass(name), index) }
            index += 1
            start = i + 1
        }
        return c.pxname >= 0 && c.svname >= 0 && c.qcur >= 0 && c.scur >= 0 && c.status >= 0 ? c : nil
    }
}

extension StatLine {
    /// `hrsp_1xx` ... `hrsp_5xx` -> 0...4, `hrsp_other` -> 5.
    static func answerClass(_ name: ByteView) -> Int {
        guard name.count == 8, name[5] >= UInt8(ascii: "1"), name[5] <= UInt8(ascii: "5") else { return 5 }
        return Int(name[5] - UInt8(ascii: "1"))
    }
}

/// Reads a `show stat` answer as it streams in (several, one per backend asked for, in one
/// answer: each later header line is skipped).
typealias StatReader = AnswerReader<StatLine>
