import CSocketShim

/// What a listener's agent port has told the HAProxy instances that poll it, asked for some
/// servers (`BACKEND/SERVER seen`, one connection each): for a drain with no stats socket,
/// which ends once every poller has been told drain (or maint). A round asks every server
/// once; the owner starts the next.
final class AgentWatch: Pollable {
    struct Seen: Equatable {
        /// ready, drain, maint or unknown, as the agent answers it.
        var word: [UInt8]
        var told: Int
        var pollers: Int

        /// Every poller has been told a word that keeps new requests away.
        var drained: Bool { (word.equals("drain") || word.equals("maint")) && told >= pollers }
        /// Every poller has been told ready (the program serves: the agent probed it).
        var ready: Bool { word.equals("ready") && told >= pollers }
    }

    let peer: Peer
    private let exchange: Exchange
    private(set) var targets: [Target]
    let timeoutMs: Int
    private let request = FixedBuffer(capacity: 1024)
    private let answer = FixedBuffer(capacity: 128)
    private var asking = -1
    /// What the last round found of each server (nil: not asked yet, or it failed).
    private(set) var seen: [Seen?]
    /// The last round failed: the words in `peer.error`.
    private(set) var failed = false
    /// Told at the end of each round.
    var onRound: (Int64) -> Void = { _ in }

    init(_ endpoint: Endpoint, targets: [Target], timeoutMs: Int) {
        peer = Peer(display: endpoint.display, endpoint: endpoint)
        exchange = Exchange(peer: peer, chunkSize: 128)
        self.targets = targets
        self.timeoutMs = timeoutMs
        seen = Array(repeating: nil, count: targets.count)
    }

    var busy: Bool { asking >= 0 }

    /// Watches these servers from the next round on.
    func watch(_ targets: [Target]) {
        guard !busy else { return }
        self.targets = targets
        seen = Array(repeating: nil, count: targets.count)
    }
    var drained: Bool { !failed && seen.allSatisfy { $0?.drained == true } }

    func round(now: Int64) {
        guard !busy else { return }
        failed = false
        ask(0, now: now)
    }

    private func ask(_ k: Int, now: Int64) {
        guard k < targets.count else {
            asking = -1
            return onRound(now)
        }
        asking = k
        request.clear()
        request.append(targets[k].backend)
        request.append(byte: slash)
        request.append(targets[k].server)
        request.append(" seen\n")
        answer.clear()
        if exchange.start(request.bytes, now: now, timeoutMs: timeoutMs) == .failed { fail(now: now) }
    }

    var pollFD: Int32 { exchange.pollFD }
    var pollEvents: Int16 { exchange.pollEvents }
    var wakeAt: Int64 { exchange.wakeAt }

    func turn(revents: Int16, now: Int64) {
        guard exchange.inFlight, asking >= 0 else { return }
        switch exchange.turn(revents: revents, now: now, consume: { answer.append($0) }) {
        case .inProgress: return
        case .failed: fail(now: now)
        case .finished:
            guard let s = parse(answer.bytes) else {
                if answer.bytes.hasPrefix("unknown-server") {
                    peer.fail("the listener maps no such server:", quoting: request.bytes.slice(0..<request.count - 6))
                } else {
                    peer.fail("not an agent's answer:", quoting: answer.bytes)
                }
                return fail(now: now)
            }
            seen[asking] = s
            ask(asking + 1, now: now)
        }
    }

    private func fail(now: Int64) {
        failed = true
        seen[asking] = nil
        asking = -1
        onRound(now)
    }

    /// `WORD TOLD/POLLERS\n`.
    private func parse(_ a: ByteView) -> Seen? {
        guard let nl = a.firstIndex(of: newline) else { return nil }
        let line = a.slice(0..<nl)
        guard let sp = line.firstIndex(of: space), let sl = line.firstIndex(of: slash, from: sp) else { return nil }
        guard let told = line.slice(sp + 1..<sl).decimal(limit: 1 << 20),
              let pollers = line.slice(sl + 1..<line.count).decimal(limit: 1 << 20) else { return nil }
        return Seen(word: Array(line.slice(0..<sp)), told: told, pollers: pollers)
    }
}
