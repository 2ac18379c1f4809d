/// An index from byte strings to small integers, built once at start: open addressing with
/// FNV-1a, looked up without allocating, so a lookup costs the same with 10 or 10,000 keys.
/// A key may be given in two parts joined by a separator (`backend` `/` `server`), so that
/// a line's fields are looked up where they lie.
struct ByteTable {
    private var keys: [[UInt8]] = []
    private var values: [Int] = []
    /// Slot -> index into keys, or -1.
    private var slots: [Int]
    private let mask: Int

    init(expected: Int) {
        var size = 16
        while size < expected * 2 { size <<= 1 }
        slots = Array(repeating: -1, count: size)
        mask = size - 1
    }

    var count: Int { keys.count }

    private static func hash(_ a: ByteView, _ sep: UInt8?, _ b: ByteView) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in a { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        if let sep {
            h = (h ^ UInt64(sep)) &* 0x100_0000_01b3
            for x in b { h = (h ^ UInt64(x)) &* 0x100_0000_01b3 }
        }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    private static func matches(_ key: [UInt8], _ a: ByteView, _ sep: UInt8?, _ b: ByteView) -> Bool {
        let total = a.count + (sep == nil ? 0 : 1 + b.count)
        guard key.count == total else { return false }
        return key.withBytes { k in
            guard k.slice(0..<a.count).equals(a) else { return false }
            guard let sep else { return true }
            return k[a.count] == sep && k.slice(a.count + 1..<total).equals(b)
        }
    }

    /// The value stored under a key, or nil.
    func find(_ a: ByteView, _ sep: UInt8? = nil, _ b: ByteView = .empty) -> Int? {
        var s = Self.hash(a, sep, b) & mask
        while true {
            let k = slots[s]
            if k < 0 { return nil }
            if Self.matches(keys[k], a, sep, b) { return values[k] }
            s = (s + 1) & mask
        }
    }

    /// Stores `value` under the key unless it is there; returns the value the key has.
    @discardableResult
    mutating func insert(_ key: [UInt8], sep: UInt8? = nil, _ second: [UInt8] = [], value: Int) -> Int {
        let existing = key.withBytes { a in second.withBytes { b in find(a, sep, b) } }
        if let existing { return existing }
        var full = key
        if let sep { full += [sep] + second }
        if (keys.count + 1) * 2 > slots.count { grow() }
        // FNV runs byte by byte: the parts hash as their concatenation does.
        place(full.withBytes { Self.hash($0, nil, .empty) }, index: keys.count)
        keys.append(full)
        values.append(value)
        return value
    }

    private mutating func place(_ hash: Int, index: Int) {
        var s = hash & mask
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = index
    }

    private mutating func grow() {
        var bigger = ByteTable(expected: slots.count)
        for (k, v) in zip(keys, values) {
            bigger.keys.append(k)
            bigger.values.append(v)
            bigger.place(k.withBytes { Self.hash($0, nil, .empty) }, index: bigger.keys.count - 1)
        }
        self = bigger
    }
}
