import Glibc

// Outside text (events, answers, arguments, URLs) is handled as UTF-8 bytes: String's
// Character-level operations page in the standard library's Unicode tables, which would
// double the resident memory, and the per-event path must not allocate.

/// The value of an ASCII hex digit, nil for any other byte.
func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// A non-owning view of bytes that someone else owns (a fixed buffer, an array being read).
typealias ByteView = UnsafeBufferPointer<UInt8>

let space = UInt8(ascii: " ")
let newline = UInt8(ascii: "\n")
let colon = UInt8(ascii: ":")
let slash = UInt8(ascii: "/")

extension UnsafeBufferPointer where Element == UInt8 {
    nonisolated(unsafe) static let empty = ByteView(start: nil, count: 0)

    /// The bytes in `range`, as a view of the same memory.
    func slice(_ range: Range<Int>) -> ByteView {
        ByteView(rebasing: self[range])
    }

    func firstIndex(of byte: UInt8, from start: Int = 0) -> Int? {
        var i = start
        while i < count {
            if self[i] == byte { return i }
            i += 1
        }
        return nil
    }

    func equals(_ other: ByteView) -> Bool {
        count == other.count && (count == 0 || memcmp(baseAddress!, other.baseAddress!, count) == 0)
    }

    func equals(_ s: StaticString) -> Bool {
        count == s.utf8CodeUnitCount && (count == 0 || memcmp(baseAddress!, s.utf8Start, count) == 0)
    }

    func hasPrefix(_ s: StaticString) -> Bool {
        count >= s.utf8CodeUnitCount && memcmp(baseAddress!, s.utf8Start, s.utf8CodeUnitCount) == 0
    }

    /// Whether these bytes, ASCII letters folded to lower case, contain `s` (lower case).
    func asciiLowercasedContains(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard n <= count else { return false }
        var i = 0
        while i + n <= count {
            var k = 0
            while k < n, (self[i + k] | (self[i + k] >= 0x41 && self[i + k] <= 0x5a ? 0x20 : 0)) == s.utf8Start[k] { k += 1 }
            if k == n { return true }
            i += 1
        }
        return false
    }

    func asciiLowercasedEquals(_ s: StaticString) -> Bool {
        count == s.utf8CodeUnitCount && asciiLowercasedContains(s)
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

    /// The `index`th field (0-based) between `separator`s, or nil when there are fewer.
    func field(_ index: Int, separator: UInt8) -> ByteView? {
        guard index >= 0 else { return nil }
        var start = 0
        var n = 0
        while start <= count {
            let end = firstIndex(of: separator, from: start) ?? count
            if n == index { return slice(start..<end) }
            n += 1
            start = end + 1
        }
        return nil
    }
}

/// Space-separated `key:value` tokens, as in supervisord's event headers and
/// PROCESS_STATE payloads. Returns the value of the first token named `key`.
func tokenValue(_ key: StaticString, in line: ByteView) -> ByteView? {
    var start = 0
    let k = key.utf8CodeUnitCount
    while start < line.count {
        let end = line.firstIndex(of: space, from: start) ?? line.count
        let token = line.slice(start..<end)
        if token.count > k, token[k] == colon, token.slice(0..<k).equals(key) {
            return token.slice(k + 1..<token.count)
        }
        start = end + 1
    }
    return nil
}

extension StaticString {
    var bytes: ByteView { ByteView(start: utf8Start, count: utf8CodeUnitCount) }
}

extension Array where Element == UInt8 {
    /// Runs `body` with the array's bytes as a view; no copy is made.
    @inline(__always)
    func withBytes<R>(_ body: (ByteView) -> R) -> R {
        withUnsafeBufferPointer(body)
    }

    var string: String { String(decoding: self, as: UTF8.self) }

    func starts(with prefix: StaticString) -> Bool { starts(with: prefix.bytes) }

    /// The bytes after `prefix`, nil when they do not start with it.
    func after(_ prefix: StaticString) -> [UInt8]? {
        starts(with: prefix) ? Array(self[prefix.utf8CodeUnitCount...]) : nil
    }

    var asciiUppercased: [UInt8] { map { $0 >= 0x61 && $0 <= 0x7a ? $0 - 32 : $0 } }
    var asciiLowercased: [UInt8] { map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 32 : $0 } }

    /// All ASCII digits (and at least one).
    var isDigits: Bool { !isEmpty && allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }

    func equals(_ s: StaticString) -> Bool { elementsEqual(s.bytes) }
}

extension String {
    init(bytes: ByteView) {
        self = String(decoding: bytes, as: UTF8.self)
    }

    var bytes: [UInt8] { Array(utf8) }

    func starts(with prefix: StaticString) -> Bool { utf8.starts(with: prefix.bytes) }

    /// This text with every byte outside printable ASCII escaped: the one rule for anything
    /// from outside that reaches a message.
    var escaped: String {
        let b = FixedBuffer(capacity: utf8.count * 4 + 1)
        b.append(escaping: bytes)
        return String(bytes: b.bytes)
    }
}
