import CSocketShim
import Glibc

/// Signals as a descriptor (signalfd): blocked for the process and read by the reactor like
/// any input, so a signal is handled between two turns, never in the middle of one.
final class SignalChannel: Pollable {
    private let fd: Descriptor
    private let onSignal: (Int32) -> Void
    let error = FixedBuffer(capacity: 256)

    /// nil (with `error` set) when the signalfd could not be made.
    init?(_ signals: [Int32], error: FixedBuffer, onSignal: @escaping (Int32) -> Void) {
        let fd = signals.withUnsafeBufferPointer { s in
            error.withCString { e, n in shim_signalfd(s.baseAddress, Int32(s.count), e, n) }
        }
        guard fd >= 0 else { return nil }
        self.fd = Descriptor(raw: fd)
        self.onSignal = onSignal
    }

    deinit { fd.close() }

    var pollFD: Int32 { fd.raw }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { Int64.max }

    func turn(revents: Int16, now: Int64) {
        while true {
            let sig = error.withCString { e, n in shim_signalfd_next(fd.raw, e, n) }
            if sig <= 0 { return }
            onSignal(sig)
        }
    }
}

/// How a command takes signals: which ask it to stop, which it passes on to its child, how
/// long the last exchanges may take once a stop is decided, and how it ends. One value per
/// command, here, so the lists cannot drift apart.
struct StopPolicy {
    /// The signals that ask for a stop.
    let signals: [Int32]
    /// Passed on at once to a child (`wrap`).
    let passedOn: [Int32]
    /// Once a stop is decided: how long the last exchanges may take before the program ends
    /// all the same.
    let graceMs: Int64
    /// True: the program ends by the stop signal itself (supervisord then sees it was
    /// stopped); false: by an exit status.
    let endsBySignal: Bool

    /// Every signal some command takes as a stop: reset to its default and unblocked at start,
    /// whatever the parent handed down.
    static let everyStopSignal: [Int32] = [SIGTERM, SIGINT, SIGQUIT, SIGHUP]

    /// One exchange's timeout, and the turn that notices it ended.
    static func grace(timeoutMs: Int) -> Int64 { Int64(timeoutMs) + 100 }

    static func listener(timeoutMs: Int) -> StopPolicy {
        StopPolicy(signals: everyStopSignal, passedOn: [], graceMs: grace(timeoutMs: timeoutMs), endsBySignal: true)
    }

    /// As tini: every signal is read from the signalfd, none can end the wrapper behind the
    /// drain's back. The stop signals drain; every other one is passed on to the program, but
    /// those the kernel sends for the wrapper's own fault (SEGV, BUS, FPE, ILL, TRAP, SYS,
    /// ABRT), the two no process can catch (KILL, STOP), CHLD (the program's end comes through
    /// its pidfd), PIPE (ignored: a write to a closed pipe is an error, never a signal) and
    /// glibc's own two (32, 33).
    static func wrap(timeoutMs: Int) -> StopPolicy {
        let stops = [SIGTERM, SIGINT, SIGQUIT]
        let kept: Set<Int32> = [SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT, SIGCHLD, SIGPIPE, 32, 33]
        let passedOn = (1...64).map { Int32($0) }.filter { !kept.contains($0) && !stops.contains($0) }
        return StopPolicy(signals: stops, passedOn: passedOn, graceMs: grace(timeoutMs: timeoutMs), endsBySignal: false)
    }

    /// `restart`, `stop`, `start`: the first signal (Ctrl-C, a dropped SSH session, a kill)
    /// ends the run once its current step is finished or undone.
    static let control = StopPolicy(signals: [SIGINT, SIGTERM, SIGHUP], passedOn: [], graceMs: 0, endsBySignal: false)

    /// Every signal the command reads from its signalfd.
    var handled: [Int32] { signals + passedOn }

    /// How the program ends for a stop by `sig` that finished.
    func exit(_ sig: Int32) -> Exit { endsBySignal ? .signal(sig) : .status(0) }
}

/// A signal's name as `kill -l` gives it, for messages.
func signalName(_ sig: Int32) -> String {
    let names = [1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS", 8: "FPE", 9: "KILL",
                 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM", 16: "STKFLT", 17: "CHLD",
                 18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU", 23: "URG", 24: "XCPU", 25: "XFSZ",
                 26: "VTALRM", 27: "PROF", 28: "WINCH", 29: "IO", 30: "PWR", 31: "SYS"]
    return names[Int(sig)].map { "SIG" + $0 } ?? "signal \(sig)"
}
