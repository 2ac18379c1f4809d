/// The one drain, on the reactor (`wrap` at a stop signal, `stop`/`restart` before they ask
/// supervisord): drain on every socket, then read `show stat` every `pollEveryMs` until the
/// servers have no current and no queued session, or the deadline. A server already DOWN or
/// in MAINT gets no new request and is not waited for; one UP with no session ends the wait at
/// once. A socket where `set` failed or `show stat` cannot be read is not waited on: which
/// ones, the owner reads from `setFailed` and `readFailed` and decides.
///
/// Through the agent (no stats socket to push to): the listener sets the drain (from
/// supervisord's STOPPING); each agent port is asked every `pollEveryMs` until every HAProxy
/// polling it has been told drain, then the kernel's count of connections on the program's
/// `ports` until it is 0. A port that cannot be asked is not waited on (`agentFailed`).
final class Drain {
    let groups: [ServerGroup]
    let agents: [AgentWatch]
    private let ports: [Int]
    private var agentWaiting: [Bool]
    private var nextAgentAt: [Int64]
    private(set) var agentFailed: [Bool]
    private var portsWaiting = false
    private var localSessions = 0
    private let tcpBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 16384)
    private let reactor: Reactor
    private let pollEveryMs: Int64
    private var timer: Timer!
    private var deadline = Int64.max
    private(set) var startedAt: Int64 = 0
    /// Per group: waiting on it still, and whether its `show stat` was read at least once
    /// (its drain was taken: from then on it is read every `pollEveryMs`).
    private var waiting: [Bool]
    private var read: [Bool]
    private var nextReadAt: [Int64]
    /// Per group: its `set server … drain` failed (words in its peer's error) / a read failed.
    private(set) var setFailed: [Bool]
    private(set) var readFailed: [Bool]
    /// Sessions the last read of each group found.
    private var left: [Int]
    /// The sessions found by the first read of every socket, once known (for messages).
    var onFirstCount: ((Int) -> Void)?
    private var firstCounted = false
    private var owners: [(ServerGroup, ServerGroup.Ended, Int64) -> Void] = []
    private var starting = false
    private(set) var finished = false
    /// Called once, when every socket is drained or the deadline passed.
    var onFinished: (Int64) -> Void = { _ in }

    init(_ groups: [ServerGroup], agents: [AgentWatch] = [], ports: [Int] = [], reactor: Reactor, pollEveryMs: Int64) {
        self.groups = groups
        self.agents = agents
        self.ports = ports
        agentWaiting = Array(repeating: false, count: agents.count)
        nextAgentAt = Array(repeating: 0, count: agents.count)
        agentFailed = agentWaiting
        self.reactor = reactor
        self.pollEveryMs = pollEveryMs
        waiting = Array(repeating: false, count: groups.count)
        read = waiting
        nextReadAt = Array(repeating: 0, count: groups.count)
        setFailed = waiting
        readFailed = waiting
        left = Array(repeating: 0, count: groups.count)
        timer = Timer { [unowned self] now in poll(now: now) }
    }

    deinit { tcpBuffer.deallocate() }

    /// Sessions still open on the servers at the last reads (and on the program's ports).
    var sessionsLeft: Int { left.reduce(0, +) + localSessions }
    var timedOut: Bool { finished && (waiting.contains(true) || agentWaiting.contains(true) || portsWaiting) }
    /// Every agent port asked has told every poller, and no port was left waiting for.
    var agentsTold: Bool { !agentWaiting.contains(true) && !agentFailed.contains(true) }

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
            g.onEnd = { [unowned self] g, event, now in
                owner(g, event, now)
                ended(k, g, event, now: now)
            }
            g.set(.drain, now: now)
        }
        for (k, a) in agents.enumerated() {
            agentWaiting[k] = true
            a.onRound = { [unowned self] now in agentRound(k, now: now) }
            a.round(now: now)
        }
        portsWaiting = !ports.isEmpty
        starting = false
        timer.fire(at: deadline)
        check(now: now)
    }

    private func ended(_ k: Int, _ g: ServerGroup, _ event: ServerGroup.Ended, now: Int64) {
        guard !finished else { return }
        switch event {
        case .set(_, ok: false):
            setFailed[k] = true
            waiting[k] = false
        case .set(_, ok: true):
            g.readStat(now: now)
        case .read(ok: false):
            read[k] = true
            readFailed[k] = true
            waiting[k] = false
            countFirst()
        case .read(ok: true):
            read[k] = true
            left[k] = g.sessions
            if g.sessions == 0 { waiting[k] = false } else { nextReadAt[k] = now + pollEveryMs }
            countFirst()
        }
        check(now: now)
    }

    private func agentRound(_ k: Int, now: Int64) {
        guard !finished else { return }
        let a = agents[k]
        if a.failed {
            agentFailed[k] = true
            agentWaiting[k] = false
        } else if a.drained {
            agentWaiting[k] = false
        } else {
            nextAgentAt[k] = now + pollEveryMs
        }
        if !agentWaiting.contains(true) { countPorts() }
        check(now: now)
    }

    /// Once every poller was told: the program's own connections, from the kernel.
    private func countPorts() {
        guard portsWaiting else { return }
        localSessions = 0
        for p in ports { localSessions += establishedConnections(localPort: p, buffer: tcpBuffer, capacity: 16384) ?? 0 }
        if localSessions == 0 { portsWaiting = false }
    }

    /// The first count, once every socket has been read (or given up on).
    private func countFirst() {
        guard !firstCounted, groups.indices.allSatisfy({ read[$0] || !waiting[$0] }) else { return }
        firstCounted = true
        onFirstCount?(sessionsLeft)
    }

    private func poll(now: Int64) {
        guard !finished else { return }
        for (k, g) in groups.enumerated() where waiting[k] && !g.busy && read[k] && nextReadAt[k] <= now {
            g.readStat(now: now)
        }
        for (k, a) in agents.enumerated() where agentWaiting[k] && !a.busy && nextAgentAt[k] <= now { a.round(now: now) }
        if !agentWaiting.contains(true) { countPorts() }
        check(now: now)
    }

    private func check(now: Int64) {
        guard !finished, !starting else { return }
        let agentsDone = !agentWaiting.contains(true)
        if !waiting.contains(true) && agentsDone && !portsWaiting || now >= deadline { return finish(now: now) }
        var at = deadline
        for (k, g) in groups.enumerated() where waiting[k] && !g.busy && read[k] {
            at = min(at, nextReadAt[k])
        }
        for (k, a) in agents.enumerated() where agentWaiting[k] && !a.busy { at = min(at, nextAgentAt[k]) }
        if agentsDone && portsWaiting { at = min(at, now + pollEveryMs) }
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
        for a in agents { a.onRound = { _ in } }
    }

    private func finish(now: Int64) {
        cancel()
        onFinished(now)
    }
}
