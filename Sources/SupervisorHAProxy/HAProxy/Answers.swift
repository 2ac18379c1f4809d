// HAProxy's side of the runtime API: the commands this program sends and the answers it
// reads (docs/protocols.md, "The runtime API"): every command's answer ends with an empty
// line, so a `set server` that worked answers exactly "\n" and "No such server.\n\n" is a
// refusal; several commands joined with ';' get their answers in order, each so ended.
// Every answer is read as it streams in, line by line in a fixed buffer.

/// `set server BACKEND/SERVER state WORD`, without separator or newline. The names were
/// checked against HAProxy's naming rule when they were parsed (`Target.validated`).
func appendSetServer(_ b: FixedBuffer, _ target: Target, _ state: AdminState) {
    b.append("set server ")
    b.append(target.backend)
    b.append(byte: slash)
    b.append(target.server)
    b.append(" state ")
    b.append(state.word)
}

/// What one entry of a `set` does to a server: put it in an admin state, or take it into the
/// readiness gate: drain (no new request; its checks run) with its health forced down, so that
/// only checks that pass from now on bring it UP (docs/protocols.md, "The readiness gate").
enum ServerChange: Equatable {
    case state(AdminState)
    case gateEntry

    /// How many commands the entry sends.
    var commands: Int { self == .gateEntry ? 2 : 1 }
}

/// The entry's commands, joined by ';', without a newline.
func appendChange(_ b: FixedBuffer, _ target: Target, _ change: ServerChange) {
    switch change {
    case .state(let s):
        appendSetServer(b, target, s)
    case .gateEntry:
        appendSetServer(b, target, .drain)
        b.append(byte: UInt8(ascii: ";"))
        b.append("set server ")
        b.append(target.backend)
        b.append(byte: slash)
        b.append(target.server)
        b.append(" health down")
    }
}

let showServersStateLine: StaticString = "show servers state\n"
let showInfoLine: StaticString = "show info\n"

/// The next command's answer in `all` from `pos`, without its terminating empty line;
/// empty means success. Nil when the answer is incomplete: the peer closed too early.
func nextAnswer(_ all: ByteView, from pos: inout Int) -> ByteView? {
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
func answerSaysMissing(_ body: ByteView) -> Bool {
    body.hasPrefix("No such server.") || body.hasPrefix("No such backend.")
        || body.hasPrefix("Can't find backend.")
}

/// Splits an answer that streams in into lines, in a fixed buffer: a line longer than the
/// buffer is marked truncated (and skipped by the readers). Tells whether the answer ended
/// with its empty line, i.e. was not cut short, and keeps its first line for messages.
struct LineSplitter {
    let line = FixedBuffer(capacity: 4096)
    let firstLine = FixedBuffer(capacity: 200)
    private(set) var lineNumber = 0
    private var previous: UInt8 = 0
    private var last: UInt8 = 0

    mutating func reset() {
        line.clear()
        firstLine.clear()
        lineNumber = 0
        previous = 0
        last = 0
    }

    var complete: Bool { previous == newline && last == newline }

    /// Calls `body` with each whole line (without its newline) and its number from 0.
    mutating func feed(_ chunk: ByteView, _ body: (ByteView, Int, Bool) -> Void) {
        for b in chunk {
            previous = last
            last = b
            if b != newline {
                line.append(byte: b)
                continue
            }
            if lineNumber == 0 { firstLine.append(line.bytes) }
            body(line.bytes, lineNumber, line.truncated)
            lineNumber += 1
            line.clear()
        }
    }
}

/// A line of an answer that its reader recognizes and parses.
protocol AnswerLine {
    /// What the answer's first line says of the lines that follow (where each field is).
    associatedtype Columns
    /// The columns, from the answer's first line; nil when it is not this answer.
    static func columns(firstLine: ByteView) -> Columns?
    /// nil for a line that is not one (a header, a short or odd line: skipped).
    init?(_ line: ByteView, _ columns: Columns)
}

/// Reads an answer made of lines as it streams in: the first line tells whether it is the
/// answer asked for (and where its fields are), each later line that parses is handed over.
struct AnswerReader<Line: AnswerLine> {
    private var lines = LineSplitter()
    private var columns: Line.Columns?
    /// False when the first line is not this answer's.
    private(set) var recognized = true

    mutating func reset() {
        lines.reset()
        columns = nil
        recognized = true
    }

    var complete: Bool { lines.complete }
    var firstLine: ByteView { lines.firstLine.bytes }

    mutating func feed(_ chunk: ByteView, _ each: (Line) -> Void) {
        var columns = self.columns
        lines.feed(chunk) { line, number, truncated in
            if number == 0 {
                columns = Line.columns(firstLine: line)
            } else if !truncated, let c = columns, let l = Line(line, c) {
                each(l)
            }
        }
        self.columns = columns
        if lines.lineNumber > 0 { recognized = columns != nil }
    }
}
