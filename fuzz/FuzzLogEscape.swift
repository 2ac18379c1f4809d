// libFuzzer target: the one escaping rule for outside bytes in log lines. Whatever goes in,
// what comes out is printable ASCII on one line.
public func fuzzLogEscape(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let out = FixedBuffer(capacity: size * 4 + 1)
    out.append(escaping: ByteView(start: data, count: size))
    precondition(!out.truncated)
    for b in out.bytes { precondition(b >= 0x20 && b < 0x7f) }
    return 0
}
