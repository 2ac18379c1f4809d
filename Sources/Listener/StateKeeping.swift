import CSocketShim

// Level-triggered: the listener keeps the state every mapped server should have and makes
// each HAProxy match it. An event only changes the desired state; sending is retried with
// backoff until HAProxy takes it, and a periodic read of `show servers state` repairs what
// HAProxy lost (restart, reload) or what a person changed by hand.

struct Timing: Equatable {
    var timeoutMs = 2000
    var retryMaxMs = 30000
    /// 0: no periodic resync.
    var resyncMs = 30000
    static let retryFirstMs = 500
}

/// What one HAProxy knows of a mapped server, from its last `show servers state`.
enum Presence: Equatable {
    case unknown, present, missingServer, missingBackend
}

/// One HAProxy instance, reached through one stats socket, with its own pending changes
/// and backoff: one that is down or hanging costs the others at most one timeout.
final class HAProxyInstance {
    let peer: Peer
    var pending: [Bool]
    var presence: [Presence]
    /// srv_admin_state and srv_op_state from the last read; -1 when not seen.
    var adminBits: [Int]
    var opState: [Int]
    var failures = 0
    var retryAt: Int64 = 0
    /// The first read is the start-up check.
    var resyncAt: Int64 = 0

    init(peer: Peer, targets: Int) {
        self.peer = peer
        pending = Array(repeating: false, count: targets)
        presence = Array(repeating: .unknown, count: targets)
        adminBits = Array(repeating: -1, count: targets)
        opState = Array(repeating: -1, count: targets)
    }

    var hasPending: Bool { pending.contains(true) }
}

final class StateKeeper {
    let table: MappingTable
    let instances: [HAProxyInstance]
    let log: Logger
    let timing: Timing
    let dryRun: Bool
    /// nil: not known yet (no event, no start-up sync); such a server is left alone.
    private(set) var desired: [AdminState?]
    private let request = FixedBuffer(capacity: 8192)
    private let answer = FixedBuffer(capacity: 16384)
    private var batch: [Int] = []
    private let stateReader = ServerStateReader()

    init(table: MappingTable, peers: [Peer], timing: Timing, log: Logger, dryRun: Bool) {
        self.table = table
        self.timing = timing
        self.log = log
        self.dryRun = dryRun
        instances = peers.map { HAProxyInstance(peer: $0, targets: table.targets.count) }
        desired = Array(repeating: nil, count: table.targets.count)
        batch.reserveCapacity(table.targets.count)
    }

    /// Records that `target` should be in `state` on every instance.
    func record(target: Int, state: AdminState) {
        desired[target] = state
        for i in instances { i.pending[target] = true }
    }

    /// Does what is due at `now`: reads, repairs, sends, retries.
    func runDue(now: Int64) {
        for i in instances where i.failures == 0 || i.retryAt <= now {
            attempt(i, now: now)
        }
    }

    /// Milliseconds until something is due; -1 when nothing ever is.
    func msUntilDue(now: Int64) -> Int {
        var next = Int64.max
        for i in instances {
            // A retry starts with a read, so a failed instance waits for its retry alone.
            if i.failures > 0 {
                next = min(next, i.retryAt)
                continue
            }
            if i.hasPending { next = now }
            next = min(next, i.resyncAt)
        }
        if next == Int64.max { return -1 }
        return Int(max(0, min(next - now, Int64(Int32.max))))
    }

    private func attempt(_ i: HAProxyInstance, now: Int64) {
        // After a failure HAProxy may have restarted and forgotten everything: read first.
        if i.failures > 0 || i.resyncAt <= now {
            guard readServerStates(i) else { return failed(i, now: now) }
            i.resyncAt = timing.resyncMs > 0 ? now + Int64(timing.resyncMs) : Int64.max
        }
        while i.hasPending {
            guard sendPending(i) else { return failed(i, now: now) }
        }
        if i.failures > 0 {
            log.log(.info, "\(i.peer.display): reachable again after \(i.failures) failed attempt(s); HAProxy is up to date")
            i.failures = 0
        }
    }

    private func failed(_ i: HAProxyInstance, now: Int64) {
        i.failures += 1
        let waiting = i.pending.reduce(0) { $0 + ($1 ? 1 : 0) }
        if timing.retryMaxMs == 0 {
            if let l = log.begin(.error) {
                l.append(i.peer.error.bytes)
                l.append("; not retried (--retry-max 0), ")
                l.append(decimal: waiting)
                l.append(" change(s) dropped")
                log.end()
            }
            for t in i.pending.indices { i.pending[t] = false }
            i.failures = 0
            // Nor is a failed read: the next one is the next periodic resync.
            i.resyncAt = timing.resyncMs > 0 ? now + Int64(timing.resyncMs) : Int64.max
            return
        }
        let shift = min(i.failures - 1, 20)
        let backoff = min(Timing.retryFirstMs << shift, timing.retryMaxMs)
        i.retryAt = now + Int64(backoff)
        if let l = log.begin(i.failures == 1 ? .error : .debug) {
            l.append(i.peer.error.bytes)
            l.append("; ")
            l.append(decimal: waiting)
            l.append(" change(s) pending, attempt ")
            l.append(decimal: i.failures + 1)
            l.append(" in ")
            l.append(decimal: backoff)
            l.append(" ms")
            log.end()
        }
    }

    /// Sends as many pending changes as fit in one command line; false when the exchange
    /// failed (what HAProxy answered before that is taken).
    private func sendPending(_ i: HAProxyInstance) -> Bool {
        request.clear()
        batch.removeAll(keepingCapacity: true)
        for t in i.pending.indices where i.pending[t] {
            guard let state = desired[t] else {
                i.pending[t] = false
                continue
            }
            let before = request.count
            if !batch.isEmpty { request.append(byte: UInt8(ascii: ";")) }
            appendCommand(target: t, state: state)
            if request.count > request.capacity - 1 || request.truncated {
                request.count = before
                request.truncated = false
                break
            }
            batch.append(t)
        }
        if batch.isEmpty { return true }
        if dryRun {
            for t in batch {
                if let l = log.begin(.info) {
                    l.append("dry run: would send '")
                    appendCommand(target: t, state: desired[t]!, to: l)
                    l.append("' to ")
                    l.append(i.peer.display)
                    log.end()
                }
                i.pending[t] = false
            }
            return true
        }
        request.append(byte: newline)
        answer.clear()
        let ok = i.peer.exchange(request.bytes, timeoutMs: timing.timeoutMs) { answer.append($0) }
        var pos = 0
        for t in batch {
            guard let body = nextAnswer(answer.bytes, from: &pos), !answer.truncated else {
                if ok {
                    // The peer closed without answering every command: HAProxy died mid-answer,
                    // or it is not HAProxy.
                    i.peer.fail("answer cut short:", quoting: answer.bytes.slice(pos..<answer.count))
                }
                return false
            }
            i.pending[t] = false
            if body.count == 0 {
                if let l = log.begin(.debug) {
                    l.append(i.peer.display)
                    l.append(": '")
                    appendCommand(target: t, state: desired[t]!, to: l)
                    l.append("' done")
                    log.end()
                }
                continue
            }
            if answerSaysMissing(body) { i.presence[t] = .missingServer }
            if let l = log.begin(.error) {
                l.append("HAProxy at ")
                l.append(i.peer.display)
                l.append(" answered '")
                l.append(body)
                l.append("' to '")
                appendCommand(target: t, state: desired[t]!, to: l)
                l.append("'")
                log.end()
            }
        }
        return ok
    }

    private func appendCommand(target t: Int, state: AdminState, to buffer: FixedBuffer? = nil) {
        appendSetServer(buffer ?? request, table.targets[t], state)
    }

    /// Reads `show servers state`, notes what it finds, and marks pending every server whose
    /// forced admin state differs from the desired one. False when the read failed.
    func readServerStates(_ i: HAProxyInstance) -> Bool {
        stateReader.reset()
        for t in i.adminBits.indices {
            i.adminBits[t] = -1
            i.opState[t] = -1
        }
        var backendSeen = Array(repeating: false, count: table.targets.count)
        let request: StaticString = "show servers state\n"
        let ok = i.peer.exchange(request.bytes, timeoutMs: timing.timeoutMs) { chunk in
            stateReader.feed(chunk) { line in
                for (t, target) in table.targets.enumerated()
                where target.backend.withBytes({ line.backend.equals($0) }) {
                    backendSeen[t] = true
                    if target.server.withBytes({ line.server.equals($0) }) {
                        i.adminBits[t] = line.adminBits
                        i.opState[t] = line.opState
                    }
                }
            }
        }
        guard ok else { return false }
        if !stateReader.recognized {
            i.peer.fail("not a 'show servers state' answer:", quoting: stateReader.firstLine.bytes)
            return false
        }
        if !stateReader.complete {
            i.peer.fail("'show servers state' answer cut short")
            return false
        }
        for t in table.targets.indices {
            let now: Presence = i.adminBits[t] >= 0 ? .present : backendSeen[t] ? .missingServer : .missingBackend
            if now != i.presence[t] && now != .present {
                let what = now == .missingBackend ? "backend '\(table.targets[t].backend.string)'" : "server '\(table.targets[t].name)'"
                log.log(.warning, "HAProxy at \(i.peer.display) has no \(what) (mapped as \(mappedAs(t)))")
            }
            i.presence[t] = now
            guard now == .present, let want = desired[t] else { continue }
            let found = AdminState(adminBits: i.adminBits[t])
            if found != want && !i.pending[t] {
                log.log(.warning, "resync: \(table.targets[t].name) at \(i.peer.display) is \(found.word), want \(want.word); repairing")
                i.pending[t] = true
            }
        }
        return true
    }

    private func mappedAs(_ t: Int) -> String {
        table.mappings.indices.filter { table.targetOf[$0] == t }.map { table.mappings[$0].text }
            .joined(separator: ", ")
    }
}
