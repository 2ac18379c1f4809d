/// The one drain, on the reactor (`wrap` at a stop signal, `stop`/`restart` before they ask
/// supervisord): drain on every socket, then read `show stat` every `pollEveryMs` until the
/// servers have no current and no queued session, or the deadline. A server already DOWN or
/// in MAINT gets no new request and is not waited for; one UP with no session ends the wait at
/// once. A socket where `set` failed or `show stat` cannot be read is not waited on: which
/// ones, the owner reads from `setFailed` and `readFailed` and decides.
final class Drain {
    let groups: [ServerGroup]
    private let reactor: Reactor
    private let pollEveryMs: Int64
    private var timer: Timer!
    private var deadline = Int64.max
    private(set) var startedAt: Int64 = 0
    /// Per group: waiting on it still.
    private var waiting: [Bool]
    private var nextReadAt: [Int64]
    /// Per group: its `set server … drain` failed (words in its peer's error) / a read failed.
    private(set) var setFailed: [Bool]
    private(set) var readFailed: [Bool]
    /// Sessions the last read of each group found.
    private var left: [Int]
    /// The sessions found by the first read of every socket, once known (for messages).
    var onFirstCount: ((Int) -> Void)?
    private var firstCounted = false
    private var owners: [(ServerGroup, Int64) -> Void] = []
    private var starting = false
    private(set) var finished = false
    /// Called once, when every socket is drained or the deadline passed.
    var onFinished: (Int64) -> Void = { _ in }

    init(_ groups: [ServerGroup], reactor: Reactor, pollEveryMs: Int64) {
        self.groups = groups
        self.reactor = reactor
        self.pollEveryMs = pollEveryMs
        waiting = Array(repeating: false, count: groups.count)
        nextReadAt = Array(repeating: 0, count: groups.count)
        setFailed = waiting
        readFailed = waiting
        left = Array(repeating: 0, count: groups.count)
        timer = Timer { [unowned self] now in poll(now: now) }
    }

    /// Sessions still open on the servers at the last reads.
    var sessionsLeft: Int { left.reduce(0, +) }
    var timedOut: Bool { finished && waiting.contains(true) }

    func start(deadline: Int64, now: Int64) {
        self.deadline = deadline
        startedAt = now
        reactor.add(timer)
        // Every socket is waited on before the first `set` starts: one that fails at once
        // must not end the drain of the others.
        for k in groups.indices { waiting[k] = true }
        starting = true
        for (k, g) in groups.enumerated() {
            // The owner still hears each end (it may log it); the drain listens too.
            let owner = g.onEnd
            owners.append(owner)
            g.onEnd = { [unowned self] g, now in
                owner(g, now)
                ended(k, g, now: now)
            }
            g.set(.drain, now: now)
        }
        starting = false
        timer.fire(at: deadline)
        check(now: now)
    }

    private func ended(_ k: Int, _ g: ServerGroup, now: Int64) {
        guard !finished else { return }
        switch g.lastStep {
        case .setting:
            if g.outcome != .ok {
                setFailed[k] = true
                waiting[k] = false
            } else {
                g.readStat(now: now)
            }
        case .readingStat:
            if g.outcome != .ok {
                readFailed[k] = true
                waiting[k] = false
            } else {
                left[k] = g.sessions
                if g.sessions == 0 { waiting[k] = false } else { nextReadAt[k] = now + pollEveryMs }
            }
            countFirst()
        case .idle, .gating:
            break
        }
        check(now: now)
    }

    /// The first count, once every socket has been read (or given up on).
    private func countFirst() {
        guard !firstCounted, groups.indices.allSatisfy({ groups[$0].lastStep == .readingStat || !waiting[$0] }) else { return }
        firstCounted = true
        onFirstCount?(sessionsLeft)
    }

    private func poll(now: Int64) {
        guard !finished else { return }
        for (k, g) in groups.enumerated() where waiting[k] && !g.busy && g.lastStep == .readingStat && nextReadAt[k] <= now {
            g.readStat(now: now)
        }
        check(now: now)
    }

    private func check(now: Int64) {
        guard !finished, !starting else { return }
        if !waiting.contains(true) || now >= deadline { return finish(now: now) }
        var at = deadline
        for (k, g) in groups.enumerated() where waiting[k] && !g.busy && g.lastStep == .readingStat {
            at = min(at, nextReadAt[k])
        }
        timer.fire(at: at)
    }

    /// Ends the drain without its outcome (an interrupted command undoes it): nothing more is
    /// read, and `onFinished` is not told.
    func cancel() {
        guard !finished else { return }
        finished = true
        timer.cancel()
        reactor.remove(timer)
        for (g, owner) in zip(groups, owners) { g.onEnd = owner }
    }

    private func finish(now: Int64) {
        cancel()
        onFinished(now)
    }
}
