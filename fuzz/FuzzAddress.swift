// libFuzzer target: stats-socket addresses and supervisord URLs.
public func fuzzAddress(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: ByteView(start: data, count: size), as: UTF8.self)
    if case .success(let e) = parseAddress(text) {
        switch e {
        case .unix(let path): precondition(path.utf8.first == UInt8(ascii: "/") && path.utf8.count <= 107)
        case .tcp(_, let port): precondition(Int(port).map { $0 >= 1 && $0 <= 65535 } == true)
        }
    }
    if case .success(let url) = SupervisorURL.parse(text, username: "u", password: "secret-pw") {
        // A URL that shapes a request holds no byte that could end a line or a header.
        precondition(!url.path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f }))
        precondition(!url.hostHeader.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f }))
        let shown = Array(url.display.utf8), secret = Array("secret-pw".utf8)
        precondition(shown.count < secret.count
            || !(0...(shown.count - secret.count)).contains { shown[$0..<$0 + secret.count].elementsEqual(secret) })
    }
    return 0
}
