import CSocketShim

/// The servers one command works on, on one stats socket (`wrap`'s, a step of `restart`):
/// the state it wants them in, and what the last `show stat` showed of them. Not a member of
/// the reactor: its exchanges run on the socket's one `HAProxyClient`, which several groups
/// may share one after another.
///
/// The one ordering rule: a `set` in flight is never abandoned, since HAProxy does not order
/// commands sent on two connections; a newer state is sent once it has ended, within what
/// is left of its own timeout (a hanging socket costs a stop one timeout, not two). A read in
/// flight changes nothing at HAProxy and is abandoned for a `set`.
///
/// `admit` is `set(.ready)` through the readiness gate: every target ready once it serves.
final class ServerGroup: HAProxyAnswers {
    enum Step: Equatable { case idle, setting(AdminState), readingStat, readingAdmin, gating }
    enum Outcome: Equatable { case none, ok, failed }
    /// What ended, as `onEnd` is told it: the wanted state settled (taken everywhere, or
    /// failed: the reason in the peer's error; an admission that failed is a failed
    /// `set(.ready)`), or a read (`show stat`, `show servers state`).
    enum Ended: Equatable {
        case set(AdminState, ok: Bool)
        case read(ok: Bool)
    }

    let client: HAProxyClient
    let targets: [Target]
    private let backends: [[UInt8]]
    /// Called when the wanted state is settled (taken, or failed) and when a read ended.
    var onEnd: (ServerGroup, Ended, Int64) -> Void = { _, _, _ in }
    private(set) var step = Step.idle
    /// How the last exchange ended.
    private(set) var outcome = Outcome.none
    /// The state last asked for with `set`, and whether it is settled.
    private(set) var wanted: AdminState?
    private(set) var settled = true
    /// When `wanted` was asked for: its exchange ends one timeout after, at the latest.
    private var wantedAt: Int64 = 0
    /// The targets a `set` in flight covers: as many as one request holds, the rest in the
    /// next exchanges (any number of servers, one bounded request at a time).
    private var chunk = 0..<0
    /// Set when HAProxy refused a `set server` (its words in the peer's error).
    private(set) var refused = false
    /// From the last `show stat`: current plus queued sessions on the servers that can still
    /// have them (not DOWN, not in MAINT).
    private(set) var sessions = 0
    /// Per target, from the last `show stat`: its status (`UP`, `DOWN 1/2`, `MAINT`...),
    /// and how many other servers of its backend are UP and ready.
    let status: [FixedBuffer]
    private(set) var othersUp: [Int]
    private var seen: [Bool]
    /// Per target, from the last `show servers state` (`readAdmin`): its forced admin state,
    /// nil when not found there.
    private(set) var admin: [AdminState?]
    /// While admitting: the targets' gates, and when they are next read.
    private(set) var gates: ReadinessGates?
    private var gateTimer: Timer?
    private weak var reactor: Reactor?
    /// Told once per target still not serving at the gate's bound (the gate's words for it).
    var onOverdue: (Target, String) -> Void = { _, _ in }
    /// An exchange of the gate failed (the reason in the peer's error) and is tried again:
    /// told at the first failure of a run (`failures` 1), and once when an exchange goes
    /// through after some (`failures` 0, `after` how many).
    var onGateRetry: (ServerGroup, _ failures: Int, _ after: Int, Int64) -> Void = { _, _, _, _ in }
    /// How many failed gate exchanges in a row end the admission as failed; nil: none ever
    /// does (`wrap`, which outlives an HAProxy restart; `restart` gives up, and says so).
    var gateRetryLimit: Int?
    /// Failed gate exchanges in a row, and when the next may go.
    private(set) var gateFailures = 0
    private var gateRetryAt: Int64 = 0
    /// Every gate passed: the `set ready` that ends the admission is under way.
    private var readyAfterGates = false
    static let gateRetryFirstMs: Int64 = 250
    static let gateRetryMaxMs: Int64 = 4000

    init(client: HAProxyClient, targets: [Target]) {
        self.client = client
        self.targets = targets
        var backends: [[UInt8]] = []
        for t in targets where !backends.contains(t.backend) { backends.append(t.backend) }
        self.backends = backends
        seen = Array(repeating: false, count: targets.count)
        status = targets.map { _ in FixedBuffer(capacity: 32) }
        othersUp = Array(repeating: 0, count: targets.count)
        admin = Array(repeating: nil, count: targets.count)
    }

    var peer: Peer { client.peer }
    var busy: Bool { step != .idle }

    /// Whether target k was found UP by its health check after the last `set`, or ready
    /// without a check: exactly `UP` (a server leaving maint shows `UP 1/3` until its first
    /// check passes) or `no check`.
    func settledUp(_ k: Int) -> Bool {
        seen[k] && (status[k].bytes.equals("UP") || status[k].bytes.equals("no check"))
    }

    /// Whether target k is found at all in the last `show stat`, and serving (UP, even with a
    /// check turning, or without checks).
    func serving(_ k: Int) -> Bool { seen[k] && StatLine.serving(status[k].bytes) }

    /// Every target to `state` (see the ordering rule above).
    func set(_ state: AdminState, now: Int64) {
        endGates()
        wanted = state
        wantedAt = now
        settled = false
        if step == .readingStat || step == .readingAdmin {
            client.abandonRead()
            end(.failed, now: now, notify: false)
        }
        if step == .idle { send(state, now: now) }
    }

    /// Every target ready once it serves: through the readiness gate (`mode`), each target
    /// still not serving after `boundMs` told to `onOverdue`; settles (and tells `onEnd`)
    /// once the group is set ready.
    func admit(_ mode: ReadyWhen, boundMs: Int64, reactor: Reactor, now: Int64) {
        guard mode != .running else { return set(.ready, now: now) }
        endGates()
        let g = ReadinessGates(count: targets.count, mode: mode, boundMs: boundMs, reactor: reactor)
        g.onPassed = { [unowned self] _, now in advanceGates(now: now) }
        g.onOverdue = { [unowned self, unowned g] k, seen in onOverdue(targets[k], g.overdueWords(seen)) }
        for k in targets.indices { g.begin(k, fromMaint: true, now: now) }
        let t = Timer { [unowned self] now in advanceGates(now: now) }
        reactor.add(t)
        self.reactor = reactor
        gates = g
        gateTimer = t
        wanted = .ready
        wantedAt = now
        settled = false
        gateFailures = 0
        gateRetryAt = now
        refused = false
        if step == .readingStat || step == .readingAdmin {
            client.abandonRead()
            end(.failed, now: now, notify: false)
        }
        advanceGates(now: now)
    }

    /// The gates' next step, when nothing is in flight: entries to send, a read due, or,
    /// every target serving, ready.
    private func advanceGates(now: Int64) {
        guard let g = gates, step == .idle else { return }
        if now < gateRetryAt {
            gateTimer?.fire(at: gateRetryAt)
            return
        }
        if g.entering > 0 {
            step = .gating
            outcome = .none
            client.set(now: now, for: self) { add in
                g.forEachEntry { k, change in add(targets[k], change) }
            }
        } else if !targets.indices.contains(where: { g.holding($0) }) {
            // Every target serves: ready, the gates kept until HAProxy took it (a `set` that
            // fails on the way is sent again, as the gate's own exchanges are).
            readyAfterGates = true
            send(.ready, now: now)
        } else if g.polling > 0 {
            if g.pollDue(now: now) { return readStat(now: now) }
            gateTimer?.fire(at: g.nextPollAt)
        }
    }

    private func endGates() {
        readyAfterGates = false
        guard let g = gates else { return }
        for k in targets.indices { g.open(k) }
        gateTimer?.cancel()
        if let t = gateTimer { reactor?.remove(t) }
        gates = nil
        gateTimer = nil
    }

    /// `show stat` of the targets' backends.
    func readStat(now: Int64) {
        guard step == .idle else { return }
        sessions = 0
        for k in seen.indices {
            seen[k] = false
            othersUp[k] = 0
            status[k].clear()
        }
        step = .readingStat
        outcome = .none
        client.showStat(backends: backends, now: now, for: self)
    }

    /// `show servers state`: each target's forced admin state, into `admin`.
    func readAdmin(now: Int64) {
        guard step == .idle else { return }
        for k in admin.indices { admin[k] = nil }
        step = .readingAdmin
        outcome = .none
        client.showServersState(now: now, for: self)
    }

    private func send(_ state: AdminState, now: Int64, within timeoutMs: Int? = nil) {
        step = .setting(state)
        outcome = .none
        refused = false
        if let t = timeoutMs, t <= 0 {
            peer.fail("timed out (waiting for the command before it to end)")
            settled = true
            return end(.failed, now: now)
        }
        sendChunk(state, from: 0, now: now, timeoutMs: timeoutMs)
    }

    private func sendChunk(_ state: AdminState, from start: Int, now: Int64, timeoutMs: Int?) {
        guard !targets.isEmpty else {
            settled = true
            return end(.ok, now: now)
        }
        var k = start
        let taken = client.set(now: now, for: self, timeoutMs: timeoutMs) { add in
            while k < targets.count, add(targets[k], .state(state)) { k += 1 }
        }
        chunk = start..<k
        if taken == 0 {
            peer.fail("a server name longer than one request")
            settled = true
            end(.failed, now: now)
        }
    }

    // MARK: answers

    func serverState(_ line: ServerStateLine) {
        for (k, t) in targets.enumerated() where t.backend.withBytes({ line.backend.equals($0) })
            && t.server.withBytes({ line.server.equals($0) }) {
            admin[k] = AdminState(adminBits: line.adminBits)
        }
    }

    func stat(_ line: StatLine) {
        for (k, t) in targets.enumerated() where t.backend.withBytes({ line.backend.equals($0) }) {
            guard t.server.withBytes({ line.server.equals($0) }) else {
                if line.isUp { othersUp[k] += 1 }
                continue
            }
            guard !seen[k] else { continue }
            seen[k] = true
            if let g = gates, g.holding(k) { g.take(line, k, now: shim_now_ms()) }
            // A server that is DOWN or in MAINT gets no new request; its sessions are not
            // waited for.
            if !line.status.hasPrefix("DOWN") && !line.status.hasPrefix("MAINT") {
                sessions += line.sessions + line.queued
            }
            status[k].append(line.status)
        }
    }

    func finished(_ client: HAProxyClient, _ command: HAProxyClient.Command, ok: Bool, now: Int64) {
        if let g = gates {
            if step == .gating || step == .readingStat { return gateExchangeEnded(g, command, ok: ok, now: now) }
            if !readyAfterGates {
                // A `set` from before the admission ended: the gate goes on.
                step = .idle
                return advanceGates(now: now)
            }
        }
        if step == .gating {
            // The gate's entry ended after the admission was given up for another state.
            step = .idle
            if let w = wanted { send(w, now: now) }
            return
        }
        guard command == .set, case .setting(let sent) = step else { return end(ok ? .ok : .failed, now: now) }
        if ok {
            client.forEachAnswer { _, body in
                if body.count > 0 && !refused {
                    refused = true
                    peer.fail("HAProxy answered", quoting: body)
                }
            }
        }
        if let w = wanted, w != sent {
            step = .idle
            return send(w, now: now, within: Int(wantedAt + Int64(client.timeoutMs) - now))
        }
        if ok && chunk.upperBound < targets.count {
            return sendChunk(sent, from: chunk.upperBound, now: now, timeoutMs: nil)
        }
        if readyAfterGates {
            if !ok {
                // Failed on the way: sent again once the back-off allows.
                step = .idle
                return gateFailed(now: now)
            }
            gateWentThrough(now: now)
            endGates()
        }
        settled = true
        end(ok && !refused ? .ok : .failed, now: now)
    }

    /// An exchange of the gate ended: entries answered, or a read done. HAProxy refusing an
    /// entry ends the admission (told to `onEnd` as a failed `set`, the reason in the peer's
    /// error); an exchange that failed on the way (a socket refused or closed: HAProxy
    /// reloading, restarting) is tried again, backing off, since an admission given up
    /// would leave its servers out of rotation (drain, health down) with nobody to bring
    /// them back.
    private func gateExchangeEnded(_ g: ReadinessGates, _ command: HAProxyClient.Command, ok: Bool, now: Int64) {
        if command == .set && ok {
            var sent: [Int] = []
            for k in targets.indices where g.steps[k] == .entering { sent.append(k) }
            client.forEachAnswer { i, body in
                guard i < sent.count else { return }
                if body.count > 0 && !refused {
                    refused = true
                    peer.fail("HAProxy answered", quoting: body)
                }
                g.entered(sent[i], ok: body.count == 0, now: now)
            }
        }
        if command == .stat { g.polled(whole: ok, now: now) }
        if refused {
            endGates()
            step = .setting(.ready)
            settled = true
            return end(.failed, now: now)
        }
        step = .idle
        guard ok else { return gateFailed(now: now) }
        gateWentThrough(now: now)
        advanceGates(now: now)
    }

    /// A gate's exchange failed on the way: the next one after a back-off (doubling from
    /// `gateRetryFirstMs` to `gateRetryMaxMs`).
    private func gateFailed(now: Int64) {
        gateFailures += 1
        if let limit = gateRetryLimit, gateFailures > limit {
            endGates()
            step = .setting(.ready)
            settled = true
            return end(.failed, now: now)
        }
        gateRetryAt = now + min(ServerGroup.gateRetryFirstMs << Int64(min(gateFailures - 1, 8)), ServerGroup.gateRetryMaxMs)
        if gateFailures == 1 { onGateRetry(self, 1, 0, now) }
        advanceGates(now: now)
    }

    private func gateWentThrough(now: Int64) {
        guard gateFailures > 0 else { return }
        let after = gateFailures
        gateFailures = 0
        onGateRetry(self, 0, after, now)
    }

    private func end(_ o: Outcome, now: Int64, notify: Bool = true) {
        let ended: Ended
        switch step {
        case .readingStat, .readingAdmin: ended = .read(ok: o == .ok)
        case .setting(let state): ended = .set(state, ok: o == .ok)
        case .idle, .gating: ended = .set(wanted ?? .ready, ok: o == .ok)
        }
        outcome = o
        step = .idle
        if notify { onEnd(self, ended, now) }
    }
}

/// What `wrap` and `restart` say when a readiness gate's exchange fails on the way, and when
/// one goes through again: one wording for both.
func gateRetryWords(_ g: ServerGroup, failures: Int, after: Int) -> String {
    let names = g.targets.map(\.name).joined(separator: ", ")
    if failures > 0 {
        let bound = g.gateRetryLimit.map { " (\($0) times at most)" } ?? ""
        return "\(g.peer.errorText); the readiness gate of \(names) tries again (every \(ServerGroup.gateRetryFirstMs) ms, backing off to \(ServerGroup.gateRetryMaxMs / 1000) s)\(bound) until HAProxy answers; ready only after that"
    }
    return "\(g.peer.display) answers again after \(after) failed attempt(s): the readiness gate of \(names) goes on"
}
