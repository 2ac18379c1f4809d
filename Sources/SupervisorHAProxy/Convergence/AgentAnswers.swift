import CSocketShim

// What the agent port says of each mapped server: its desired state, the same one pushed to
// stats sockets, as one of HAProxy's admin words; and who has been told. A server wanted
// ready whose mapping names its address (`@ADDR:PORT`) is called ready only once that address
// accepts a connection: until then it stays what it was (maint after a stop), because
// HAProxy puts a server leaving maint UP at once (docs/protocols.md).
//
// Requests (outside bytes, at most one line each):
// - `BACKEND/SERVER` (HAProxy's `agent-send`): `ready`, `drain` or `maint`; `unknown-server`
//   for a name not mapped, `state-not-known-yet` before supervisord said anything: words
//   HAProxy reports and ignores (it changes nothing). The asker is counted as a poller.
// - `BACKEND/SERVER seen` (`wrap`, `restart`): `WORD SEEN/POLLERS`: how many of the HAProxy
//   instances polling this server (by IP) have been told WORD since it became the word. A
//   server no HAProxy polls counts one poller unseen: "every HAProxy was told" is never
//   said of nobody (a restarted listener cannot know who polls until they poll).
//
// Who counts as an HAProxy (docs/security in the README): with `--agent-pollers`, only the
// addresses named there; any other poll is answered `unlisted-poller` (a word HAProxy
// reports and ignores) and counts for nothing. Without it, any client that polls counts,
// but a poller still current is never pushed out by a newcomer: a stranger polling from
// many addresses cannot make the real balancers forgotten.

final class AgentAnswers: AgentAnswering {
    enum Word: Equatable {
        case unknown, ready, drain, maint

        init(_ s: AdminState) {
            switch s {
            case .ready: self = .ready
            case .drain: self = .drain
            case .maint: self = .maint
            }
        }

        var text: StaticString {
            switch self {
            case .unknown: "unknown"
            case .ready: "ready"
            case .drain: "drain"
            case .maint: "maint"
            }
        }
    }

    /// Distinct HAProxy IPs remembered per server: a newcomer takes the place of one that
    /// stopped polling, never of one that still polls.
    static let pollersPerServer = 8
    /// A poller seen once is active this long; one seen twice, for three of its intervals.
    static let firstPollActiveMs: Int64 = 10_000
    static let unknownNamesLogged = 16
    static let unlistedLogged = 16

    private let table: MappingTable
    private let log: Logger
    private let gated: Bool
    /// Servers wanted ready are called ready once their address accepts a connection.
    private let gates: ReadinessGates

    /// What is known of one mapped server.
    struct Server {
        var word = Word.unknown
        /// The change counter when its word began.
        var since = 0
        /// Its program's address (`@ADDR:PORT`), which the readiness gate probes.
        var address: Endpoint?
        /// A newcomer found every poller place taken by one still polling (said once).
        var full = false
    }

    /// One HAProxy (by IP) polling one server: when it last polled, its interval, and the
    /// change counter when it was last told.
    struct Poller {
        var ip = PeerIP.none
        var last: Int64 = 0
        var gap: Int64 = 0
        var told = -1
    }

    private(set) var servers: [Server]
    /// What every server should be (Convergence's, which alone changes it; a test's own).
    let desired: DesiredStates
    /// Per server, under a `wrap --notify` that relays its program's word through supervisord
    /// (`relayFrom`): since when it is wanted as it is, what its program last said, and the
    /// program's STATUS=, which the answer carries as HAProxy's description.
    private var relayed: [Bool]
    private var wantedAt: [Int64]
    /// nil: not known (the listener started while the program ran, and its wrap has not
    /// repeated its word yet): the agent then answers `state-not-known-yet`, which changes
    /// nothing at HAProxy, rather than a guess.
    private var programWord: [RelayedWord?]
    private var heard: [Bool]
    private var warnedSilent: [Bool]
    private let statuses: [FixedBuffer]
    /// How long a relayed server may be wanted ready with nothing heard from its wrap before
    /// the log says why that may be.
    static let silentWrapMs: Int64 = 10_000
    /// `pollersPerServer` places per server, server t's from t * pollersPerServer.
    private var pollers: [Poller]
    private var clock = 0
    private let unknownNames = (0..<AgentAnswers.unknownNamesLogged).map { _ in FixedBuffer(capacity: 512) }
    private var unknownCount = 0
    /// `--agent-pollers`: the only addresses whose polls count (empty: any).
    private let allowed: [AddressRange]
    private var unlisted: [PeerIP] = []

    /// `--dry-run`: every poll is answered `dry-run`, a word HAProxy ignores (the query still
    /// tells what would be answered).
    private let dryRun: Bool

    init(table: MappingTable, readyWhen: ReadyWhen, boundMs: Int64, reactor: Reactor, log: Logger, dryRun: Bool = false,
         pollers: [AddressRange] = [], desired: DesiredStates? = nil) {
        self.table = table
        allowed = pollers
        unlisted.reserveCapacity(AgentAnswers.unlistedLogged)
        self.dryRun = dryRun
        self.log = log
        gated = readyWhen != .running
        let n = table.targets.count
        servers = Array(repeating: Server(), count: n)
        self.desired = desired ?? DesiredStates(count: n)
        relayed = Array(repeating: false, count: n)
        wantedAt = Array(repeating: 0, count: n)
        programWord = Array(repeating: nil, count: n)
        heard = relayed
        warnedSilent = relayed
        statuses = (0..<n).map { _ in FixedBuffer(capacity: NotifyRelay.statusCapacity) }
        self.pollers = Array(repeating: Poller(), count: n * AgentAnswers.pollersPerServer)
        // The one readiness gate, through a probe of each program's address: no HAProxy
        // says anything here.
        gates = ReadinessGates(count: n, mode: gated ? .connect : .running, boundMs: boundMs, reactor: reactor)
        for t in 0..<n {
            table.forEachMapping(ofTarget: t) { m in servers[t].address = servers[t].address ?? table.mappings[m].address }
        }
        gates.onPassed = { [unowned self] t, _ in probed(t) }
        gates.onOverdue = { [unowned self] t, seen in
            log.log(.warning, "\(table.targets[t].name) at \(servers[t].address?.display ?? "?"): \(gates.overdueWords(seen)) (the agent answers maint)")
        }
    }

    /// The servers that have no address to probe: the agent calls them ready at RUNNING.
    var unprobed: [Int] { servers.indices.filter { servers[$0].address == nil } }


    // MARK: the desired state

    /// Server t's desired state changed.
    func changed(_ t: Int, now: Int64) {
        wantedAt[t] = now
        if desired[t] != .ready {
            // A stop or a new start: the next ready is the new process's to say.
            programWord[t] = .maint
            heard[t] = false
            warnedSilent[t] = false
            statuses[t].clear()
        }
        apply(t, now: now)
    }

    /// What a relayed notice did.
    enum Heard: Equatable {
        /// t takes no program's word (no `wrap --notify` found for it).
        case notRelayed
        /// The same word and status as before (the wrap repeats its notice).
        case same
        case changed
    }

    /// Server t's program said itself whether it serves, relayed by its wrap.
    func programSaid(_ t: Int, _ notice: RelayedNotice, now: Int64) -> Heard {
        guard relayed[t] else { return .notRelayed }
        let same = heard[t] && programWord[t] == notice.word && statuses[t].bytes.equals(notice.status)
        heard[t] = true
        if same { return .same }
        statuses[t].clear()
        statuses[t].append(notice.status)
        programWord[t] = notice.word
        apply(t, now: now)
        return .changed
    }

    /// Whether t takes its program's word, relayed by its `wrap --notify`.
    func isRelayed(_ t: Int) -> Bool { relayed[t] }

    /// Server t runs under a `wrap --notify`: wanted ready, it is what its program last said
    /// (maint from its start until READY=1), relayed through supervisord. Found running with
    /// no start seen here (the listener started since), its word is not known until its wrap
    /// repeats it.
    func relayFrom(_ t: Int, now: Int64) {
        guard !relayed[t] else { return }
        relayed[t] = true
        apply(t, now: now)
    }

    /// The state the agent makes of what supervisord wants and, under `wrap --notify`, what
    /// the program said; ready goes through the gate.
    private func apply(_ t: Int, now: Int64) {
        guard let want = desired[t] else { return }
        var state = want
        if relayed[t] && want == .ready {
            guard let said = programWord[t] else {
                gates.open(t)
                return set(t, .unknown)
            }
            state = said.admin
        }
        guard state == .ready else {
            gates.open(t)
            return set(t, Word(state))
        }
        if servers[t].word == .ready || gates.holding(t) { return }
        guard gated, let address = servers[t].address else { return set(t, .ready) }
        // Out of rotation until its address accepts a connection; drain is no place to wait.
        if servers[t].word == .drain { set(t, .maint) }
        gates.beginProbe(t, at: address, now: now)
    }

    /// What the agent answers for t now, in words, for the log: the word, and what it waits
    /// for.
    func answerWords(_ t: Int) -> String {
        let word = servers[t].word == .unknown ? "state-not-known-yet (HAProxy keeps what it has)" : "\(servers[t].word.text)"
        if gates.holding(t) { return "\(word) until \(servers[t].address?.display ?? "its address") accepts a connection (readiness gate)" }
        if relayed[t] && desired[t] != .ready && programWord[t] == .ready { return "\(word) until supervisord says RUNNING" }
        return word
    }

    private func probed(_ t: Int) {
        if let l = log.begin(.info) {
            l.append(table.targets[t].name)
            l.append(" serves at ")
            l.append(servers[t].address?.display ?? "?")
            l.append(": the agent says ready")
            log.end()
        }
        set(t, .ready)
    }

    private func set(_ t: Int, _ w: Word) {
        guard servers[t].word != w else { return }
        servers[t].word = w
        clock += 1
        servers[t].since = clock
    }

    // MARK: who was told

    /// Of the HAProxy instances polling server t now, how many were told its word since it
    /// became the word, and how many there are.
    func seen(_ t: Int, now: Int64) -> (told: Int, pollers: Int) {
        var told = 0, polling = 0
        let base = t * AgentAnswers.pollersPerServer
        for i in base..<base + AgentAnswers.pollersPerServer where current(i, now: now) {
            polling += 1
            if pollers[i].told >= servers[t].since { told += 1 }
        }
        // Nobody polls it (yet): one unseen, never "all told" of nobody.
        return polling == 0 ? (0, 1) : (told, polling)
    }

    /// Whether poller slot i polls still: within three of its intervals, or `firstPollActiveMs`
    /// of a first poll.
    private func current(_ i: Int, now: Int64) -> Bool {
        let p = pollers[i]
        guard p.ip != .none else { return false }
        let window = p.gap > 0 ? 3 * p.gap + 500 : AgentAnswers.firstPollActiveMs
        return now - p.last <= window
    }

    /// Whether every poller of every server has been told its word.
    func everyPollerTold(now: Int64) -> Bool {
        servers.indices.allSatisfy { t in
            let s = seen(t, now: now)
            return s.told == s.pollers
        }
    }

    private func polled(_ t: Int, by ip: PeerIP, now: Int64) {
        let base = t * AgentAnswers.pollersPerServer
        var slot = base
        for i in base..<base + AgentAnswers.pollersPerServer {
            if pollers[i].ip == ip {
                slot = i
                break
            }
            if pollers[i].ip == .none || pollers[i].last < pollers[slot].last { slot = i }
        }
        if pollers[slot].ip != ip && current(slot, now: now) {
            // Every place holds a poller that still polls: the newcomer is not counted (it
            // is answered all the same), and no current poller is forgotten for it.
            if !servers[t].full {
                servers[t].full = true
                log.log(.warning, "agent: more than \(AgentAnswers.pollersPerServer) addresses poll \(table.targets[t].name); the newest are not counted as load balancers (--agent-pollers names which are)")
            }
            return
        }
        if pollers[slot].ip == ip {
            pollers[slot].gap = now - pollers[slot].last
        } else {
            pollers[slot] = Poller(ip: ip)
        }
        pollers[slot].last = now
        clock += 1
        pollers[slot].told = clock
    }

    // MARK: answering

    func answer(_ line: ByteView, from peer: PeerIP, now: Int64, into answer: FixedBuffer) -> Bool {
        var end = line.count
        while end > 0 && (line[end - 1] == space || line[end - 1] == 0x09) { end -= 1 }
        let request = line.slice(0..<end)
        let nameEnd = request.firstIndex(of: space) ?? request.count
        let name = request.slice(0..<nameEnd)
        let query = request.slice(min(nameEnd + 1, request.count)..<request.count)
        guard let s = name.lastIndex(of: slash),
              let t = table.target(backend: name.slice(0..<s), server: name.slice(s + 1..<name.count)),
              query.count == 0 || query.equals("seen") else {
            answer.append("unknown-server\n")
            // Only what HAProxy could have been configured to send is worth a line of its own.
            guard isRequest(name, query) else { return false }
            noteUnknown(request, from: peer)
            return true
        }
        if query.count > 0 {
            let s = seen(t, now: now)
            answer.append(servers[t].word.text)
            answer.append(byte: space)
            answer.append(decimal: s.told)
            answer.append(byte: slash)
            answer.append(decimal: s.pollers)
            answer.append(byte: newline)
            return true
        }
        if !allowed.isEmpty && !allowed.contains(where: { $0.contains(peer) }) {
            // Not a load balancer the operator named: told nothing, counted for nothing.
            answer.append("unlisted-poller\n")
            noteUnlisted(peer, request)
            return true
        }
        if dryRun {
            // Nobody is told anything.
            answer.append("dry-run\n")
            return true
        }
        polled(t, by: peer, now: now)
        if servers[t].word == .unknown {
            answer.append("state-not-known-yet\n")
            return true
        }
        answer.append(servers[t].word.text)
        if relayed[t] {
            if statuses[t].count > 0 {
                // The program's STATUS= shows as the agent's description (`last_agt`) only
                // beside a health word; `up` never brings up a server its check holds down.
                answer.append(" up #")
                answer.append(statuses[t].bytes)
            }
            noteSilentWrap(t, now: now)
        }
        answer.append(byte: newline)
        return true
    }

    /// A relayed server wanted ready with nothing heard from its wrap for a while: said once
    /// (until its next start), with what it needs.
    private func noteSilentWrap(_ t: Int, now: Int64) {
        guard !heard[t], !warnedSilent[t], desired[t] == .ready, now - wantedAt[t] >= AgentAnswers.silentWrapMs else { return }
        warnedSilent[t] = true
        log.log(.warning, "\(table.targets[t].name): nothing relayed by its 'wrap --notify' \(now - wantedAt[t]) ms after RUNNING, so the agent answers maint: give the listener's [eventlistener] events=PROCESS_STATE,PROCESS_COMMUNICATION, and the program stdout_capture_maxbytes=1KB")
    }

    /// `BACKEND/SERVER` in HAProxy's name bytes, optionally `seen`: a request, if not ours.
    private func isRequest(_ name: ByteView, _ query: ByteView) -> Bool {
        guard query.count == 0 || query.equals("seen"), let s = name.lastIndex(of: slash), s > 0, s + 1 < name.count else { return false }
        for (i, b) in name.enumerated() where i != s {
            guard Target.invalidByte(in: [b]) == nil else { return false }
        }
        return true
    }

    /// Each address outside `--agent-pollers` is said once (the first few of them).
    private func noteUnlisted(_ peer: PeerIP, _ request: ByteView) {
        guard !unlisted.contains(peer) else { return }
        if unlisted.count == AgentAnswers.unlistedLogged {
            unlisted.append(peer)
            return log.log(.warning, "agent port: more than \(AgentAnswers.unlistedLogged) addresses outside --agent-pollers polled; no more are logged")
        }
        guard unlisted.count < AgentAnswers.unlistedLogged else { return }
        unlisted.append(peer)
        guard let l = log.begin(.warning) else { return }
        l.append("agent port: ")
        peer.append(to: l)
        l.append(" polled '")
        l.append(escaping: request.slice(0..<min(request.count, 300)))
        l.append("' but is not in --agent-pollers: answered 'unlisted-poller' and not counted as a load balancer; said once")
        log.end()
    }

    /// Each distinct unknown request is said once (the first few of them), never per poll.
    private func noteUnknown(_ request: ByteView, from peer: PeerIP) {
        for i in 0..<min(unknownCount, unknownNames.count) where unknownNames[i].bytes.equals(request) { return }
        unknownCount += 1
        if unknownCount > unknownNames.count {
            if unknownCount == unknownNames.count + 1 {
                log.log(.warning, "agent port: more than \(unknownNames.count) different unknown requests; no more are logged")
            }
            return
        }
        let kept = unknownNames[unknownCount - 1]
        kept.clear()
        kept.append(request.slice(0..<min(request.count, kept.capacity)))
        guard let l = log.begin(.warning) else { return }
        l.append("agent port: ")
        peer.append(to: l)
        l.append(" asked for '")
        l.append(request.slice(0..<min(request.count, 300)))
        l.append("', which is no mapped BACKEND/SERVER: answered 'unknown-server' (HAProxy changes nothing); said once")
        log.end()
    }
}

private extension RelayedWord {
    /// The admin state the word asks for.
    var admin: AdminState {
        switch self {
        case .ready: .ready
        case .drain: .drain
        case .maint: .maint
        }
    }
}
