import CSocketShim

// The one loop (redis's ae.c): every descriptor (supervisord's stdin, each exchange with
// each HAProxy and with supervisord, a signalfd, a child's pidfd) belongs to a member that
// says what to poll and when it next wants a turn; the reactor sleeps in one `poll` until a
// descriptor is ready or the earliest of those times comes, then gives each such member its
// turn. Members are added and removed as they come and go; one asks the loop to end with
// `stop`, and `run` returns what it asked for. No member waits on a peer: each step is
// non-blocking, and the only waits are the bounded writes toward supervisord and the log
// (`pipeWriteMs`, 5 s), so no peer can hold up another for longer. A turn allocates nothing:
// the pollfd array grows only when members are added. Time is the reactor's `clock`: the
// monotonic one, or a test's virtual one moved by `advanceTime`.

/// A member of the reactor.
protocol Pollable: AnyObject {
    /// The descriptor to poll now, or -1 for none.
    var pollFD: Int32 { get }
    /// SHIM_POLLIN and/or SHIM_POLLOUT.
    var pollEvents: Int16 { get }
    /// When it next wants a turn without its descriptor being ready (absolute ms of
    /// `shim_now_ms`), or `Int64.max` for never.
    var wakeAt: Int64 { get }
    /// Its turn: `revents` is what poll reported (0 when woken by time).
    func turn(revents: Int16, now: Int64)
}

/// How the program ends: an exit status, or death by a signal (the way a wrapped child died,
/// or the stop signal the listener was sent, so that supervisord sees what happened).
enum Exit: Equatable {
    case status(Int32)
    case signal(Int32)

    /// Ends the process so.
    func end() -> Never {
        switch self {
        case .status(let code): shim_exit_like(code, 0)
        case .signal(let sig): shim_exit_like(0, sig)
        }
        fatalError("shim_exit_like returned")
    }
}

final class Reactor {
    private var members: [Pollable] = []
    private var leaving: [Bool] = []
    private var anyLeaving = false
    private var turning = false
    private var fds: UnsafeMutablePointer<shim_pollfd>
    private var owners: UnsafeMutablePointer<Int>
    private var capacity = 0
    /// Set by `stop`: the loop ends after the current turn.
    private(set) var exit: Exit?
    /// Set when the loop ended itself because poll failed; the words in `error`.
    private(set) var failed = false
    let error = FixedBuffer(capacity: 256)
    /// Where `now` comes from: the monotonic clock, or a test's virtual one.
    let clock: Clock

    init(clock: Clock = Clock()) {
        self.clock = clock
        fds = .allocate(capacity: 1)
        owners = .allocate(capacity: 1)
    }

    var now: Int64 { clock.now }

    deinit {
        fds.deallocate()
        owners.deallocate()
    }

    /// How many members it polls: constant while a command runs (a test holds it to that).
    var memberCount: Int { members.count }

    /// Adds a member. It is polled from the next turn on; the pollfd array grows then, never
    /// under a turn that is reading it (a member added by another's turn, a probe, a timer).
    func add(_ member: Pollable) {
        members.append(member)
        leaving.append(false)
    }

    /// Room for every member in the pollfd array, before a turn fills it (the only place
    /// memory may be allocated).
    private func reserve() {
        guard members.count > capacity else { return }
        capacity = members.count * 2
        fds.deallocate()
        owners.deallocate()
        fds = .allocate(capacity: capacity)
        owners = .allocate(capacity: capacity)
    }

    /// Removes a member; during a turn it is skipped at once and dropped after the turn.
    func remove(_ member: Pollable) {
        guard let i = members.firstIndex(where: { $0 === member }) else { return }
        leaving[i] = true
        anyLeaving = true
        if !turning { compact() }
    }

    /// Ends the loop after the current turn: `run` returns `exit`.
    func stop(_ exit: Exit) {
        if self.exit == nil { self.exit = exit }
    }

    /// Turns until a member calls `stop` (its exit), `done()` holds or the deadline passes
    /// (nil). A poll that fails stops the loop with status 1, its words in `error`.
    @discardableResult
    func run(until done: () -> Bool = { false }, deadline: Int64 = Int64.max) -> Exit? {
        while exit == nil && !done() {
            if deadline != Int64.max && clock.now >= deadline { return nil }
            if !turn(deadline: deadline) {
                failed = true
                stop(.status(1))
            }
        }
        return exit
    }

    /// One turn: polls until a descriptor is ready or the earliest wake time, then turns
    /// every member that is ready or due. False when poll itself failed.
    private func turn(deadline: Int64) -> Bool {
        let (n, wake) = pollSet(wakeNoLaterThan: deadline)
        let ready = error.withCString { e, len in
            shim_poll(fds, UInt32(n), wake == Int64.max ? -1 : wake, e, len)
        }
        if ready < 0 { return false }
        _ = turnMembers(n, now: clock.now)
        return true
    }

    /// With a virtual clock: moves time on by `ms`. At each moment, every descriptor that is
    /// ready without waiting is turned until none is (a peer in the same process, such as a
    /// test's scripted HAProxy, answers at once), then the clock jumps to the next member's
    /// wake time, as the real loop would sleep to it. Nothing sleeps.
    func advanceTime(by ms: Int64) {
        let end = clock.now + ms
        // Turns at one moment, bounded: a member that stays due or ready forever would be
        // a bug the test should see, not a hang.
        var rounds = 0
        while exit == nil && rounds < 100_000 {
            rounds += 1
            if turnReady() { continue }
            compact()
            var next = Int64.max
            for (i, m) in members.enumerated() where !leaving[i] { next = min(next, m.wakeAt) }
            guard next <= end, exit == nil else { break }
            if next > clock.now {
                clock.move(to: next)
                rounds = 0
            }
        }
        clock.move(to: end)
    }

    /// One turn that does not wait: polls with no timeout and turns what is ready or due at
    /// the clock's now. Whether anything was turned (a turn may start new I/O: poll again).
    private func turnReady() -> Bool {
        let (n, _) = pollSet(wakeNoLaterThan: Int64.max)
        let ready = error.withCString { e, len in shim_poll(fds, UInt32(n), 0, e, len) }
        if ready < 0 {
            failed = true
            stop(.status(1))
            return false
        }
        return turnMembers(n, now: clock.now)
    }

    /// Fills the pollfd array with every member's descriptor: how many, and the earliest
    /// wake time of any member (no later than `limit`).
    private func pollSet(wakeNoLaterThan limit: Int64) -> (count: Int, wake: Int64) {
        compact()
        reserve()
        var n = 0
        var wake = limit
        for (i, m) in members.enumerated() {
            wake = min(wake, m.wakeAt)
            let fd = m.pollFD
            guard fd >= 0 else { continue }
            fds[n] = shim_pollfd(fd: fd, events: m.pollEvents, revents: 0)
            owners[n] = i
            n += 1
        }
        return (n, wake)
    }

    /// Turns every member that poll found ready (the first `n` of `fds`) or that is due;
    /// whether any was.
    private func turnMembers(_ n: Int, now: Int64) -> Bool {
        var any = false
        turning = true
        defer {
            turning = false
            compact()
        }
        var k = 0
        for i in 0..<members.count {
            var revents: Int16 = 0
            if k < n && owners[k] == i {
                revents = fds[k].revents
                k += 1
            }
            guard !leaving[i] else { continue }
            let m = members[i]
            if revents != 0 || m.wakeAt <= now {
                any = true
                m.turn(revents: revents, now: now)
            }
        }
        return any
    }

    private func compact() {
        guard anyLeaving else { return }
        anyLeaving = false
        var j = 0
        for i in 0..<members.count where !leaving[i] {
            members.swapAt(i, j)
            j += 1
        }
        members.removeLast(members.count - j)
        leaving.removeAll(keepingCapacity: true)
        leaving.append(contentsOf: repeatElement(false, count: j))
    }
}
