// Durations as operators write them in options and configuration files.

/// Milliseconds from seconds that may have a fraction ("2", "0.5"), at most a day; nil if
/// not such a number.
func parseSeconds(_ value: String, allowZero: Bool) -> Int? {
    let b = value.bytes
    let dot = b.firstIndex(of: UInt8(ascii: ".")) ?? b.count
    let whole = Array(b[..<dot]), fraction = dot < b.count ? Array(b[(dot + 1)...]) : []
    guard whole.isDigits || (whole.isEmpty && fraction.isDigits), fraction.isEmpty || fraction.isDigits,
          whole.count <= 6, dot == b.count || !fraction.isEmpty else { return nil }
    var ms = whole.reduce(0) { $0 * 10 + Int($1 - 0x30) } * 1000
    for (k, d) in fraction.prefix(3).enumerated() { ms += Int(d - 0x30) * [100, 10, 1][k] }
    guard ms <= 86_400_000, allowZero || ms > 0 else { return nil }
    return ms
}

/// "1.2 s" from milliseconds, for what a command prints.
func secondsText(_ ms: Int64) -> String { "\(ms / 1000).\(ms % 1000 / 100) s" }
