import CSocketShim
import Glibc

/// The wrapped program's notify socket (`wrap --notify`): an abstract datagram socket whose
/// name goes to the program as `NOTIFY_SOCKET`, read on the reactor. Each datagram is
/// hostile until shown otherwise: one from another uid than the program's (or root's), one
/// longer than the buffer, and descriptors passed along are dropped and counted, never
/// acted on; what is left is parsed in place, with no allocation.
final class NotifySocket: Pollable {
    static let capacity = 4096
    /// At most this many datagrams a turn: a flood cannot starve the reactor's other members
    /// (the kernel's receive buffer bounds what waits).
    static let perTurn = 64

    enum Dropped: Equatable {
        /// From a process of another user: its uid.
        case stranger(uid: Int32)
        /// Longer than `capacity`.
        case tooLong
    }

    let fd: Descriptor
    /// `@` and the abstract name, as `NOTIFY_SOCKET` spells it.
    let name: String
    let uid: uid_t
    private let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: NotifySocket.capacity)
    private let error = FixedBuffer(capacity: 256)
    /// A datagram from the program's uid, parsed, with its sender's pid.
    var onMessage: (NotifyMessage, Int32, Int64) -> Void = { _, _, _ in }
    var onDropped: (Dropped, Int64) -> Void = { _, _ in }
    /// A read that failed (the words), once: the socket is not polled again.
    var onFailed: (String) -> Void = { _ in }
    private var failed = false

    /// Opens the socket; nil with the reason in `error` when it cannot be.
    init?(uid: uid_t, error: FixedBuffer) {
        var name = [CChar](repeating: 0, count: 128)
        let fd = error.withCString { e, n in shim_notify_open(&name, name.count, e, n) }
        guard fd >= 0 else { return nil }
        self.fd = Descriptor(raw: fd)
        self.name = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.uid = uid
    }

    deinit {
        fd.close()
        buffer.deallocate()
    }

    var pollFD: Int32 { failed ? -1 : fd.raw }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { Int64.max }

    func turn(revents: Int16, now: Int64) {
        for _ in 0..<NotifySocket.perTurn {
            var pid: Int32 = -1, sender: Int32 = -1
            let n = error.withCString { e, len in shim_notify_recv(fd.raw, buffer, NotifySocket.capacity, &pid, &sender, e, len) }
            switch n {
            case Int(SHIM_WOULD_BLOCK):
                return
            case Int(SHIM_TRUNCATED):
                onDropped(.tooLong, now)
            case ..<0:
                failed = true
                onFailed(error.text)
                return
            default:
                guard sender >= 0, uid_t(sender) == uid || sender == 0 else {
                    onDropped(.stranger(uid: sender), now)
                    continue
                }
                let message = NotifyMessage(ByteView(start: buffer, count: n))
                if !message.isEmpty { onMessage(message, pid, now) }
            }
        }
    }
}
