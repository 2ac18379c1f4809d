import CSocketShim

/// Whether something listens at an address yet: a non-blocking connect every `everyMs`, each
/// bounded by `attemptMs`, until one is accepted (then closed at once: nothing is sent) or the
/// probe is cancelled. For servers HAProxy does not check, whose program must be seen
/// serving before it takes traffic.
final class ConnectProbe: Pollable {
    private let peer: Peer
    var endpoint: Endpoint { peer.endpoint }
    private let everyMs: Int64
    private let attemptMs: Int64
    private var fd = Descriptor.none
    private var attemptEnds = Int64.max
    private var nextAt = Int64.max
    /// Told once, when a connect is accepted.
    var onAccepted: (Int64) -> Void = { _ in }
    /// Told after each refused or timed-out attempt (the reason in `error`).
    var onRefused: (Int64) -> Void = { _ in }

    init(_ endpoint: Endpoint, display: String, everyMs: Int64 = 200, attemptMs: Int64 = 1000) {
        peer = Peer(display: display, endpoint: endpoint)
        self.everyMs = everyMs
        self.attemptMs = attemptMs
    }

    deinit { fd.close() }

    var error: FixedBuffer { peer.error }
    var display: String { peer.display }

    func start(now: Int64) {
        nextAt = now
    }

    func cancel() {
        fd.close()
        fd = .none
        nextAt = Int64.max
    }

    var pollFD: Int32 { fd.raw }
    var pollEvents: Int16 { Int16(SHIM_POLLOUT) }
    var wakeAt: Int64 { fd.isOpen ? attemptEnds : nextAt }

    func turn(revents: Int16, now: Int64) {
        if fd.isOpen {
            if revents != 0 {
                let rc = peer.error.withCString { e, n in shim_connect_finish(fd.raw, peer.cName, e, n) }
                return rc == 0 ? connected(now) : refuse(now)
            }
            if now >= attemptEnds {
                peer.fail("connect timed out")
                refuse(now)
            }
            return
        }
        guard now >= nextAt else { return }
        guard peer.resolve() else { return refuse(now) }
        var newFD: Int32 = -1
        let rc = peer.error.withCString { e, n in shim_connect_start(peer.address(0), &newFD, peer.cName, e, n) }
        switch rc {
        case Int32(SHIM_CONNECTED):
            fd = Descriptor(raw: newFD)
            connected(now)
        case Int32(SHIM_IN_PROGRESS):
            fd = Descriptor(raw: newFD)
            attemptEnds = now + attemptMs
        default:
            refuse(now)
        }
    }

    /// A connect that went through is a program serving, unless the socket picked the very
    /// port it connects to as its own (nothing listens there; docs/protocols.md).
    private func connected(_ now: Int64) {
        let selfConnected = peer.error.withCString { e, n in shim_connected_to_self(fd.raw, peer.cName, e, n) }
        if selfConnected == 0 { return succeed(now) }
        if selfConnected > 0 { peer.fail("connected to itself: nothing listens") }
        refuse(now)
    }

    private func succeed(_ now: Int64) {
        cancel()
        onAccepted(now)
    }

    private func refuse(_ now: Int64) {
        fd.close()
        fd = .none
        nextAt = now + everyMs
        onRefused(now)
    }
}
