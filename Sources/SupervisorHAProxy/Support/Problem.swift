// The Swift side's one error convention: a call that can fail for a reason a person must
// read returns `Result<Value, Problem>` (or throws a Problem), the reason in words. I/O
// steps on the reactor say `IOResult` instead (Reactor/IO.swift), their words in the
// caller's fixed buffer, so that the event path allocates nothing.

/// What is wrong, in words: an argument, a configuration value, a peer's answer.
struct Problem: Error, Equatable {
    var text: String
    init(_ text: String) { self.text = text }
}

/// A byte as an error message shows it: `'\'`, `a space`, `byte 0x1b`.
func describe(byte b: UInt8) -> String {
    if b == space { return "a space" }
    if b == UInt8(ascii: "\\") { return "a backslash" }
    if b > 0x20 && b < 0x7f { return "'\(String(UnicodeScalar(b)))'" }
    let hex: [Character] = Array("0123456789abcdef")
    return "byte 0x\(hex[Int(b >> 4)])\(hex[Int(b & 0xf)])"
}
