import CSocketShim

// The readiness gate: a server leaving maint takes traffic only once its program serves.
// supervisord says RUNNING once a program has lived `startsecs`, listening or not, and HAProxy
// puts a server leaving maint UP at once (its health at the rise threshold, before any check:
// docs/protocols.md, "The readiness gate"). So between RUNNING and ready:
// - a server HAProxy checks enters drain with its health forced down, in one request: no new
//   request reaches it, its checks run, and only checks that pass from now on bring it UP;
//   once `show stat` says DRAIN (up), it is set ready. No window at all.
// - a server HAProxy does not check stays in maint while the program's own address
//   (`show stat`'s addr) is probed; ready once a connect is accepted.
// The gates keep the per-server steps; their owner (one socket's HAProxyInstance, a command's
// ServerGroup) does the exchanges with HAProxy and feeds them what it reads.

/// When a server that leaves maint may take traffic (`--ready-when`).
enum ReadyWhen: String, CaseIterable {
    /// HAProxy's own check passed (a connect probe for servers without one): the default.
    case check
    /// The program accepts a connection on the server's address.
    case connect
    /// supervisord says RUNNING: the original tool's behaviour.
    case running
}

/// The gates of one socket's servers (index k), as their owner numbers them.
final class ReadinessGates {
    enum Step: Equatable {
        /// Not gated: whatever the owner sends, it sends.
        case open
        /// Leaving maint: the next `show stat` says whether HAProxy checks it.
        case deciding
        /// Its entry command is to be sent (`entryChange`).
        case entering
        /// Waiting for HAProxy's check to pass.
        case checking
        /// Waiting for a connect to be accepted.
        case probing
        /// It serves: ready may be sent.
        case passed
    }

    static let pollMs: Int64 = 250

    let mode: ReadyWhen
    let boundMs: Int64
    private unowned let reactor: Reactor
    private(set) var steps: [Step]
    /// Whether server k is known to come from maint (so HAProxy's UP proves nothing), and the
    /// command that takes it into its gate.
    private var fromMaint: [Bool]
    private(set) var entryChange: [ServerChange]
    private var since: [Int64]
    private var warned: [Bool]
    private let lastStatus: [FixedBuffer]
    private var probes: [ConnectProbe?]
    /// The `show stat` address each probe was made for.
    private let probeAddress: [FixedBuffer]
    /// How many servers need a `show stat` (deciding, checking) / the entry command.
    private(set) var polling = 0
    private(set) var entering = 0
    /// When the next `show stat` for the servers at their gates is due: at once for a gate
    /// that begins, then every `pollMs`.
    private(set) var nextPollAt: Int64 = 0
    /// Told when server k passed (its owner sends ready), and once when it is still not
    /// serving after `boundMs` (what HAProxy or the probe showed, in words).
    var onPassed: (Int, Int64) -> Void = { _, _ in }
    var onOverdue: (Int, String) -> Void = { _, _ in }

    init(count: Int, mode: ReadyWhen, boundMs: Int64, reactor: Reactor) {
        self.mode = mode
        self.boundMs = boundMs
        self.reactor = reactor
        steps = Array(repeating: .open, count: count)
        fromMaint = Array(repeating: false, count: count)
        entryChange = Array(repeating: .gateEntry, count: count)
        since = Array(repeating: 0, count: count)
        warned = Array(repeating: false, count: count)
        lastStatus = (0..<count).map { _ in FixedBuffer(capacity: 64) }
        probes = Array(repeating: nil, count: count)
        probeAddress = (0..<count).map { _ in FixedBuffer(capacity: 64) }
    }

    /// Whether server k is held out of rotation by its gate.
    func holding(_ k: Int) -> Bool {
        switch steps[k] {
        case .deciding, .entering, .checking, .probing: true
        case .open, .passed: false
        }
    }

    /// Server k is wanted ready: gated unless `--ready-when running`. `fromMaint`: it was
    /// wanted in maint before (a program that starts); false when its past is unknown (the
    /// listener's start), where a server HAProxy already has in rotation passes at once.
    func begin(_ k: Int, fromMaint: Bool, now: Int64) {
        guard mode != .running else { return }
        self.fromMaint[k] = fromMaint
        move(k, to: .deciding)
        nextPollAt = min(nextPollAt, now)
        since[k] = now
        warned[k] = false
        lastStatus[k].clear()
    }

    /// What was last seen of server k at its gate, in words.
    func seen(_ k: Int) -> String { lastStatus[k].isEmpty ? "nothing seen yet" : lastStatus[k].text }

    /// Server k is wanted in another state: no gate.
    func open(_ k: Int) {
        move(k, to: .open)
    }

    /// The line of server k in a `show stat` read while it polls.
    func take(_ line: StatLine, _ k: Int, now: Int64) {
        lastStatus[k].clear()
        lastStatus[k].append("show stat: ")
        lastStatus[k].append(line.status)
        if line.checkStatus.count > 0 {
            lastStatus[k].append(", ")
            lastStatus[k].append(line.checkStatus)
        }
        switch steps[k] {
        case .deciding:
            let inMaint = line.status.hasPrefix("MAINT")
            if !inMaint && !fromMaint[k] {
                // In rotation already, and no start seen (the listener restarted): nothing
                // to wait for.
                return pass(k, now: now)
            }
            if !inMaint && line.hasCheck && line.status.equals("UP") && line.checkStatus.hasPrefix("L")
                && line.checkStatus.asciiLowercasedContains("ok") {
                // Out of maint though its program starts, UP with a passed check (L4OK, L6OK,
                // L7OK): another command's gate let it in (`restart`, `wrap`, beside the
                // listener). Taking it out again would leave its backend short for a check.
                return pass(k, now: now)
            }
            if mode == .connect || !line.hasCheck {
                guard prepareProbe(k, line.address) else {
                    // No address to probe (HAProxy did not say): nothing can tell.
                    lastStatus[k].append(", no address to probe")
                    return pass(k, now: now)
                }
                if inMaint { return startProbe(k, now: now) }
                // Out of maint though its program starts: back to maint while it is probed.
                entryChange[k] = .state(.maint)
            } else {
                entryChange[k] = .gateEntry
            }
            move(k, to: .entering)
        case .checking:
            // Its health was forced down on entry: up now means checks passed since.
            if line.status.hasPrefix("DRAIN") || line.status.hasPrefix("UP") { pass(k, now: now) }
        default:
            break
        }
    }

    /// The entry command of server k was answered: now its check decides (or, refused,
    /// it is left as it is: the owner said why).
    func entered(_ k: Int, ok: Bool, now: Int64) {
        guard steps[k] == .entering else { return }
        guard ok else { return move(k, to: .open) }
        if entryChange[k] == .gateEntry { return move(k, to: .checking) }
        startProbe(k, now: now)
    }

    /// Whether a `show stat` for the gates is due.
    func pollDue(now: Int64) -> Bool { polling > 0 && now >= nextPollAt }

    /// A `show stat` for the gates ended (`whole`: read to its end, every line taken): says
    /// once of each server held past the bound, and paces the next.
    func polled(whole: Bool, now: Int64) {
        if whole { for k in steps.indices where holding(k) { checkBound(k, now: now) } }
        nextPollAt = now + ReadinessGates.pollMs
    }

    /// The servers whose entry command is to be sent, with it, in order, while `body` takes
    /// them (a request that is full says false).
    func forEachEntry(_ body: (Int, ServerChange) -> Bool) {
        guard entering > 0 else { return }
        for k in steps.indices where steps[k] == .entering {
            guard body(k, entryChange[k]) else { return }
        }
    }

    /// The servers a `show stat` is for (deciding, or waiting for their check).
    func forEachPolled(_ body: (Int) -> Void) {
        guard polling > 0 else { return }
        for k in steps.indices where steps[k] == .deciding || steps[k] == .checking { body(k) }
    }

    /// What the log says of a server held past the bound (`seen`: what was last seen of it):
    /// one wording for every command.
    func overdueWords(_ seen: String) -> String {
        "not serving \(boundMs / 1000) s after RUNNING (\(seen)); kept out of rotation until it does"
    }

    /// What the log says of server k's entry, once HAProxy took it.
    func entryWords(_ k: Int) -> StaticString {
        entryChange[k] == .gateEntry ? "drain, health down until its check passes (readiness gate)"
            : "maint until its address accepts a connection (readiness gate)"
    }

    // MARK: steps

    private func move(_ k: Int, to step: Step) {
        let was = steps[k]
        if was == step { return }
        if was == .deciding || was == .checking { polling -= 1 }
        if was == .entering { entering -= 1 }
        if was == .probing, let p = probes[k] {
            p.cancel()
            reactor.remove(p)
        }
        if step == .deciding || step == .checking { polling += 1 }
        if step == .entering { entering += 1 }
        steps[k] = step
    }

    private func pass(_ k: Int, now: Int64) {
        move(k, to: .passed)
        onPassed(k, now)
    }

    private func checkBound(_ k: Int, now: Int64) {
        guard !warned[k], now - since[k] >= boundMs else { return }
        warned[k] = true
        onOverdue(k, seen(k))
    }

    /// Server k is wanted ready and its address is known already (`@ADDR:PORT` in a
    /// mapping, for the agent, where no `show stat` says it): out of rotation until it
    /// accepts a connection there. Its probe is made once, as below.
    func beginProbe(_ k: Int, at endpoint: Endpoint, now: Int64) {
        guard mode != .running else { return }
        since[k] = now
        warned[k] = false
        lastStatus[k].clear()
        if probes[k]?.endpoint != endpoint { makeProbe(k, endpoint, display: endpoint.display) }
        startProbe(k, now: now)
    }

    /// A probe of server k's address, made once (and again only if the address changed), so a
    /// program that starts again costs no allocation. False when the address is not one.
    private func prepareProbe(_ k: Int, _ address: ByteView) -> Bool {
        if probes[k] != nil && probeAddress[k].bytes.equals(address) { return true }
        guard let endpoint = probeEndpoint(address) else { return false }
        probeAddress[k].clear()
        probeAddress[k].append(address)
        makeProbe(k, endpoint, display: "tcp://" + String(bytes: address))
        return true
    }

    private func makeProbe(_ k: Int, _ endpoint: Endpoint, display: String) {
        if let old = probes[k], steps[k] == .probing {
            old.cancel()
            reactor.remove(old)
        }
        let p = ConnectProbe(endpoint, display: display)
        p.onAccepted = { [unowned self] now in
            lastStatus[k].clear()
            pass(k, now: now)
        }
        p.onRefused = { [unowned self, unowned p] now in
            lastStatus[k].clear()
            lastStatus[k].append("probe: ")
            lastStatus[k].append(p.error.bytes)
            checkBound(k, now: now)
        }
        probes[k] = p
    }

    private func startProbe(_ k: Int, now: Int64) {
        guard let p = probes[k] else { return pass(k, now: now) }
        move(k, to: .probing)
        reactor.add(p)
        p.start(now: now)
    }
}

/// `show stat`'s `ADDR:PORT` (`[V6]:PORT` or `V6:PORT`) as an endpoint to probe; nil when empty
/// or not an address.
func probeEndpoint(_ address: ByteView) -> Endpoint? {
    guard let c = address.lastIndex(of: colon), c > 0, c + 1 < address.count else { return nil }
    var host = address.slice(0..<c)
    if host.first == UInt8(ascii: "["), host.last == UInt8(ascii: "]") { host = host.slice(1..<host.count - 1) }
    let port = address.slice(c + 1..<address.count)
    guard port.decimal(limit: 65535) != nil, host.count > 0 else { return nil }
    return .tcp(host: String(bytes: host), port: String(bytes: port))
}
