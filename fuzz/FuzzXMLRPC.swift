// libFuzzer target: supervisord's XML-RPC answers (HTTP status, headers, body), fed in chunks
// whose sizes come from the input too. Whatever arrives, the buffers stay their size.
public func fuzzXMLRPC(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let chunk = Int(data[0]) % 64 + 1
    let input = ByteView(start: data + 1, count: size - 1)
    var reader = XMLRPCReader(keys: ["name", "group", "statename"])
    var offset = 0
    while offset < input.count {
        let end = min(offset + chunk, input.count)
        reader.feed(input.slice(offset..<end)) { s in
            for k in 0..<3 { if let v = s.value(k) { precondition(v.count <= 4096) } }
        }
        offset = end
    }
    precondition(reader.status.count <= 200 && reader.faultString.count <= 300)
    _ = reader.failure
    return 0
}
