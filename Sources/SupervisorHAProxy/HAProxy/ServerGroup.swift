/// The servers one command works on, on one stats socket (`wrap`'s, a step of `restart`):
/// the state it wants them in, and what the last `show stat` showed of them. Not a member of
/// the reactor: its exchanges run on the socket's one `HAProxyClient`, which several groups
/// may share one after another.
///
/// The one ordering rule: a `set` in flight is never abandoned, since HAProxy does not order
/// commands sent on two connections; a newer state is sent once it has ended. A read in
/// flight changes nothing at HAProxy and is abandoned for a `set`.
final class ServerGroup: HAProxyAnswers {
    enum Step: Equatable { case idle, setting(AdminState), readingStat }
    enum Outcome: Equatable { case none, ok, failed }

    let client: HAProxyClient
    let targets: [Target]
    private let backends: [[UInt8]]
    /// Called when the wanted state is settled (taken, or failed) and when a read ended.
    var onEnd: (ServerGroup, Int64) -> Void = { _, _ in }
    private(set) var step = Step.idle
    /// What the last exchange did, once it has ended, and how.
    private(set) var lastStep = Step.idle
    private(set) var outcome = Outcome.none
    /// The state last asked for with `set`, and whether it is settled.
    private(set) var wanted: AdminState?
    private(set) var settled = true
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

    init(client: HAProxyClient, targets: [Target]) {
        self.client = client
        self.targets = targets
        var backends: [[UInt8]] = []
        for t in targets where !backends.contains(t.backend) { backends.append(t.backend) }
        self.backends = backends
        seen = Array(repeating: false, count: targets.count)
        status = targets.map { _ in FixedBuffer(capacity: 32) }
        othersUp = Array(repeating: 0, count: targets.count)
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
        wanted = state
        settled = false
        if step == .readingStat {
            client.abandonRead()
            end(.failed, now: now, notify: false)
        }
        if step == .idle { send(state, now: now) }
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

    private func send(_ state: AdminState, now: Int64) {
        step = .setting(state)
        outcome = .none
        refused = false
        client.set(now: now, for: self) { add in
            for t in targets where !add(t, state) { break }
        }
    }

    // MARK: answers

    func stat(_ line: StatLine) {
        for (k, t) in targets.enumerated() where t.backend.withBytes({ line.backend.equals($0) }) {
            guard t.server.withBytes({ line.server.equals($0) }) else {
                if line.isUp { othersUp[k] += 1 }
                continue
            }
            guard !seen[k] else { continue }
            seen[k] = true
            // A server that is DOWN or in MAINT gets no new request; its sessions are not
            // waited for.
            if !line.status.hasPrefix("DOWN") && !line.status.hasPrefix("MAINT") {
                sessions += line.sessions + line.queued
            }
            status[k].append(line.status)
        }
    }

    func finished(_ client: HAProxyClient, _ command: HAProxyClient.Command, ok: Bool, now: Int64) {
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
            lastStep = step
            step = .idle
            return send(w, now: now)
        }
        settled = true
        end(ok && !refused ? .ok : .failed, now: now)
    }

    private func end(_ o: Outcome, now: Int64, notify: Bool = true) {
        outcome = o
        lastStep = step
        step = .idle
        if notify { onEnd(self, now) }
    }
}
