/// A byte buffer of fixed capacity, allocated once and reused; appends past the capacity
/// are cut and remembered in `truncated`. What it holds never grows, whatever arrives.
final class FixedBuffer {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var count = 0
    var truncated = false
    /// For a buffer that holds a failure (lent to the shim, or written by a peer's parser):
    /// its errno, `none` when no errno names it.
    var code = Errno.none

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    var bytes: ByteView { ByteView(start: base, count: count) }
    var isEmpty: Bool { count == 0 }
    var text: String { String(bytes: bytes) }

    func clear() {
        count = 0
        truncated = false
        code = .none
    }

    func append(_ p: ByteView) {
        let n = Swift.min(p.count, capacity - count)
        if n < p.count { truncated = true }
        if n > 0 { (base + count).update(from: p.baseAddress!, count: n) }
        count += n
    }

    func append(_ s: StaticString) { append(s.bytes) }

    func append(_ a: [UInt8]) { a.withBytes { append($0) } }

    func append(_ s: String) {
        var s = s
        s.withUTF8 { append($0) }
    }

    func append(byte: UInt8) {
        if count < capacity {
            base[count] = byte
            count += 1
        } else {
            truncated = true
        }
    }

    func append(decimal value: Int) {
        if value < 0 { append(byte: UInt8(ascii: "-")) }
        let v = value.magnitude
        var divisor: UInt = 1
        while divisor <= v / 10 { divisor *= 10 }
        while divisor > 0 {
            append(byte: UInt8(0x30 + v / divisor % 10))
            divisor /= 10
        }
    }

    /// Two digits, zero-padded.
    func append(twoDigits v: Int) {
        append(byte: UInt8(0x30 + (v / 10) % 10))
        append(byte: UInt8(0x30 + v % 10))
    }

    /// Bytes from outside, made safe for a log line: printable ASCII as is, a backslash
    /// doubled, `\n`, `\r`, `\t`, and every other byte as `\xHH`. One line stays one line,
    /// and no terminal escape gets through.
    func append(escaping p: ByteView) {
        let hex: StaticString = "0123456789abcdef"
        for b in p {
            switch b {
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x20...0x7e: append(byte: b)
            case newline: append("\\n")
            case 0x0d: append("\\r")
            case 0x09: append("\\t")
            default:
                append("\\x")
                append(byte: hex.utf8Start[Int(b >> 4)])
                append(byte: hex.utf8Start[Int(b & 0xf)])
            }
        }
    }

    func append(escaping a: [UInt8]) { a.withBytes { append(escaping: $0) } }

}

extension FixedBuffer {
    /// Lends the whole buffer to a C function that writes a NUL-terminated message into it
    /// (the shim's error contract), then takes the message as the buffer's contents, and
    /// the failure's errno as its `code`.
    func withCString<R>(_ body: (UnsafeMutablePointer<CChar>, Int) -> R) -> R {
        clear()
        base[0] = 0
        let r = UnsafeMutableRawPointer(base).withMemoryRebound(to: CChar.self, capacity: capacity) {
            body($0, capacity)
        }
        var n = 0
        while n < capacity && base[n] != 0 { n += 1 }
        count = n
        if n > 0 { code = .lastShimFailure }
        return r
    }
}
