import CSocketShim

/// One stats socket as a command that waits on HAProxy uses it (`wrap`): set a few servers
/// to a state, read their sessions and status with `show stat`. One exchange at a time on
/// the reactor, each bounded by the timeout; the command reads the outcome between turns.
final class AdminSocket: Pollable {
    enum Step: Equatable { case idle, setting(AdminState), readingStat }
    enum Result: Equatable { case none, ok, failed }

    let peer: Peer
    let exchange: Exchange
    let targets: [Target]
    private let timeoutMs: Int
    private(set) var step = Step.idle
    /// What the last exchange did, once it has ended.
    private(set) var lastStep = Step.idle
    private(set) var result = Result.none
    /// From the last `show stat`: current plus queued sessions on the servers.
    private(set) var sessions = 0
    /// Per target, from the last `show stat`: its status (`UP`, `DOWN 1/2`, `MAINT`...),
    /// and how many other servers of its backend are UP and ready.
    let status: [FixedBuffer]
    private(set) var othersUp: [Int]
    /// Set when HAProxy refused a `set server` (its words in `peer.error`).
    private(set) var refused = false
    private let request = FixedBuffer(capacity: 8192)
    private let answer = FixedBuffer(capacity: 4096)
    private var stat = StatReader()
    private var seen: [Bool]

    init(peer: Peer, targets: [Target], timeoutMs: Int) {
        self.peer = peer
        self.targets = targets
        self.timeoutMs = timeoutMs
        exchange = Exchange(peer: peer)
        seen = Array(repeating: false, count: targets.count)
        status = targets.map { _ in FixedBuffer(capacity: 32) }
        othersUp = Array(repeating: 0, count: targets.count)
    }

    /// Whether target k was found UP by its health check after the last `set`, or ready
    /// without a check: exactly `UP` (a server leaving maint shows `UP 1/3` until its first
    /// check passes) or `no check`.
    func settledUp(_ k: Int) -> Bool {
        seen[k] && (status[k].bytes.equals("UP") || status[k].bytes.equals("no check"))
    }

    /// Whether target k is found at all in the last `show stat`, and serving (UP, even with a
    /// check turning, or without checks).
    func serving(_ k: Int) -> Bool { seen[k] && StatLine.serving(status[k].bytes) }

    var busy: Bool { exchange.inFlight }

    /// `set server B/S state X` for every target, in one line.
    func set(_ state: AdminState, now: Int64) {
        request.clear()
        for (k, t) in targets.enumerated() {
            if k > 0 { request.append(byte: UInt8(ascii: ";")) }
            appendSetServer(request, t, state)
        }
        request.append(byte: newline)
        answer.clear()
        refused = false
        start(.setting(state), now: now)
    }

    /// `show stat B 4 -1` for each backend of the targets, in one line.
    func readStat(now: Int64) {
        request.clear()
        var backends: [[UInt8]] = []
        for t in targets where !backends.contains(t.backend) { backends.append(t.backend) }
        for (k, b) in backends.enumerated() {
            if k > 0 { request.append(byte: UInt8(ascii: ";")) }
            request.append("show stat ")
            request.append(b)
            request.append(" 4 -1")
        }
        request.append(byte: newline)
        stat.reset()
        sessions = 0
        for k in seen.indices {
            seen[k] = false
            othersUp[k] = 0
            status[k].clear()
        }
        start(.readingStat, now: now)
    }

    /// Ends a read in flight without a result (a read changes nothing at HAProxy; a `set` is
    /// never abandoned, so that commands keep their order).
    func abandon() {
        guard step == .readingStat else { return }
        exchange.cancel()
        finish(.failed)
    }

    private func start(_ s: Step, now: Int64) {
        step = s
        result = .none
        if exchange.start(request.bytes, now: now, timeoutMs: timeoutMs) == .failed { finish(.failed) }
    }

    var pollFD: Int32 { exchange.pollFD }
    var pollEvents: Int16 { exchange.pollEvents }
    var wakeAt: Int64 { exchange.wakeAt }

    func turn(revents: Int16, now: Int64) {
        let outcome = exchange.turn(revents: revents, now: now) { chunk in
            if step == .readingStat {
                stat.feed(chunk) { line in
                    for (k, t) in targets.enumerated() where t.backend.withBytes({ line.backend.equals($0) }) {
                        guard t.server.withBytes({ line.server.equals($0) }) else {
                            if line.isUp { othersUp[k] += 1 }
                            continue
                        }
                        guard !seen[k] else { continue }
                        seen[k] = true
                        sessions += line.sessions + line.queued
                        status[k].append(line.status)
                    }
                }
            } else {
                answer.append(chunk)
            }
        }
        switch outcome {
        case .inProgress: return
        case .failed: finish(.failed)
        case .finished: finish(step == .readingStat ? statFinished() : setFinished())
        }
    }

    private func setFinished() -> Result {
        var pos = 0
        for _ in targets {
            guard let body = nextAnswer(answer.bytes, from: &pos), !answer.truncated else {
                peer.fail("answer cut short:", quoting: answer.bytes.slice(pos..<answer.count))
                return .failed
            }
            if body.count > 0 {
                refused = true
                peer.fail("HAProxy answered", quoting: body)
            }
        }
        return refused ? .failed : .ok
    }

    private func statFinished() -> Result {
        if !stat.recognized {
            peer.fail("not a 'show stat' answer:", quoting: stat.firstLine)
            return .failed
        }
        if !stat.complete {
            peer.fail("'show stat' answer cut short")
            return .failed
        }
        return .ok
    }

    private func finish(_ r: Result) {
        result = r
        lastStep = step
        step = .idle
    }
}
