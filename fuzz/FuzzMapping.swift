// libFuzzer target: PROGRAM:BACKEND/SERVER mappings and --on STATE=ACTION overrides.
public func fuzzMapping(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: ByteView(start: data, count: size), as: UTF8.self)
    if case .success(let m) = Mapping.parse(text) {
        // Nothing that could split a command on HAProxy's CLI survives parsing.
        for part in [m.target.backend, m.target.server, m.process] {
            precondition(!part.isEmpty && !part.contains(where: { $0 <= 0x20 || $0 == UInt8(ascii: ";") }))
        }
        // HAProxy's naming rule: nothing its CLI would read as an escape or a separator.
        precondition(Target.invalidByte(in: m.target.backend) == nil && Target.invalidByte(in: m.target.server) == nil)
    }
    var table = StateTable()
    _ = table.override(text)
    return 0
}
