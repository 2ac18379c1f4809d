import CSocketShim

/// The reactor's time, in ms: the monotonic clock (`shim_now_ms`), or, for a test, a virtual
/// one that moves only when told (swift-nio's `EmbeddedEventLoop.advanceTime`): state
/// machines driven by timers are then tested exactly, in milliseconds, with no sleep.
final class Clock {
    private var virtualNow: Int64?

    /// The monotonic clock.
    init() {}

    /// A virtual clock that starts at `start`.
    init(virtual start: Int64) { virtualNow = start }

    var now: Int64 { virtualNow ?? shim_now_ms() }

    /// Moves a virtual clock to `t` (never back).
    func move(to t: Int64) {
        guard let v = virtualNow else { preconditionFailure("only a virtual clock is moved") }
        virtualNow = max(v, t)
    }
}
