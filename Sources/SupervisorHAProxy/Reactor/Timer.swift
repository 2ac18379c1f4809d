/// A member with no descriptor: wakes the reactor at a time and runs its action then. The
/// reactor's one timer idiom (the pace of polls, a deadline), added and removed like any
/// member.
final class Timer: Pollable {
    private(set) var at = Int64.max
    private let action: (Int64) -> Void

    init(_ action: @escaping (_ now: Int64) -> Void) { self.action = action }

    /// Fires at `at` (absolute ms of `shim_now_ms`), replacing any earlier setting.
    func fire(at: Int64) { self.at = at }

    func cancel() { at = Int64.max }

    var pollFD: Int32 { -1 }
    var pollEvents: Int16 { 0 }
    var wakeAt: Int64 { at }

    func turn(revents: Int16, now: Int64) {
        at = Int64.max
        action(now)
    }
}
