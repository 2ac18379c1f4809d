import CSocketShim
import Glibc

// One request and its answer with a stats socket or supervisord, as a non-blocking state
// machine on the reactor: connect (every resolved address in turn), send, read until the
// peer closes, all before one absolute deadline that is checked on every turn, so a peer
// that keeps sending is cut at the deadline like one that sends nothing. The answer is
// handed on chunk by chunk to a streaming parser; nothing here grows with it.

/// An address this program talks to, resolved on first use and again after a failure, so
/// that steady-state exchanges never resolve a name.
final class Peer {
    static let maxAddresses = 8
    /// How the peer is named in messages: never with a password.
    let display: String
    let endpoint: Endpoint
    let cName: UnsafeMutablePointer<CChar>
    private let addresses = UnsafeMutablePointer<shim_addr>.allocate(capacity: Peer.maxAddresses)
    private(set) var addressCount = 0
    /// The last failure: "connect tcp://127.0.0.1:8800: Connection refused".
    let error = FixedBuffer(capacity: 512)

    init(display: String, endpoint: Endpoint) {
        self.display = display
        self.endpoint = endpoint
        cName = strdup(display)
    }

    deinit {
        free(cName)
        addresses.deallocate()
    }

    var errorText: String { error.text }

    func address(_ i: Int) -> UnsafeMutablePointer<shim_addr> { addresses + i }

    /// Resolves the endpoint unless it is resolved; false with `error` set.
    func resolve() -> Bool {
        if addressCount > 0 { return true }
        let n: Int32 = error.withCString { e, len in
            switch endpoint {
            case .tcp(let host, let port): shim_resolve_tcp(host, port, addresses, Int32(Peer.maxAddresses), e, len)
            case .unix(let path): shim_resolve_unix(path, addresses, e, len)
            }
        }
        addressCount = max(0, Int(n))
        return n > 0
    }

    /// A name may point elsewhere next time (a restarted container, say).
    func forgetAddresses() {
        if case .tcp = endpoint { addressCount = 0 }
    }

    /// Records a failure found in what the peer answered: "DISPLAY: reason 'quoted'".
    func fail(_ reason: StaticString, quoting: ByteView? = nil) {
        error.clear()
        error.append(display)
        error.append(": ")
        error.append(reason)
        if let quoting {
            error.append(" '")
            error.append(quoting.slice(0..<min(quoting.count, 200)))
            error.append("'")
        }
    }
}

final class Exchange {
    enum Phase { case idle, connecting, backlogFull, sending, receiving }
    enum Outcome { case inProgress, finished, failed }

    /// Past this an answer is not one this program asked for (10,000 servers' state is
    /// about 2 MB).
    static let maxAnswer = 64 << 20
    /// How often a unix socket with a full backlog is tried again.
    static let backlogRetryMs: Int64 = 20

    let peer: Peer
    private(set) var phase = Phase.idle
    private(set) var fd = Descriptor.none
    private(set) var deadline = Int64.max
    private var retryAt = Int64.max
    private var addressIndex = 0
    private var request = ByteView.empty
    private var sent = 0
    private(set) var received = 0
    /// The last exchange failed because nothing listens at any of the peer's addresses
    /// (each connect refused, or no socket file: `Errno.nobodyListens`), as opposed to a
    /// permission error, a lack of descriptors, a timeout or a failure after connecting,
    /// which say nothing of the peer.
    private(set) var nobodyListens = false
    /// Whether every address tried so far was found with nobody listening.
    private var everyAddressAbsent = true
    private let chunk: FixedBuffer

    init(peer: Peer, chunkSize: Int = 16384) {
        self.peer = peer
        chunk = FixedBuffer(capacity: chunkSize)
    }

    deinit { fd.close() }

    var inFlight: Bool { phase != .idle }

    var pollFD: Int32 { phase == .backlogFull ? -1 : fd.raw }

    var pollEvents: Int16 {
        switch phase {
        case .connecting, .sending: Int16(SHIM_POLLOUT)
        case .receiving: Int16(SHIM_POLLIN)
        default: 0
        }
    }

    var wakeAt: Int64 {
        switch phase {
        case .idle: Int64.max
        case .backlogFull: min(retryAt, deadline)
        default: deadline
        }
    }

    /// Starts an exchange; `request` must stay valid until it ends (a caller's fixed buffer).
    /// `.failed` at once when no address could even be tried.
    func start(_ request: ByteView, now: Int64, timeoutMs: Int) -> Outcome {
        cancel()
        self.request = request
        sent = 0
        received = 0
        deadline = now + Int64(timeoutMs)
        addressIndex = 0
        nobodyListens = false
        everyAddressAbsent = true
        guard peer.resolve() else { return .failed }
        return connectAddress(now: now)
    }

    /// Ends an exchange in flight without a result.
    func cancel() {
        fd.close()
        fd = .none
        phase = .idle
    }

    /// Advances on readiness or time; `consume` gets each chunk of the answer.
    func turn(revents: Int16, now: Int64, consume: (ByteView) -> Void) -> Outcome {
        switch phase {
        case .idle:
            return .finished
        case .backlogFull:
            if now >= deadline { return fail(timedOut: "connect", " (its listen backlog stayed full)") }
            return now >= retryAt ? connectAddress(now: now) : .inProgress
        case .connecting:
            if revents == 0 { return now >= deadline ? fail(timedOut: "connect") : .inProgress }
            let rc = peer.error.withCString { e, n in shim_connect_finish(fd.raw, peer.cName, e, n) }
            if rc != 0 { return nextAddress(now: now) }
            phase = .sending
            return send(now: now)
        case .sending:
            return send(now: now)
        case .receiving:
            if revents != 0 {
                switch fd.read(into: chunk.base, capacity: chunk.capacity, name: peer.cName, error: peer.error) {
                case .closed:
                    return finish()
                case .failed:
                    return fail()
                case .processed(let n):
                    received += n
                    consume(ByteView(start: chunk.base, count: n))
                    if received > Exchange.maxAnswer {
                        peer.fail("answer longer than 64 MiB: not an answer to this program's command")
                        return fail()
                    }
                case .wouldBlock:
                    break
                }
            }
            if now >= deadline {
                return fail(timedOut: "read", received > 0 ? " (the answer was still coming)" : "")
            }
            return .inProgress
        }
    }

    /// Tries the current address: connected, connecting, waiting for a backlog, or moved on
    /// to the next address after a refusal.
    private func connectAddress(now: Int64) -> Outcome {
        var newFD: Int32 = -1
        let rc = peer.error.withCString { e, n in
            shim_connect_start(peer.address(addressIndex), &newFD, peer.cName, e, n)
        }
        switch rc {
        case Int32(SHIM_CONNECTED):
            fd = Descriptor(raw: newFD)
            phase = .sending
            return send(now: now)
        case Int32(SHIM_IN_PROGRESS):
            fd = Descriptor(raw: newFD)
            phase = .connecting
            return .inProgress
        case Int32(SHIM_BACKLOG_FULL):
            phase = .backlogFull
            retryAt = now + Exchange.backlogRetryMs
            return .inProgress
        default:
            return nextAddress(now: now)
        }
    }

    /// The current address failed (its error is in `peer.error`): the next one, within the
    /// same deadline, or the failure.
    private func nextAddress(now: Int64) -> Outcome {
        fd.close()
        fd = .none
        if !peer.error.code.nobodyListens { everyAddressAbsent = false }
        addressIndex += 1
        if addressIndex < peer.addressCount && now < deadline { return connectAddress(now: now) }
        nobodyListens = addressIndex >= peer.addressCount && everyAddressAbsent
        return fail()
    }

    private func send(now: Int64) -> Outcome {
        while sent < request.count {
            switch fd.send(request.slice(sent..<request.count), name: peer.cName, error: peer.error) {
            case .processed(let n): sent += n
            case .wouldBlock, .closed: return now >= deadline ? fail(timedOut: "write") : .inProgress
            case .failed: return fail()
            }
        }
        phase = .receiving
        return now >= deadline ? fail(timedOut: "read") : .inProgress
    }

    private func finish() -> Outcome {
        cancel()
        return .finished
    }

    private func fail(timedOut call: StaticString? = nil, _ detail: StaticString = "") -> Outcome {
        if let call {
            peer.error.clear()
            peer.error.append(call)
            peer.error.append(byte: space)
            peer.error.append(peer.display)
            peer.error.append(": timed out")
            peer.error.append(detail)
            peer.error.code = .timedOut
        }
        cancel()
        peer.forgetAddresses()
        return .failed
    }
}
