import CSocketShim

// The one client of HAProxy's runtime API: every command this program sends to a stats
// socket goes through here, one exchange at a time, framed and checked the same way. Its
// users (convergence, `check`, `wrap`, `restart`/`stop`/`start`) keep only their policy: what
// to send when, and what an answer means to them.

/// What a user of an `HAProxyClient` hears: the lines of a read as they stream in, and the end
/// of the exchange. One user per exchange; several may share a client, one after another.
protocol HAProxyAnswers: AnyObject {
    func serverState(_ line: ServerStateLine)
    func stat(_ line: StatLine)
    /// The exchange `command` ended. `ok`: a whole answer (for `set`, one per command, read
    /// with `forEachAnswer`); otherwise why not is in `client.peer.error`.
    func finished(_ client: HAProxyClient, _ command: HAProxyClient.Command, ok: Bool, now: Int64)
}

extension HAProxyAnswers {
    func serverState(_ line: ServerStateLine) {}
    func stat(_ line: StatLine) {}
}

/// One stats socket, as a member of the reactor.
final class HAProxyClient: Pollable {
    enum Command: Equatable { case none, set, serversState, info, stat }

    let peer: Peer
    let exchange: Exchange
    let timeoutMs: Int
    /// The exchange in flight, or the last one once it has ended.
    private(set) var command = Command.none
    private weak var user: HAProxyAnswers?
    /// Given every byte of each `show servers state` answer as it streams in (the state file).
    var serversStateTap: ((ByteView) -> Void)?
    private let request = FixedBuffer(capacity: 16384)
    private let answer = FixedBuffer(capacity: 16384)
    /// How many entries the last `set` sent, and how many commands each has.
    private(set) var setCount = 0
    private var entryCommands: [UInt8] = []
    private var states = ServerStateReader()
    private var stats = StatReader()
    /// From the last `show info`.
    private(set) var info = InfoReader()

    init(_ socket: SocketSpec, timeoutMs: Int) {
        peer = Peer(display: socket.text, endpoint: socket.endpoint)
        exchange = Exchange(peer: peer)
        self.timeoutMs = timeoutMs
        entryCommands.reserveCapacity(request.capacity / 20)
    }

    var busy: Bool { exchange.inFlight }
    /// Bytes of the last answer.
    var received: Int { exchange.received }

    // MARK: commands

    /// `set server B/S ...` for as many changes as `fill` offers and one request holds:
    /// `fill` calls `add` with each until it returns false (full). Returns how many were
    /// taken (0: nothing is sent). `timeoutMs`: a shorter bound than the client's own.
    @discardableResult
    func set(now: Int64, for user: HAProxyAnswers, timeoutMs: Int? = nil, _ fill: ((Target, ServerChange) -> Bool) -> Void) -> Int {
        request.clear()
        setCount = 0
        entryCommands.removeAll(keepingCapacity: true)
        fill { target, change in
            let before = request.count
            if setCount > 0 { request.append(byte: UInt8(ascii: ";")) }
            appendChange(request, target, change)
            // Room for the newline that ends the request.
            if request.count > request.capacity - 1 || request.truncated || entryCommands.count == entryCommands.capacity {
                request.count = before
                request.truncated = false
                return false
            }
            setCount += 1
            entryCommands.append(UInt8(change.commands))
            return true
        }
        guard setCount > 0 else { return 0 }
        request.append(byte: newline)
        answer.clear()
        start(.set, for: user, now: now, timeoutMs: timeoutMs)
        return setCount
    }

    func showServersState(now: Int64, for user: HAProxyAnswers) {
        request.clear()
        request.append(showServersStateLine)
        states.reset()
        start(.serversState, for: user, now: now)
    }

    func showInfo(now: Int64, for user: HAProxyAnswers) {
        request.clear()
        request.append(showInfoLine)
        info.reset()
        start(.info, for: user, now: now)
    }

    /// `show stat B 4 -1` for each backend (its servers), in one request.
    func showStat(backends: [[UInt8]], now: Int64, for user: HAProxyAnswers) {
        request.clear()
        for (k, b) in backends.enumerated() {
            if k > 0 { request.append(byte: UInt8(ascii: ";")) }
            request.append("show stat ")
            request.append(b)
            request.append(" 4 -1")
        }
        request.append(byte: newline)
        stats.reset()
        start(.stat, for: user, now: now)
    }

    /// Ends a read in flight without a result. A `set` is never abandoned: HAProxy does not
    /// order commands sent on two connections, so a newer state waits for it to end.
    func abandonRead() {
        guard busy, command != .set else { return }
        exchange.cancel()
    }

    /// HAProxy's answer to each entry of the last `set` (empty: done; an entry of two
    /// commands gives the first refusal), after it ended ok.
    func forEachAnswer(_ body: (Int, ByteView) -> Void) {
        var pos = 0
        for k in 0..<setCount {
            var said = ByteView.empty
            for _ in 0..<Int(entryCommands[k]) {
                guard let b = nextAnswer(answer.bytes, from: &pos) else { return }
                if said.count == 0 { said = b }
            }
            body(k, said)
        }
    }

    private func start(_ c: Command, for user: HAProxyAnswers, now: Int64, timeoutMs bound: Int? = nil) {
        command = c
        self.user = user
        if exchange.start(request.bytes, now: now, timeoutMs: min(bound ?? timeoutMs, timeoutMs)) == .failed { end(ok: false, now: now) }
    }

    // MARK: reactor member

    var pollFD: Int32 { exchange.pollFD }
    var pollEvents: Int16 { exchange.pollEvents }
    var wakeAt: Int64 { exchange.wakeAt }

    func turn(revents: Int16, now: Int64) {
        guard exchange.inFlight else { return }
        let outcome = exchange.turn(revents: revents, now: now) { chunk in
            switch command {
            case .serversState:
                serversStateTap?(chunk)
                states.feed(chunk) { user?.serverState($0) }
            case .stat: stats.feed(chunk) { user?.stat($0) }
            case .info: info.feed(chunk)
            case .set, .none: answer.append(chunk)
            }
        }
        switch outcome {
        case .inProgress: return
        case .failed: end(ok: false, now: now)
        case .finished: end(ok: answerIsWhole(), now: now)
        }
    }

    /// Whether the answer is a whole one of what was asked; if not, why not in `peer.error`.
    private func answerIsWhole() -> Bool {
        switch command {
        case .set:
            var pos = 0
            for _ in 0..<entryCommands.reduce(0, { $0 + Int($1) }) {
                guard nextAnswer(answer.bytes, from: &pos) != nil, !answer.truncated else {
                    // The peer closed without answering every command: HAProxy died
                    // mid-answer, or it is not HAProxy.
                    peer.fail("answer cut short:", quoting: answer.bytes.slice(pos..<answer.count))
                    return false
                }
            }
            return true
        case .serversState:
            return whole(recognized: states.recognized, complete: states.complete, states.firstLine,
                         "not a 'show servers state' answer:", "'show servers state' answer cut short")
        case .stat:
            return whole(recognized: stats.recognized, complete: stats.complete, stats.firstLine,
                         "not a 'show stat' answer:", "'show stat' answer cut short")
        case .info:
            if info.pid == nil {
                peer.fail("not a 'show info' answer:", quoting: info.firstLine)
                return false
            }
            return true
        case .none:
            return true
        }
    }

    private func whole(recognized: Bool, complete: Bool, _ firstLine: ByteView,
                       _ notIt: StaticString, _ cutShort: StaticString) -> Bool {
        if !recognized {
            peer.fail(notIt, quoting: firstLine)
            return false
        }
        if !complete {
            peer.fail(cutShort)
            return false
        }
        return true
    }

    private func end(ok: Bool, now: Int64) {
        let u = user
        user = nil
        u?.finished(self, command, ok: ok, now: now)
    }
}
