import Glibc

// supervisord's eventlistener protocol (docs/protocols.md, "The event listener protocol"):
//   listener -> supervisord   READY\n
//   supervisord -> listener   one header line "key:value ..." ending in \n, then exactly len bytes
//   listener -> supervisord   RESULT 2\nOK   (then READY\n again)

/// What the listener writes: the acknowledgement of one event and readiness for the next,
/// in one write.
let readyToken: StaticString = "READY\n"
let okThenReady: StaticString = "RESULT 2\nOKREADY\n"

/// Header lines are about 100 bytes; a line this long without a newline is not a header.
let maxHeaderLength = 4096
/// The largest payload accepted. Larger ones are streamed and dropped, but a length past
/// this is taken for garbage rather than an event.
let maxPayloadLength = 1 << 30
/// How much of a payload is kept for parsing; PROCESS_STATE payloads are ~100 bytes.
let keptPayloadLength = 4096

/// A parsed header line: where the event name is in it, and the payload's length.
struct EventHeader: Equatable {
    var eventName: Range<Int>
    var length: Int
    /// `poolserial`: counts the events of the listener's pool; a gap means supervisord
    /// dropped some (its buffer overflowed).
    var poolSerial: Int?
}

enum HeaderProblem: Equatable {
    case missingLength
    case badLength
    case missingEventName
    case tooLong

    var text: StaticString {
        switch self {
        case .missingLength: "header has no len: token"
        case .badLength: "header len: is not a number from 0 to 1073741824"
        case .missingEventName: "header has no eventname: token"
        case .tooLong: "header line longer than 4096 bytes"
        }
    }
}

enum HeaderParse: Equatable {
    case header(EventHeader)
    case malformed(HeaderProblem)
}

/// Parses one header line (without its newline).
func parseHeader(_ line: ByteView) -> HeaderParse {
    guard let len = tokenValue("len", in: line) else { return .malformed(.missingLength) }
    guard let length = len.decimal(limit: maxPayloadLength) else { return .malformed(.badLength) }
    guard let name = tokenValue("eventname", in: line), name.count > 0 else {
        return .malformed(.missingEventName)
    }
    let start = name.baseAddress! - line.baseAddress!
    let poolSerial = tokenValue("poolserial", in: line)?.decimal(limit: Int(Int32.max) << 16)
    return .header(EventHeader(eventName: start..<start + name.count, length: length, poolSerial: poolSerial))
}

/// The eight process states, in the order of supervisord's documentation.
enum ProcessState: Int, CaseIterable {
    case starting, running, backoff, stopping, exited, stopped, fatal, unknown

    var name: StaticString {
        switch self {
        case .starting: "STARTING"
        case .running: "RUNNING"
        case .backoff: "BACKOFF"
        case .stopping: "STOPPING"
        case .exited: "EXITED"
        case .stopped: "STOPPED"
        case .fatal: "FATAL"
        case .unknown: "UNKNOWN"
        }
    }

    init?(name: ByteView) {
        for s in ProcessState.allCases where name.equals(s.name) {
            self = s
            return
        }
        return nil
    }

    /// The state a PROCESS_STATE_<STATE> event reports; nil for every other event.
    init?(eventName: ByteView) {
        let prefix: StaticString = "PROCESS_STATE_"
        guard eventName.hasPrefix(prefix) else { return nil }
        self.init(name: eventName.slice(prefix.utf8CodeUnitCount..<eventName.count))
    }
}

/// The fields of a PROCESS_STATE payload this listener uses.
struct ProcessStatePayload {
    var processName: ByteView
    var groupName: ByteView?
    var fromState: ByteView?

    /// nil when the payload has no processname token.
    init?(_ payload: ByteView) {
        let firstLine = payload.slice(0..<(payload.firstIndex(of: newline) ?? payload.count))
        guard let name = tokenValue("processname", in: firstLine) else { return nil }
        processName = name
        groupName = tokenValue("groupname", in: firstLine)
        fromState = tokenValue("from_state", in: firstLine)
    }
}

/// Reads events from a byte stream with fixed buffers: the header line, then the payload,
/// whose first `keptPayloadLength` bytes are kept and the rest dropped as they stream by.
final class EventReader {
    enum Step: Equatable {
        case needMore
        case event
        case malformed(HeaderProblem)
    }

    static let inputCapacity = 65536

    private let input = FixedBuffer(capacity: inputCapacity)
    private var start = 0
    /// Payload bytes still to come; nil while reading a header.
    private var remaining: Int?
    let header = FixedBuffer(capacity: maxHeaderLength)
    let payload = FixedBuffer(capacity: keptPayloadLength)
    private(set) var current = EventHeader(eventName: 0..<0, length: 0)

    var eventName: ByteView { header.bytes.slice(current.eventName) }

    /// Lets `read` fill the free space (it returns the count, 0 at end of file, -1 on error)
    /// and returns what it returned.
    func fill(_ read: (UnsafeMutablePointer<UInt8>, Int) -> Int) -> Int {
        compact()
        let n = read(input.base + input.count, input.capacity - input.count)
        if n > 0 { input.count += n }
        return n
    }

    /// Appends bytes as if read; returns how many fitted. For tests and fuzzing.
    func feed(_ bytes: ByteView) -> Int {
        compact()
        let n = min(bytes.count, input.capacity - input.count)
        input.append(bytes.slice(0..<n))
        return n
    }

    /// Advances over buffered input; `.event` means `header`, `eventName` and `payload`
    /// describe a complete event.
    func next() -> Step {
        if remaining == nil {
            let available = ByteView(start: input.base + start, count: input.count - start)
            guard let nl = available.firstIndex(of: newline) else {
                return available.count >= maxHeaderLength ? .malformed(.tooLong) : .needMore
            }
            if nl >= maxHeaderLength { return .malformed(.tooLong) }
            header.clear()
            header.append(available.slice(0..<nl))
            start += nl + 1
            switch parseHeader(header.bytes) {
            case .malformed(let problem):
                return .malformed(problem)
            case .header(let h):
                current = h
                remaining = h.length
                payload.clear()
            }
        }
        let n = min(remaining!, input.count - start)
        let keep = min(n, payload.capacity - payload.count)
        payload.append(ByteView(start: input.base + start, count: keep))
        start += n
        remaining! -= n
        if remaining! > 0 { return .needMore }
        remaining = nil
        return .event
    }

    private func compact() {
        if start == input.count {
            start = 0
            input.count = 0
        } else if start > 0 {
            let left = input.count - start
            memmove(input.base, input.base + start, left)
            start = 0
            input.count = left
        }
    }
}
