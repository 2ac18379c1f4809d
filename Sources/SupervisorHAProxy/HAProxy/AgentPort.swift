import CSocketShim

// HAProxy's agent check, the listener's side (docs/protocols.md, "The agent check"): every
// HAProxy connects on each `agent-inter`, sends its `agent-send` string and applies the words
// of the one line it reads back. The port is open to whoever reaches it, so each connection
// is bounded: one line of at most `lineBytes`, within `deadlineMs`, at most `connections` at
// once (the oldest goes when another comes: HAProxy sends its line as it connects, so the
// oldest is the one that sends nothing); nothing is written but the answer, nothing is kept
// after it, and what was dropped is said once per `reportMs`, counted, never per connection.

/// Who answers the agent port's requests.
protocol AgentAnswering: AnyObject {
    /// Writes into `answer` the reply to one request line (its end of line removed, at most
    /// `AgentPort.Limits.lineBytes`) from `peer`; the line is outside bytes. False when the
    /// line was no request at all (garbage: counted by the port, never logged one by one).
    func answer(_ line: ByteView, from peer: PeerIP, now: Int64, into answer: FixedBuffer) -> Bool
}

final class AgentPort {
    struct Limits: Equatable {
        var lineBytes = 600
        var deadlineMs: Int64 = 2000
        var connections = 128
        var reportMs: Int64 = 10_000
    }

    /// What happened to a connection that got no state word.
    enum Drop: Int, CaseIterable {
        case longLine, noLine, crowded, noDescriptor, closedEarly, garbage

        var words: StaticString {
            switch self {
            case .longLine: "closed: a line longer than the limit"
            case .noLine: "closed: no whole line within the deadline"
            case .crowded: "closed: the oldest of too many at once"
            case .noDescriptor: "not taken: out of file descriptors"
            case .closedEarly: "gone before a whole line"
            case .garbage: "answered unknown-server: no BACKEND/SERVER"
            }
        }
    }

    let socket: ListeningSocket
    let limits: Limits
    unowned let answering: AgentAnswering
    private let log: Logger
    private var slots: [AgentConnection] = []
    private var drops = Array(repeating: 0, count: Drop.allCases.count)
    private var report: Timer!
    let answer = FixedBuffer(capacity: 128)

    init(_ endpoint: Endpoint, display: String, limits: Limits = Limits(), answering: AgentAnswering, log: Logger) {
        socket = ListeningSocket(endpoint, display: display)
        self.limits = limits
        self.answering = answering
        self.log = log
        slots = (0..<limits.connections).map { _ in AgentConnection(lineBytes: limits.lineBytes) }
        for s in slots { s.port = self }
        report = Timer { [unowned self] _ in reportDrops() }
        socket.onAccept = { [unowned self] fd, ip, now in take(fd, ip, now: now) }
        socket.onAcceptFailed = { [unowned self] now in
            dropped(.noDescriptor, now: now)
            // Out of descriptors: the oldest open connection (the one that sends nothing)
            // goes, so the connection waiting is taken at the next try. Idle connections
            // never starve HAProxy's polls, whatever the descriptor limit.
            guard socket.peer.error.code.outOfResources, let oldest = oldestOpen() else { return false }
            oldest.close()
            dropped(.crowded, now: now)
            return true
        }
    }

    private func oldestOpen() -> AgentConnection? {
        var oldest: AgentConnection?
        for s in slots where s.fd.isOpen && (oldest == nil || s.openedAt < oldest!.openedAt) { oldest = s }
        return oldest
    }

    var display: String { socket.peer.display }

    /// Its members of the reactor: the socket, every connection slot, the report timer.
    var members: [Pollable] { [socket, report] + slots }

    private func take(_ fd: Descriptor, _ ip: PeerIP, now: Int64) {
        var free: AgentConnection?
        var oldest: AgentConnection?
        for s in slots {
            if !s.fd.isOpen {
                free = s
                break
            }
            if oldest == nil || s.openedAt < oldest!.openedAt { oldest = s }
        }
        if free == nil, let oldest {
            oldest.close()
            dropped(.crowded, now: now)
            free = oldest
        }
        guard let slot = free else { return fd.close() }
        slot.start(fd, ip, now: now, deadline: now + limits.deadlineMs)
        // HAProxy sends its line as it connects: often here already, answered before another
        // connection can crowd this one out.
        slot.turn(revents: Int16(SHIM_POLLIN), now: now)
    }

    func dropped(_ why: Drop, now: Int64) {
        if drops.allSatisfy({ $0 == 0 }) { report.fire(at: now + limits.reportMs) }
        drops[why.rawValue] += 1
    }

    private func reportDrops() {
        guard let l = log.begin(.warning) else { return resetDrops() }
        l.append("agent port ")
        l.append(display)
        l.append(": connections without a state word in the last ")
        l.append(decimal: Int(limits.reportMs / 1000))
        l.append(" s:")
        var first = true
        for why in Drop.allCases where drops[why.rawValue] > 0 {
            l.append(first ? " " : "; ")
            first = false
            l.append(decimal: drops[why.rawValue])
            l.append(byte: space)
            l.append(why.words)
        }
        l.append(" (limits: ")
        l.append(decimal: limits.lineBytes)
        l.append(" bytes a line, ")
        l.append(decimal: Int(limits.deadlineMs))
        l.append(" ms, ")
        l.append(decimal: limits.connections)
        l.append(" connections)")
        log.end()
        resetDrops()
    }

    private func resetDrops() {
        for i in drops.indices { drops[i] = 0 }
    }
}

/// One connection slot of an agent port: a fixed buffer, reused for every connection.
final class AgentConnection: Pollable {
    unowned var port: AgentPort!
    private(set) var fd = Descriptor.none
    private(set) var openedAt: Int64 = 0
    private var deadline = Int64.max
    private var ip = PeerIP.none
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var count = 0
    private let error = FixedBuffer(capacity: 128)

    init(lineBytes: Int) {
        // Room for the line's end after the longest line taken.
        capacity = lineBytes + 2
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        fd.close()
        buffer.deallocate()
    }

    func start(_ fd: Descriptor, _ ip: PeerIP, now: Int64, deadline: Int64) {
        self.fd = fd
        self.ip = ip
        openedAt = now
        self.deadline = deadline
        count = 0
    }

    func close() {
        fd.close()
        fd = .none
        deadline = Int64.max
    }

    var pollFD: Int32 { fd.raw }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { deadline }

    func turn(revents: Int16, now: Int64) {
        guard fd.isOpen else { return }
        if revents == 0 {
            if now >= deadline {
                close()
                port.dropped(.noLine, now: now)
            }
            return
        }
        switch fd.read(into: buffer + count, capacity: capacity - count, name: cString("agent connection"), error: error) {
        case .wouldBlock:
            return
        case .closed, .failed:
            // Gone before a whole line: nothing to answer.
            close()
            port.dropped(.closedEarly, now: now)
            return
        case .processed(let n):
            let start = count
            count += n
            for i in start..<count where buffer[i] == newline || buffer[i] == 0x0d {
                return answer(ByteView(start: buffer, count: i), now: now)
            }
            if count >= capacity {
                close()
                port.dropped(.longLine, now: now)
            }
        }
    }

    private func answer(_ line: ByteView, now: Int64) {
        guard line.count <= port.limits.lineBytes else {
            close()
            return port.dropped(.longLine, now: now)
        }
        let a = port.answer
        a.clear()
        if !port.answering.answer(line, from: ip, now: now, into: a) { port.dropped(.garbage, now: now) }
        // A fresh socket's send buffer takes a line this short at once; one that does not is
        // not HAProxy, and gets nothing more.
        _ = fd.send(a.bytes, name: cString("agent connection"), error: error)
        close()
    }
}
