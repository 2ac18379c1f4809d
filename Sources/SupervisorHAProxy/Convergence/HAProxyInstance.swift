import CSocketShim

/// What one HAProxy knows of a mapped server, from its last `show servers state`.
enum Presence: Equatable {
    case unknown, present, missingServer, missingBackend
}

/// One HAProxy instance, reached through one stats socket: its pending changes, its
/// schedule, and the one exchange it has in flight. A member of the reactor, so one that is
/// down or hanging costs the others nothing.
final class HAProxyInstance: Pollable {
    let peer: Peer
    unowned let convergence: Convergence
    let exchange: Exchange
    private(set) var schedule: Schedule
    private(set) var pending: [Bool]
    private(set) var pendingCount = 0
    private(set) var presence: [Presence]
    /// srv_admin_state and srv_op_state from the last read; -1 when not seen.
    private(set) var adminBits: [Int]
    private(set) var opState: [Int]
    /// For `check`: read once, then rest.
    var readOnce = false
    private(set) var readsDone = 0
    private(set) var lastReadFailed = false

    private enum Task { case none, reading, sending, info }
    private var task = Task.none
    private var batch: [Int] = []
    /// The state each command of the batch sets.
    private var batchState: [AdminState] = []
    private var backendSeen: [Bool]
    private let request = FixedBuffer(capacity: 8192)
    private let answer = FixedBuffer(capacity: 16384)
    private var stateReader = ServerStateReader()
    private var info = InfoReader()
    /// The worker HAProxy's `show info` last named: a change means a reload or restart.
    private(set) var workerPid: Int?
    private var workerStart: Int?

    private var table: MappingTable { convergence.table }
    private var log: Logger { convergence.log }

    init(peer: Peer, convergence: Convergence) {
        self.peer = peer
        self.convergence = convergence
        exchange = Exchange(peer: peer)
        schedule = Schedule(timing: convergence.timing)
        let n = convergence.table.targets.count
        pending = Array(repeating: false, count: n)
        presence = Array(repeating: .unknown, count: n)
        adminBits = Array(repeating: -1, count: n)
        opState = Array(repeating: -1, count: n)
        backendSeen = Array(repeating: false, count: convergence.table.backendCount)
        batch.reserveCapacity(n)
        batchState.reserveCapacity(n)
    }

    func markPending(_ t: Int) {
        if !pending[t] {
            pending[t] = true
            pendingCount += 1
        }
    }

    private func clearPending(_ t: Int) {
        if pending[t] {
            pending[t] = false
            pendingCount -= 1
        }
    }

    /// Reads `show servers state` at the next turn (an HAProxy reload noticed).
    func readSoon() { schedule.readNow() }

    // MARK: reactor member

    var pollFD: Int32 { exchange.pollFD }
    var pollEvents: Int16 { exchange.pollEvents }

    var wakeAt: Int64 {
        if exchange.inFlight { return exchange.wakeAt }
        if readOnce { return readsDone > 0 ? Int64.max : 0 }
        return schedule.wakeAt(hasPending: pendingCount > 0)
    }

    func turn(revents: Int16, now: Int64) {
        if exchange.inFlight {
            let outcome = exchange.turn(revents: revents, now: now) { chunk in
                switch task {
                case .reading: readChunk(chunk)
                case .info: info.feed(chunk)
                default: answer.append(chunk)
                }
            }
            switch outcome {
            case .inProgress: return
            case .failed: return failed(now: now)
            case .finished:
                let ok: Bool
                switch task {
                case .reading: ok = readFinished(now: now)
                case .info: ok = infoFinished(now: now)
                default: ok = sendFinished()
                }
                guard ok else { return failed(now: now) }
                task = .none
                let failures = schedule.succeeded()
                if failures > 0 {
                    log.log(.info, "\(peer.display): reachable again after \(failures) failed attempt(s)")
                }
            }
        }
        if wakeAt <= now { startNext(now: now) }
    }

    private func startNext(now: Int64) {
        if readOnce || schedule.readDue(now: now) { return startRead(now: now) }
        if pendingCount > 0 { return startSend(now: now) }
        if schedule.infoDue(now: now) { startInfo(now: now) }
    }

    private func start(_ t: Task, now: Int64) {
        task = t
        if exchange.start(request.bytes, now: now, timeoutMs: convergence.timing.timeoutMs) == .failed {
            failed(now: now)
        }
    }

    private func failed(now: Int64) {
        if task == .reading {
            lastReadFailed = true
            readsDone += 1
        }
        task = .none
        // What comes back may be another HAProxy: its worker is learnt anew.
        workerPid = nil
        let waiting = pendingCount
        guard let backoff = schedule.failed(now: now) else {
            if let l = log.begin(.error) {
                l.append(peer.error.bytes)
                l.append("; not retried (--retry-max 0), ")
                l.append(decimal: waiting)
                l.append(" change(s) dropped")
                log.end()
            }
            for t in pending.indices { clearPending(t) }
            return
        }
        if let l = log.begin(schedule.failures == 1 ? .error : .debug) {
            l.append(peer.error.bytes)
            l.append("; ")
            l.append(decimal: waiting)
            l.append(" change(s) pending, attempt ")
            l.append(decimal: schedule.failures + 1)
            l.append(" in ")
            l.append(decimal: backoff)
            l.append(" ms")
            log.end()
        }
    }

    // MARK: show servers state

    private func startRead(now: Int64) {
        request.clear()
        request.append(showServersState)
        stateReader.reset()
        for t in adminBits.indices {
            adminBits[t] = -1
            opState[t] = -1
        }
        for b in backendSeen.indices { backendSeen[b] = false }
        start(.reading, now: now)
    }

    private func readChunk(_ chunk: ByteView) {
        stateReader.feed(chunk) { line in
            if let b = table.backend(line.backend) { backendSeen[b] = true }
            if let t = table.target(backend: line.backend, server: line.server) {
                adminBits[t] = line.adminBits
                opState[t] = line.opState
            }
        }
    }

    /// Notes what the read found, and marks pending every server whose forced admin state
    /// differs from the desired one. False when the answer was not a whole one.
    private func readFinished(now: Int64) -> Bool {
        readsDone += 1
        if !stateReader.recognized {
            peer.fail("not a 'show servers state' answer:", quoting: stateReader.firstLine)
            return false
        }
        if !stateReader.complete {
            peer.fail("'show servers state' answer cut short")
            return false
        }
        lastReadFailed = false
        schedule.readDone(now: now)
        if let l = log.begin(.debug) {
            l.append(peer.display)
            l.append(": read 'show servers state' (")
            l.append(decimal: exchange.received)
            l.append(" bytes)")
            log.end()
        }
        for t in table.targets.indices {
            let found: Presence = adminBits[t] >= 0 ? .present : backendSeen[table.backendOf[t]] ? .missingServer : .missingBackend
            if found != presence[t] && found != .present {
                let target = table.targets[t]
                let what = found == .missingBackend ? "backend '\(target.backend.string)'" : "server '\(target.name)'"
                log.log(.warning, "HAProxy at \(peer.display) has no \(what) (mapped as \(table.mappingsText(of: t)))")
            }
            presence[t] = found
            guard found == .present, let want = convergence.desired[t] else { continue }
            let actual = AdminState(adminBits: adminBits[t])
            if actual != want && !pending[t] {
                log.log(.warning, "resync: \(table.targets[t].name) at \(peer.display) is \(actual.word), want \(want.word); repairing")
                markPending(t)
            }
        }
        return true
    }

    // MARK: show info: a reload or restart noticed within a second

    private func startInfo(now: Int64) {
        request.clear()
        request.append(showInfo)
        info.reset()
        start(.info, now: now)
    }

    /// A new worker (another Pid or Start_time_sec) has forgotten every runtime state:
    /// read and repair at once.
    private func infoFinished(now: Int64) -> Bool {
        guard let pid = info.pid else {
            peer.fail("not a 'show info' answer:", quoting: info.firstLine)
            return false
        }
        schedule.infoDone(now: now)
        if let known = workerPid, known != pid || workerStart != info.startTime {
            log.log(.info, "HAProxy at \(peer.display) was reloaded or restarted (worker pid \(known) -> \(pid)): reading its state")
            schedule.readNow()
        }
        workerPid = pid
        workerStart = info.startTime
        return true
    }

    // MARK: set server

    /// Sends as many pending changes as fit in one command line.
    private func startSend(now: Int64) {
        request.clear()
        batch.removeAll(keepingCapacity: true)
        batchState.removeAll(keepingCapacity: true)
        for t in pending.indices where pending[t] {
            guard let state = convergence.desired[t] else {
                clearPending(t)
                continue
            }
            let before = request.count
            if !batch.isEmpty { request.append(byte: UInt8(ascii: ";")) }
            appendSetServer(request, table.targets[t], state)
            if request.count > request.capacity - 1 || request.truncated {
                request.count = before
                request.truncated = false
                break
            }
            batch.append(t)
            batchState.append(state)
        }
        if batch.isEmpty { return }
        if convergence.dryRun {
            for t in batch {
                if let l = log.begin(.info) {
                    l.append("dry run: would send '")
                    appendSetServer(l, table.targets[t], convergence.desired[t]!)
                    l.append("' to ")
                    l.append(peer.display)
                    log.end()
                }
                clearPending(t)
            }
            return
        }
        request.append(byte: newline)
        answer.clear()
        start(.sending, now: now)
    }

    /// Takes HAProxy's answer to each command of the batch; false when it was cut short.
    private func sendFinished() -> Bool {
        var pos = 0
        for (k, t) in batch.enumerated() {
            guard let body = nextAnswer(answer.bytes, from: &pos), !answer.truncated else {
                // The peer closed without answering every command: HAProxy died mid-answer,
                // or it is not HAProxy.
                peer.fail("answer cut short:", quoting: answer.bytes.slice(pos..<answer.count))
                return false
            }
            let state = batchState[k]
            // A newer state that came while this one was on its way stays pending.
            if convergence.desired[t] == state { clearPending(t) }
            if body.count == 0 {
                if let l = log.begin(.debug) {
                    l.append(peer.display)
                    l.append(": '")
                    appendSetServer(l, table.targets[t], state)
                    l.append("' done")
                    log.end()
                }
                continue
            }
            if answerSaysMissing(body) { presence[t] = .missingServer }
            if let l = log.begin(.error) {
                l.append("HAProxy at ")
                l.append(peer.display)
                l.append(" answered '")
                l.append(body)
                l.append("' to '")
                appendSetServer(l, table.targets[t], state)
                l.append("'")
                log.end()
            }
        }
        return true
    }
}
