import CSocketShim
import Glibc

/// A child process, watched through its pidfd: readable once it has ended.
final class ChildProcess: Pollable {
    let pid: Int32
    private var pidfd: Descriptor
    private let onExit: (_ code: Int32, _ signal: Int32) -> Void
    let error = FixedBuffer(capacity: 256)
    private(set) var ended = false

    init(pid: Int32, pidfd: Int32, onExit: @escaping (Int32, Int32) -> Void) {
        self.pid = pid
        self.pidfd = Descriptor(raw: pidfd)
        self.onExit = onExit
    }

    deinit { pidfd.close() }

    var pollFD: Int32 { ended ? -1 : pidfd.raw }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { Int64.max }

    func turn(revents: Int16, now: Int64) {
        var code: Int32 = 0, sig: Int32 = 0
        let r = error.withCString { e, n in shim_reap(pid, &code, &sig, e, n) }
        if r == 0 { return }
        ended = true
        pidfd.close()
        pidfd = .none
        onExit(r < 0 ? 1 : code, r < 0 ? 0 : sig)
    }

    /// Sends a signal to the child (group: to its whole process group).
    func send(_ sig: Int32, group: Bool) {
        guard !ended else { return }
        _ = error.withCString { e, n in shim_kill(group ? -pid : pid, sig, e, n) }
    }

    /// Once the child has ended: SIGKILL to whatever is left of its process group (workers
    /// it forked that outlived it, holding its port). True when there was something left.
    /// The group's id cannot name another group meanwhile: a pid is not reused while a group
    /// with that id has members.
    func killLeftovers() -> Bool {
        guard ended, error.withCString({ e, n in shim_kill(-pid, 0, e, n) }) == 0 else { return false }
        _ = error.withCString { e, n in shim_kill(-pid, SIGKILL, e, n) }
        return true
    }
}
