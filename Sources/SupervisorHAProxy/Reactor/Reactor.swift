import CSocketShim

// The one loop. Every descriptor (supervisord's stdin, each exchange with each HAProxy and
// with supervisord, a signalfd, a child's pidfd) belongs to a member that says what to poll
// and when it next wants a turn; the reactor sleeps in one `poll` until a descriptor is
// ready or the earliest of those times comes, then gives each such member its turn. No member
// ever blocks, so no peer can hold up another: an event is acknowledged as soon as it is read.
// A turn allocates nothing; the pollfd array is sized when members are added.

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

final class Reactor {
    private var members: [Pollable] = []
    private var fds: UnsafeMutablePointer<shim_pollfd>
    private var owners: UnsafeMutablePointer<Int>
    private var capacity = 0
    /// Why the last `turn()` failed.
    let error = FixedBuffer(capacity: 256)

    init() {
        fds = .allocate(capacity: 1)
        owners = .allocate(capacity: 1)
    }

    deinit {
        fds.deallocate()
        owners.deallocate()
    }

    /// Adds a member (at set-up; the only place memory is allocated).
    func add(_ member: Pollable) {
        members.append(member)
        if members.count > capacity {
            capacity = members.count * 2
            fds.deallocate()
            owners.deallocate()
            fds = .allocate(capacity: capacity)
            owners = .allocate(capacity: capacity)
        }
    }

    /// One turn of the loop: polls until a descriptor is ready or the earliest wake time,
    /// then turns every member that is ready or due. False when poll itself failed.
    func turn() -> Bool {
        var n = 0
        var wake = Int64.max
        for (i, m) in members.enumerated() {
            wake = min(wake, m.wakeAt)
            let fd = m.pollFD
            guard fd >= 0 else { continue }
            fds[n] = shim_pollfd(fd: fd, events: m.pollEvents, revents: 0)
            owners[n] = i
            n += 1
        }
        let ready = error.withCString { e, len in
            shim_poll(fds, UInt32(n), wake == Int64.max ? -1 : wake, e, len)
        }
        if ready < 0 { return false }
        let now = shim_now_ms()
        var k = 0
        for i in members.indices {
            var revents: Int16 = 0
            if k < n && owners[k] == i {
                revents = fds[k].revents
                k += 1
            }
            let m = members[i]
            if revents != 0 || m.wakeAt <= now { m.turn(revents: revents, now: now) }
        }
        return true
    }
}
