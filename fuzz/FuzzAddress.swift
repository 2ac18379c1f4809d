// libFuzzer target: stats-socket addresses and supervisord URLs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAddress(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: Bytes(start: data, count: size), as: UTF8.self)
    if case .success(let e) = parseAddress(text) {
        switch e {
        case .unix(let path): precondition(path.utf8.first == UInt8(ascii: "/") && path.utf8.count <= 107)
        case .tcp(_, let port): precondition(Int(port).map { $0 >= 1 && $0 <= 65535 } == true)
        }
    }
    _ = SupervisorURL.parse(text)
    return 0
}
