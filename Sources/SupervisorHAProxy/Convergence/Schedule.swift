// What is due when for one HAProxy instance: arithmetic on times, no I/O, so that backoff
// and resync can be tested without a socket.

struct Timing: Equatable {
    var timeoutMs = 2000
    var retryMaxMs = 30000
    /// 0: no periodic resync.
    var resyncMs = 30000
    /// How often `show info` is read to notice a reload or restart (0: never).
    var reloadCheckMs = 1000
    static let retryFirstMs = 500
}

struct Schedule {
    let timing: Timing
    private(set) var failures = 0
    private(set) var retryAt: Int64 = 0
    /// A read went through since the last failure: the retry's command may follow it at once.
    private var readSinceFailure = false
    /// The first read is the start-up check: due at once.
    private(set) var resyncAt: Int64 = 0
    /// The next `show info`; the first comes one interval after the start-up read.
    private(set) var infoAt = Int64.max

    init(timing: Timing) { self.timing = timing }

    /// Whether the next exchange must read `show servers state` first: after a failure
    /// HAProxy may have restarted and forgotten everything.
    func readDue(now: Int64) -> Bool { failures > 0 && !readSinceFailure || resyncAt <= now }

    /// When the instance next wants a turn: its retry after a failure (a retry starts with a
    /// read, so pending changes wait for it), at once when there is work, else its resync.
    func wakeAt(hasPending: Bool) -> Int64 {
        if failures > 0 && !readSinceFailure { return retryAt }
        return hasPending ? 0 : min(resyncAt, infoAt)
    }

    /// Whether `show info` is due (when nothing else is).
    func infoDue(now: Int64) -> Bool { infoAt <= now }

    /// A read of `show servers state` went through.
    mutating func readDone(now: Int64) {
        readSinceFailure = failures > 0
        resyncAt = timing.resyncMs > 0 ? now + Int64(timing.resyncMs) : Int64.max
        // The first `show info` right after the start-up read: it names the worker to watch.
        if infoAt == Int64.max && timing.reloadCheckMs > 0 { infoAt = now } else { infoDone(now: now) }
    }

    /// A `show info` went through.
    mutating func infoDone(now: Int64) {
        infoAt = timing.reloadCheckMs > 0 ? now + Int64(timing.reloadCheckMs) : Int64.max
    }

    /// Asks for a read at once (a reload noticed, a lost event).
    mutating func readNow() { resyncAt = 0 }

    /// An exchange failed. Returns the wait before the retry in ms, or nil when retries are
    /// off (`--retry-max 0`): then nothing is retried, and the next read is the next resync.
    mutating func failed(now: Int64) -> Int? {
        guard timing.retryMaxMs > 0 else {
            // Nothing is tried again before the next resync, not even `show info`.
            failures = 0
            resyncAt = timing.resyncMs > 0 ? now + Int64(timing.resyncMs) : Int64.max
            infoAt = resyncAt
            return nil
        }
        failures += 1
        readSinceFailure = false
        let backoff = min(Timing.retryFirstMs << min(failures - 1, 20), timing.retryMaxMs)
        retryAt = now + Int64(backoff)
        return backoff
    }

    /// The failing command went through; returns how many attempts had failed before it.
    mutating func succeeded() -> Int {
        defer {
            failures = 0
            readSinceFailure = false
        }
        return failures
    }
}
