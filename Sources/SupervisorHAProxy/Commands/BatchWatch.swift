/// A batch of a rolling restart under watch (`--healthy-for`): HAProxy's counters for its
/// servers and for the rest of their backends, read on every stats socket at a steady pace,
/// judged by `BatchJudge` until a verdict is final. A socket whose worker changed (a reload:
/// `show info`'s pid, or counters that went back) starts the window again: its counters
/// restarted with the new worker.
final class BatchWatch {
    /// One line of what the watch saw, for the command to print.
    var onNote: (String) -> Void = { _ in }
    /// The last verdict, final once `finished`.
    private(set) var verdict = BatchJudge.Verdict.watching(tooLittleTraffic: false)
    private(set) var finished = false
    /// The backends the batch has servers in, and per backend, over the window, the batch's
    /// counters and the rest's (summed over every socket).
    let backends: [[UInt8]]
    private(set) var batch: [ServerCounters]
    private(set) var rest: [ServerCounters]
    /// When the window began (again), and when the batch came back.
    private(set) var windowStart: Int64
    let upAt: Int64
    /// Why a read failed, when the last one did.
    private(set) var readFailure: String?

    private let judge: BatchJudge
    private let sockets: [SocketCounters]
    private var timer: Timer!
    private unowned let reactor: Reactor
    private var saidTooLittle = false
    static let readEveryMs: Int64 = 1000

    /// `servers`: per stats socket, its client and the batch's servers on it.
    init(_ servers: [(client: HAProxyClient, targets: [Target])], settings: BatchJudge.Settings, reactor: Reactor, now: Int64) {
        var backends: [[UInt8]] = []
        for (_, targets) in servers { for t in targets where !backends.contains(t.backend) { backends.append(t.backend) } }
        self.backends = backends
        batch = Array(repeating: ServerCounters(), count: backends.count)
        rest = batch
        judge = BatchJudge(settings: settings)
        self.reactor = reactor
        windowStart = now
        upAt = now
        sockets = servers.map { SocketCounters(client: $0.client, batch: $0.targets, backends: backends) }
        timer = Timer { [unowned self] now in read(now: now) }
        reactor.add(timer)
        read(now: now)
    }

    /// Stops reading (the command goes on, or gives up).
    func end() {
        finished = true
        timer.cancel()
        reactor.remove(timer)
        for s in sockets { s.client.abandonRead() }
    }

    private func read(now: Int64) {
        guard !finished else { return }
        var left = sockets.count
        for s in sockets {
            s.read(now: now) { [unowned self] now in
                left -= 1
                if left == 0 { judgeRead(now: now) }
            }
        }
    }

    private func judgeRead(now: Int64) {
        guard !finished else { return }
        if let failed = sockets.first(where: { $0.failure != nil }) {
            // No counters this time: the window goes on, judged on the next whole read.
            readFailure = failed.failure
            timer.fire(at: now + BatchWatch.readEveryMs)
            return
        }
        readFailure = nil
        let restarted = sockets.filter(\.restarted)
        if !restarted.isEmpty {
            // The window starts again everywhere, so that every socket counts the same span.
            windowStart = now
            for s in sockets { s.rebase() }
            for s in restarted { onNote("HAProxy at \(s.client.peer.display) \(s.restartWords): its counters started again; the watch starts again") }
        }
        for b in backends.indices {
            batch[b] = sockets.reduce(ServerCounters()) { $0 + $1.batchDelta[b] }
            rest[b] = sockets.reduce(ServerCounters()) { $0 + $1.restDelta[b] }
        }
        verdict = combined(now: now)
        switch verdict {
        case .watching(let tooLittle):
            if tooLittle && !saidTooLittle {
                saidTooLittle = true
                onNote("too little traffic to judge yet: \(grouped(batch.reduce(0) { $0 + $1.tried })) request(s) in \(secondsText(now - windowStart)) (\(BatchJudge.leastRequests) needed); waiting up to the progress deadline")
            }
            timer.fire(at: now + BatchWatch.readEveryMs)
        default:
            end()
        }
    }

    /// One verdict over every backend: the worst evidence first (broken, checks, a backend
    /// failing for everyone); healthy when enough was seen overall and no backend with
    /// enough traffic to judge shows too many errors.
    private func combined(now: Int64) -> BatchJudge.Verdict {
        let watched = now - windowStart, sinceUp = now - upAt
        let each = backends.indices.map { judge.verdict(batch: batch[$0], rest: rest[$0], watchedMs: watched, sinceUpMs: sinceUp) }
        for v in [BatchJudge.Verdict.broken, .checksFailing, .backendFailing] where each.contains(v) { return v }
        let total = judge.verdict(batch: batch.reduce(ServerCounters(), +), rest: rest.reduce(ServerCounters(), +),
                                  watchedMs: watched, sinceUpMs: sinceUp)
        return total == .healthy && !each.contains(where: { $0 == .watching(tooLittleTraffic: false) }) ? .healthy : total
    }

    /// Which backends show what was judged: "app/app1: 212 of 530 failed (40 %: 212 5xx)
    /// in 3.1 s; the rest of backend app: 0 of 1,060 failed".
    func evidence(now: Int64) -> String {
        backends.indices.map { b in
            var names: [String] = []
            for s in sockets { for t in s.batch where t.backend == backends[b] && !names.contains(t.name) { names.append(t.name) } }
            let checks = batch[b].checkDowns > 0 ? "; its health check took it DOWN \(batch[b].checkDowns) time(s)" : ""
            return "\(names.joined(separator: ", ")): \(batch[b].words) in \(secondsText(now - windowStart))\(checks); the rest of backend \(backends[b].string): \(rest[b].words)"
        }.joined(separator: "; ")
    }
}

/// One stats socket's part of a watch: `show info` (the worker's pid), then `show stat` of
/// the batch's backends; per backend the counters summed for the batch's servers and for
/// the others, and their difference from the first read of this worker.
final class SocketCounters: HAProxyAnswers {
    let client: HAProxyClient
    let batch: [Target]
    private let backends: [[UInt8]]
    /// Which worker answered the last read (a reload: another pid or start time).
    private var worker = WorkerWatch()
    private var baseline: (batch: [ServerCounters], rest: [ServerCounters])?
    private var reading: (batch: [ServerCounters], rest: [ServerCounters])
    private(set) var batchDelta: [ServerCounters]
    private(set) var restDelta: [ServerCounters]
    /// The last read's failure, in the peer's words.
    private(set) var failure: String?
    /// Whether the last read found a new worker (or counters gone back): the baseline was
    /// taken again.
    private(set) var restarted = false
    private(set) var restartWords = ""
    private var done: (Int64) -> Void = { _ in }

    init(client: HAProxyClient, batch: [Target], backends: [[UInt8]]) {
        self.client = client
        self.batch = batch
        self.backends = backends
        let zero = Array(repeating: ServerCounters(), count: backends.count)
        reading = (zero, zero)
        batchDelta = zero
        restDelta = zero
    }

    func read(now: Int64, _ done: @escaping (Int64) -> Void) {
        self.done = done
        restarted = false
        client.showInfo(now: now, for: self)
    }

    /// The window starts at the last read.
    func rebase() {
        baseline = reading
        batchDelta = batchDelta.map { _ in ServerCounters() }
        restDelta = batchDelta
    }

    func stat(_ line: StatLine) {
        guard let b = backends.firstIndex(where: { bytes in bytes.withBytes { line.backend.equals($0) } }) else { return }
        if batch.contains(where: { $0.backend == backends[b] && $0.server.withBytes { line.server.equals($0) } }) {
            reading.batch[b] = reading.batch[b] + line.counters
        } else {
            reading.rest[b] = reading.rest[b] + line.counters
        }
    }

    func finished(_ client: HAProxyClient, _ command: HAProxyClient.Command, ok: Bool, now: Int64) {
        guard ok else {
            failure = client.peer.errorText
            return done(now)
        }
        if command == .info {
            let zero = Array(repeating: ServerCounters(), count: backends.count)
            reading = (zero, zero)
            return client.showStat(backends: backends, now: now, for: self)
        }
        failure = nil
        let pid = client.info.pid ?? 0
        let replaced = worker.saw(pid: pid, start: client.info.startTime)
        if let base = baseline {
            var deltas: [(ServerCounters, ServerCounters)] = []
            for b in backends.indices {
                guard let d = reading.batch[b].since(base.batch[b]), let r = reading.rest[b].since(base.rest[b]) else { break }
                deltas.append((d, r))
            }
            if let old = replaced {
                restartWords = "has a new worker (pid \(old) -> \(pid))"
                restarted = true
            } else if deltas.count < backends.count {
                restartWords = "counts less than before (a new worker)"
                restarted = true
            } else {
                batchDelta = deltas.map(\.0)
                restDelta = deltas.map(\.1)
            }
        } else {
            baseline = reading
        }
        done(now)
    }
}
