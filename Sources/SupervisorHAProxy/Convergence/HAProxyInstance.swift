import CSocketShim

/// One HAProxy instance, reached through one stats socket: its pending changes, its
/// schedule (retry, resync, reload check) and the readiness gates of its servers (each gates
/// on this instance's own view). The I/O is its `HAProxyClient`'s; what is sent when, and
/// what an answer means, is decided here. One that is down or hanging costs the others
/// nothing: each has its own client on the reactor.
final class HAProxyInstance: HAProxyAnswers {
    let client: HAProxyClient
    private let table: MappingTable
    /// What every server should be: read here, changed only by `Convergence`.
    private let desired: DesiredStates
    private let log: Logger
    private let dryRun: Bool
    private unowned let reactor: Reactor
    private(set) var schedule: Schedule
    private(set) var pending: [Bool]
    private(set) var pendingCount = 0
    private(set) var view: ServerStates
    /// Wakes the instance for its next retry, resync or reload check.
    private var timer: Timer!
    let gates: ReadinessGates
    private var pollBackends: [[UInt8]] = []
    private var backendPolled: [Bool]
    private var batch: [Int] = []
    /// What each entry of the batch does, and whether it is a gate's entry.
    private var batchChange: [ServerChange] = []
    private var batchIsGate: [Bool] = []
    /// What resync repairs and what it leaves alone.
    private var rule: ResyncRule
    /// The worker HAProxy's `show info` last named.
    private(set) var worker = WorkerWatch()
    /// The command whose failures the back-off counts.
    private var failing = HAProxyClient.Command.none
    /// The next read follows a reload noticed without a state file: what it repairs, the new
    /// worker had taken into rotation.
    private var readAfterReload = false
    /// HAProxy's `server-state-file` (`--state-file`), rewritten from each `show servers
    /// state` read, and read again after each change HAProxy took: a new worker starts
    /// with what the listener set.
    private let stateFile: StateFileKeeper?

    var peer: Peer { client.peer }

    init(_ socket: SocketSpec, table: MappingTable, desired: DesiredStates, timing: Timing, log: Logger, dryRun: Bool,
         readyWhen: ReadyWhen, readyBoundMs: Int64, reactor: Reactor, stateFile: String? = nil) {
        client = HAProxyClient(socket, timeoutMs: timing.timeoutMs)
        self.table = table
        self.desired = desired
        self.log = log
        self.dryRun = dryRun
        self.reactor = reactor
        self.stateFile = stateFile.map { StateFileKeeper(path: $0, log: log) }
        schedule = Schedule(timing: timing)
        let n = table.targets.count
        pending = Array(repeating: false, count: n)
        rule = ResyncRule(count: n)
        view = ServerStates(table)
        gates = ReadinessGates(count: n, mode: readyWhen, boundMs: readyBoundMs, reactor: reactor)
        backendPolled = Array(repeating: false, count: table.backendCount)
        batch.reserveCapacity(n)
        batchChange.reserveCapacity(n)
        batchIsGate.reserveCapacity(n)
        pollBackends.reserveCapacity(table.backendCount)
        timer = Timer { [unowned self] now in startNext(now: now) }
        if let keeper = self.stateFile { client.serversStateTap = { keeper.write($0) } }
        gates.onPassed = { [unowned self] t, _ in
            if let l = log.begin(.info) {
                l.append(table.targets[t].name)
                l.append(" serves at ")
                l.append(peer.display)
                l.append(": sending READY")
                log.end()
            }
            markPending(t)
        }
        gates.onOverdue = { [unowned self] t, seen in
            log.log(.warning, "\(table.targets[t].name) at \(peer.display): \(gates.overdueWords(seen))")
        }
        rearm()
    }

    /// Its members of the reactor: the client, and the timer.
    var members: [Pollable] { [client, timer] }

    /// The desired state of t changed (an event, a sync): ready goes through the gate.
    func changed(_ t: Int, from old: AdminState?, to new: AdminState) {
        rule.decided(t)
        if new == .ready && !dryRun {
            let now = reactor.now
            gates.begin(t, fromMaint: old != nil && old != .ready && old != .drain, now: now)
            if gates.holding(t) {
                clearPending(t)
                return rearm()
            }
        } else {
            gates.open(t)
        }
        markPending(t)
    }

    /// t starts (STARTING, RUNNING), and its start here belongs to its `wrap` (maint, then
    /// its own gate, after READY=1 with `--notify`): nothing to send, no gate, and its wrap's
    /// maint or drain is left alone by resync.
    func leave(_ t: Int) {
        gates.open(t)
        clearPending(t)
        rule.forget(t)
        rearm()
    }

    func markPending(_ t: Int) {
        if !pending[t] {
            pending[t] = true
            pendingCount += 1
        }
        rearm()
    }

    private func clearPending(_ t: Int) {
        if pending[t] {
            pending[t] = false
            pendingCount -= 1
        }
    }

    /// Whether nothing is in flight and nothing that can go is waiting (or it is failing).
    var settled: Bool { !client.busy && (pendingCount == 0 && gates.entering == 0 || schedule.failures > 0) }

    private var hasWork: Bool { pendingCount > 0 || gates.entering > 0 }

    /// The timer at the next time something is due (none while an exchange is in flight: its
    /// end decides).
    private func rearm() {
        if client.busy { return timer.cancel() }
        var at = schedule.wakeAt(hasPending: hasWork)
        if schedule.failures == 0 && gates.polling > 0 { at = min(at, gates.nextPollAt) }
        timer.fire(at: at)
    }

    private func startNext(now: Int64) {
        guard !client.busy else { return }
        if schedule.readDue(now: now) {
            view.begin()
            stateFile?.begin()
            client.showServersState(now: now, for: self)
        } else if hasWork {
            startSend(now: now)
        } else if gates.pollDue(now: now) {
            pollGates(now: now)
        } else if schedule.infoDue(now: now) {
            client.showInfo(now: now, for: self)
        }
        rearm()
    }

    // MARK: answers

    func serverState(_ line: ServerStateLine) { view.take(line, table) }

    func stat(_ line: StatLine) {
        guard let t = table.target(backend: line.backend, server: line.server), gates.holding(t) else { return }
        gates.take(line, t, now: reactor.now)
    }

    func finished(_ client: HAProxyClient, _ command: HAProxyClient.Command, ok: Bool, now: Int64) {
        var good = ok
        if ok {
            switch command {
            case .serversState: readFinished(now: now)
            case .info: infoFinished(now: now)
            case .set: good = sendFinished(now: now)
            case .stat:
                gates.polled(whole: true, now: now)
            case .none: break
            }
        }
        if good {
            // Back-off is per failing command: a read that goes through says nothing of a
            // `set` that keeps failing (a socket that answers reads and drops commands).
            if schedule.failures == 0 || command == failing || failing != .set || !hasWork {
                let failures = schedule.succeeded()
                if failures > 0 {
                    log.log(.info, "\(peer.display): reachable again after \(failures) failed attempt(s)")
                }
                failing = .none
            }
        } else {
            if command == .serversState { stateFile?.abandon() }
            failing = command
            failed(now: now)
        }
        if schedule.wakeAt(hasPending: hasWork) <= now { startNext(now: now) } else { rearm() }
    }

    private func failed(now: Int64) {
        // What comes back may be another HAProxy: its worker is learnt anew.
        worker.forget()
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
        // Said once per back-off step (the wait doubles up to --retry-max), not per attempt.
        let newStep = schedule.failures == 1 || backoff > Timing.retryFirstMs << min(schedule.failures - 2, 20)
        if let l = log.begin(newStep ? .error : .debug) {
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

    /// Notes what the read found, and marks pending every server whose forced admin state
    /// differs from the desired one, as `ResyncRule` judges it.
    private func readFinished(now: Int64) {
        schedule.readDone(now: now)
        let reloadRead = readAfterReload
        readAfterReload = false
        stateFile?.keep(for: peer.display)
        if let l = log.begin(.debug) {
            l.append(peer.display)
            l.append(": read 'show servers state' (")
            l.append(decimal: client.received)
            l.append(" bytes)")
            log.end()
        }
        view.conclude(table) { t, found in
            let target = table.targets[t]
            let what = found == .missingBackend ? "backend '\(target.backend.string)'" : "server '\(target.name)'"
            log.log(.warning, "HAProxy at \(peer.display) has no \(what) (mapped as \(table.mappingsText(of: t)))")
        }
        for t in table.targets.indices where view.presence[t] == .present {
            guard let want = desired[t] else { continue }
            let actual = view.admin(t)
            if gates.holding(t) {
                // Out of rotation on purpose; ready again once the gate had taken it out (a
                // reload forgot), or back in maint while its check was to bring it up (a
                // reload from a state file written before the entry): anew. A gate still
                // deciding looks for itself.
                let lost = actual == .ready || actual == .maint && gates.steps[t] == .checking
                if lost && gates.steps[t] != .deciding { gates.begin(t, fromMaint: true, now: now) }
                continue
            }
            guard !pending[t] else { continue }
            switch rule.judge(t, actual: actual, want: want) {
            case .agrees, .leaveAlone(say: false):
                break
            case .leaveAlone(say: true):
                let name = table.targets[t].name
                log.log(.warning, "resync: \(name) at \(peer.display) is \(actual.word), want \(want.word): left alone, as somebody else set it (by hand, or a stop under way); 'set server \(name) state \(want.word)' hands it back")
            case .repair:
                // A new worker starts every server from its configuration, in rotation:
                // requests reached a stopped program's server from the reload until now.
                let fresh = reloadRead && actual == .ready && want != .ready
                    ? ": HAProxy's new worker took it into rotation at its start, and requests sent to it since then failed (without option redispatch); keep HAProxy's server-state-file (--state-file) so that a reload starts with it out"
                    : ""
                log.log(.warning, "resync: \(table.targets[t].name) at \(peer.display) is \(actual.word), want \(want.word); repairing\(fresh)")
                markPending(t)
            }
        }
    }

    // MARK: show info: a reload or restart noticed within a second

    /// A new worker (another Pid or Start_time_sec) has forgotten every runtime state:
    /// read and repair at once.
    private func infoFinished(now: Int64) {
        let info = client.info
        guard let pid = info.pid else { return }
        schedule.infoDone(now: now)
        if let known = worker.saw(pid: pid, start: info.startTime) {
            log.log(.info, "HAProxy at \(peer.display) was reloaded or restarted (worker pid \(known) -> \(pid)): reading its state")
            readAfterReload = stateFile == nil
            stateFile?.reloaded()
            schedule.readNow()
        }
    }

    // MARK: set server

    /// Sends as many pending changes, and gate entries, as fit in one command line.
    private func startSend(now: Int64) {
        batch.removeAll(keepingCapacity: true)
        batchChange.removeAll(keepingCapacity: true)
        batchIsGate.removeAll(keepingCapacity: true)
        if dryRun { return sayDryRun() }
        client.set(now: now, for: self) { add in
            for t in pending.indices where pending[t] {
                guard let state = desired[t], !gates.holding(t) else {
                    clearPending(t)
                    continue
                }
                guard add(table.targets[t], .state(state)) else { return }
                batch.append(t)
                batchChange.append(.state(state))
                batchIsGate.append(false)
            }
            gates.forEachEntry { t, change in
                guard add(table.targets[t], change) else { return false }
                batch.append(t)
                batchChange.append(change)
                batchIsGate.append(true)
                return true
            }
        }
    }

    /// `show stat` of the backends whose servers wait at their gate.
    private func pollGates(now: Int64) {
        pollBackends.removeAll(keepingCapacity: true)
        gates.forEachPolled { t in
            let b = table.backendOf[t]
            if !backendPolled[b] {
                backendPolled[b] = true
                pollBackends.append(table.targets[t].backend)
            }
        }
        for b in backendPolled.indices { backendPolled[b] = false }
        client.showStat(backends: pollBackends, now: now, for: self)
    }

    private func sayDryRun() {
        for t in pending.indices where pending[t] {
            if let state = desired[t], let l = log.begin(.info) {
                l.append("dry run: would send '")
                appendSetServer(l, table.targets[t], state)
                l.append("' to ")
                l.append(peer.display)
                log.end()
            }
            clearPending(t)
        }
    }

    /// Takes HAProxy's answer to each command of the batch (the client checked it is whole).
    private func sendFinished(now: Int64) -> Bool {
        client.forEachAnswer { k, body in
            let t = batch[k]
            guard case .state(let state) = batchChange[k], !batchIsGate[k] else {
                // A gate entry: from now on its check (or its probe) decides.
                if body.count == 0 {
                    rule.took(t, gates.entryChange[t] == .gateEntry ? .drain : .maint)
                    if stateFile != nil { schedule.readNow() }
                }
                gates.entered(t, ok: body.count == 0, now: now)
                if body.count > 0 {
                    log.log(.error, "HAProxy at \(peer.display) answered '\(String(bytes: body))' to the readiness gate's entry for \(table.targets[t].name)")
                } else if let l = log.begin(.info) {
                    l.append(table.targets[t].name)
                    l.append(" at ")
                    l.append(peer.display)
                    l.append(": ")
                    l.append(gates.entryWords(t))
                    log.end()
                }
                return
            }
            // A newer state that came while this one was on its way stays pending.
            if desired[t] == state { clearPending(t) }
            if body.count == 0 {
                rule.took(t, state)
                // The state file follows at once: a reload from now on starts with this.
                if stateFile != nil { schedule.readNow() }
                if let l = log.begin(.debug) {
                    l.append(peer.display)
                    l.append(": '")
                    appendSetServer(l, table.targets[t], state)
                    l.append("' done")
                    log.end()
                }
                return
            }
            if answerSaysMissing(body) { view.markMissing(t) }
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
