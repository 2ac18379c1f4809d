import CSocketShim

/// Signals as a descriptor (signalfd): blocked for the process and read by the reactor like
/// any input, so a signal is handled between two turns, never in the middle of one.
final class SignalChannel: Pollable {
    private let fd: Int32
    private let onSignal: (Int32) -> Void
    let error = FixedBuffer(capacity: 256)

    /// nil (with `error` set) when the signalfd could not be made.
    init?(_ signals: [Int32], error: FixedBuffer, onSignal: @escaping (Int32) -> Void) {
        let fd = signals.withUnsafeBufferPointer { s in
            error.withCString { e, n in shim_signalfd(s.baseAddress, Int32(s.count), e, n) }
        }
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.onSignal = onSignal
    }

    deinit { shim_close(fd) }

    var pollFD: Int32 { fd }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { Int64.max }

    func turn(revents: Int16, now: Int64) {
        while true {
            let sig = error.withCString { e, n in shim_signalfd_next(fd, e, n) }
            if sig <= 0 { return }
            onSignal(sig)
        }
    }
}

/// A signal's name as `kill -l` gives it, for messages.
func signalName(_ sig: Int32) -> String {
    let names = [1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 6: "ABRT", 7: "BUS", 8: "FPE", 9: "KILL",
                 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM", 28: "WINCH"]
    return names[Int(sig)].map { "SIG" + $0 } ?? "signal \(sig)"
}

/// A child process, watched through its pidfd: readable once it has ended.
final class ChildProcess: Pollable {
    let pid: Int32
    private var pidfd: Int32
    private let onExit: (_ code: Int32, _ signal: Int32) -> Void
    let error = FixedBuffer(capacity: 256)
    private(set) var ended = false

    init(pid: Int32, pidfd: Int32, onExit: @escaping (Int32, Int32) -> Void) {
        self.pid = pid
        self.pidfd = pidfd
        self.onExit = onExit
    }

    deinit { shim_close(pidfd) }

    var pollFD: Int32 { ended ? -1 : pidfd }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { Int64.max }

    func turn(revents: Int16, now: Int64) {
        var code: Int32 = 0, sig: Int32 = 0
        let r = error.withCString { e, n in shim_reap(pid, &code, &sig, e, n) }
        if r == 0 { return }
        ended = true
        shim_close(pidfd)
        pidfd = -1
        onExit(r < 0 ? 1 : code, r < 0 ? 0 : sig)
    }

    /// Sends a signal to the child (group: to its whole process group).
    func send(_ sig: Int32, group: Bool) {
        guard !ended else { return }
        _ = error.withCString { e, n in shim_kill(group ? -pid : pid, sig, e, n) }
    }
}
