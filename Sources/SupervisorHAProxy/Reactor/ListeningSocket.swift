import CSocketShim

/// A TCP socket listening where it was told (never a wildcard of its own choosing): each
/// connection that waits is taken at its turn, at most `perTurn` of them, and handed on with
/// its peer's IP. The only server socket of the program: the agent port.
final class ListeningSocket: Pollable {
    let peer: Peer
    private(set) var fd = Descriptor.none
    private let peerAddress = UnsafeMutablePointer<shim_addr>.allocate(capacity: 1)
    private let perTurn: Int
    /// Told of each connection taken: its descriptor (now the receiver's) and peer's IP.
    var onAccept: (Descriptor, PeerIP, Int64) -> Void = { d, _, _ in d.close() }
    /// Told when taking a connection failed (out of descriptors): the words in `peer.error`.
    /// True when it freed a descriptor (the next connection is taken at once), false to
    /// leave the socket unpolled for a while.
    var onAcceptFailed: (Int64) -> Bool = { _ in false }
    /// While out of descriptors, the socket is left unpolled until then.
    private var pausedUntil: Int64 = 0

    init(_ endpoint: Endpoint, display: String, perTurn: Int = 64) {
        peer = Peer(display: display, endpoint: endpoint)
        self.perTurn = perTurn
    }

    deinit {
        fd.close()
        peerAddress.deallocate()
    }

    /// Binds and listens: false with the reason in `peer.error`.
    func open(backlog: Int32 = 128) -> Bool {
        guard peer.resolve() else { return false }
        let n = peer.error.withCString { e, len in shim_listen_tcp(peer.address(0), backlog, peer.cName, e, len) }
        guard n >= 0 else { return false }
        fd = Descriptor(raw: n)
        return true
    }

    var pollFD: Int32 { pausedUntil > 0 ? -1 : fd.raw }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { pausedUntil > 0 ? pausedUntil : Int64.max }

    func turn(revents: Int16, now: Int64) {
        if pausedUntil > 0 {
            guard now >= pausedUntil else { return }
            pausedUntil = 0
        }
        for _ in 0..<perTurn {
            let c = peer.error.withCString { e, len in shim_accept(fd.raw, peerAddress, peer.cName, e, len) }
            if c == Int32(SHIM_WOULD_BLOCK) { return }
            if c < 0 {
                if onAcceptFailed(now) { continue }
                // Out of descriptors: the waiting connection stays queued; try again shortly
                // rather than spin on a socket that stays readable.
                pausedUntil = now + 100
                return
            }
            onAccept(Descriptor(raw: c), PeerIP(peerAddress), now)
        }
    }
}

/// A peer's IP address (the port left out: each connection has its own), kept without
/// allocating: IPv4 (also IPv4-mapped IPv6) in the low word.
struct PeerIP: Equatable {
    var high: UInt64 = 0
    var low: UInt64 = 0
    var isV6 = false

    static let none = PeerIP()

    init() {}

    /// An IPv4 address as the kernel keeps it (network order in memory: 127.0.0.1 is 0x0100007f).
    init(v4: UInt64) { low = v4 }

    /// The address from its bytes in network order (4 of them for IPv4, 16 for IPv6).
    init(bytes: [UInt8], isV6: Bool) {
        self.isV6 = isV6
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { w in
            for i in 0..<(isV6 ? 16 : 4) { w[i] = bytes[i] }
        }
        high = isV6 ? words.0 : 0
        low = isV6 ? words.1 : words.0
    }

    /// Byte i of the address in network order.
    func byte(_ i: Int) -> UInt8 {
        if !isV6 { return UInt8((low >> UInt64(8 * i)) & 0xff) }
        return UInt8(((i < 8 ? high : low) >> UInt64(8 * (i % 8))) & 0xff)
    }

    init(_ a: UnsafePointer<shim_addr>) {
        var bytes: (UInt64, UInt64) = (0, 0)
        let n = withUnsafeMutableBytes(of: &bytes) { shim_addr_ip(a, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        isV6 = n == 16
        high = isV6 ? bytes.0 : 0
        low = isV6 ? bytes.1 : bytes.0 & 0xffff_ffff
    }
}

extension PeerIP {
    /// Dotted IPv4, or IPv6 as eight hexadecimal groups.
    func append(to b: FixedBuffer) {
        guard isV6 else {
            for k in 0..<4 {
                if k > 0 { b.append(byte: UInt8(ascii: ".")) }
                b.append(decimal: Int((low >> (8 * UInt64(k))) & 0xff))
            }
            return
        }
        let hex: StaticString = "0123456789abcdef"
        for g in 0..<8 {
            if g > 0 { b.append(byte: colon) }
            let word = g < 4 ? high : low
            let shift = UInt64(8 * (2 * (g % 4)))
            let v = Int((word >> shift) & 0xff) << 8 | Int((word >> (shift + 8)) & 0xff)
            var started = false
            for d in stride(from: 12, through: 0, by: -4) {
                let digit = (v >> d) & 0xf
                if digit != 0 || started || d == 0 {
                    started = true
                    b.append(byte: hex.utf8Start[digit])
                }
            }
        }
    }
}
