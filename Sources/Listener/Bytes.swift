import Glibc

/// A view of bytes owned by someone else (a fixed buffer, an array being read).
typealias Bytes = UnsafeBufferPointer<UInt8>

let space = UInt8(ascii: " ")
let newline = UInt8(ascii: "\n")
let colon = UInt8(ascii: ":")

extension UnsafeBufferPointer where Element == UInt8 {
    /// The bytes in `range`, as a view of the same memory.
    func slice(_ range: Range<Int>) -> Bytes {
        Bytes(rebasing: self[range])
    }

    func firstIndex(of byte: UInt8, from start: Int = 0) -> Int? {
        var i = start
        while i < count {
            if self[i] == byte { return i }
            i += 1
        }
        return nil
    }

    func equals(_ other: Bytes) -> Bool {
        count == other.count && (count == 0 || memcmp(baseAddress!, other.baseAddress!, count) == 0)
    }

    func equals(_ s: StaticString) -> Bool {
        count == s.utf8CodeUnitCount && (count == 0 || memcmp(baseAddress!, s.utf8Start, count) == 0)
    }

    func hasPrefix(_ s: StaticString) -> Bool {
        count >= s.utf8CodeUnitCount && memcmp(baseAddress!, s.utf8Start, s.utf8CodeUnitCount) == 0
    }

    /// A non-negative decimal number, nil if not all digits or above `limit`.
    func decimal(limit: Int) -> Int? {
        if count == 0 || count > 19 { return nil }
        var n = 0
        for b in self {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            n = n * 10 + Int(b - 0x30)
            if n > limit { return nil }
        }
        return n
    }
}

extension Array where Element == UInt8 {
    /// Runs `body` with the array's bytes as a view; no copy is made.
    @inline(__always)
    func withBytes<R>(_ body: (Bytes) -> R) -> R {
        withUnsafeBufferPointer(body)
    }
}

/// Space-separated `key:value` tokens, as in supervisord's event headers and
/// PROCESS_STATE payloads. Returns the value of the first token named `key`.
func tokenValue(_ key: StaticString, in line: Bytes) -> Bytes? {
    var start = 0
    while start < line.count {
        let end = line.firstIndex(of: space, from: start) ?? line.count
        let token = line.slice(start..<end)
        let k = key.utf8CodeUnitCount
        if token.count > k, token[k] == colon, token.slice(0..<k).equals(key) {
            return token.slice(k + 1..<token.count)
        }
        start = end + 1
    }
    return nil
}

/// A byte buffer of fixed capacity, allocated once and reused; appends past the
/// capacity are cut and remembered in `truncated`.
final class FixedBuffer {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var count = 0
    var truncated = false

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    deinit { base.deallocate() }

    var bytes: Bytes { Bytes(start: base, count: count) }

    func clear() {
        count = 0
        truncated = false
    }

    func append(_ p: Bytes) {
        let n = Swift.min(p.count, capacity - count)
        if n < p.count { truncated = true }
        if n > 0 { (base + count).update(from: p.baseAddress!, count: n) }
        count += n
    }

    func append(_ s: StaticString) {
        append(Bytes(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    func append(_ a: [UInt8]) {
        a.withBytes { append($0) }
    }

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
}

// Start-up text (arguments, URLs, supervisord's answer) is parsed as UTF-8 bytes too:
// String's Character-level operations page in the standard library's Unicode tables,
// which would double the listener's resident memory.

extension StaticString {
    var bytes: Bytes { Bytes(start: utf8Start, count: utf8CodeUnitCount) }
}

extension Array where Element == UInt8 {
    var string: String { String(decoding: self, as: UTF8.self) }

    func starts(with prefix: StaticString) -> Bool { starts(with: prefix.bytes) }

    /// The bytes after `prefix`, nil when they do not start with it.
    func after(_ prefix: StaticString) -> [UInt8]? {
        starts(with: prefix) ? Array(self[prefix.utf8CodeUnitCount...]) : nil
    }

    /// The first index of `needle` at or after `from`.
    func index(of needle: [UInt8], from: Int = 0) -> Int? {
        guard !needle.isEmpty, count >= needle.count else { return nil }
        var i = from
        while i + needle.count <= count {
            if self[i] == needle[0] && self[i..<i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    var asciiUppercased: [UInt8] { map { $0 >= 0x61 && $0 <= 0x7a ? $0 - 32 : $0 } }
    var asciiLowercased: [UInt8] { map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 32 : $0 } }

    /// All ASCII digits (and at least one).
    var isDigits: Bool { !isEmpty && allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }

    func equals(_ s: StaticString) -> Bool { elementsEqual(s.bytes) }
}

extension String {
    init(bytes: Bytes) {
        self = String(decoding: bytes, as: UTF8.self)
    }

    var bytes: [UInt8] { Array(utf8) }

    func starts(with prefix: StaticString) -> Bool { utf8.starts(with: prefix.bytes) }
}
