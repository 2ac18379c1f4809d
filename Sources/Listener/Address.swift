// Stats-socket and supervisord addresses, in every spelling an operator may copy from
// a config file.

enum Endpoint: Equatable {
    case tcp(host: String, port: String)
    case unix(path: String)
}

struct AddressError: Error, Equatable {
    var text: String
    var reason: String

    var message: String { "invalid socket address '\(text)': \(reason)" }
}

/// `tcp://HOST:PORT`, `tcp://[V6]:PORT`, `unix:///path`, HAProxy's `ipv4@HOST:PORT`,
/// `ipv6@[ADDR]:PORT` (or `ipv6@ADDR:PORT`), `unix@/path`, and a bare `/path`.
func parseAddress(_ text: String) -> Result<Endpoint, AddressError> {
    func fail(_ reason: String) -> Result<Endpoint, AddressError> {
        .failure(AddressError(text: text, reason: reason))
    }
    if text.hasPrefix("/") { return unixPath(text, text) }
    if text.hasPrefix("unix://") { return unixPath(String(text.dropFirst(7)), text) }
    if text.hasPrefix("unix@") { return unixPath(String(text.dropFirst(5)), text) }
    for scheme in ["tcp://", "ipv4@", "ipv6@"] where text.hasPrefix(scheme) {
        return hostPort(String(text.dropFirst(scheme.count)), text, ipv6: scheme == "ipv6@")
    }
    return fail("unknown scheme (use tcp://HOST:PORT, unix:///PATH, ipv4@HOST:PORT, ipv6@[ADDR]:PORT, unix@/PATH or /PATH)")
}

private func unixPath(_ path: String, _ text: String) -> Result<Endpoint, AddressError> {
    guard path.hasPrefix("/") else {
        return .failure(AddressError(text: text, reason: "a unix socket path must be absolute"))
    }
    // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
    guard path.utf8.count <= 107 else {
        return .failure(AddressError(text: text, reason: "unix socket path longer than 107 bytes"))
    }
    guard !path.utf8.contains(0) else {
        return .failure(AddressError(text: text, reason: "path contains a NUL byte"))
    }
    return .success(.unix(path: path))
}

private func hostPort(_ rest: String, _ text: String, ipv6: Bool) -> Result<Endpoint, AddressError> {
    func fail(_ reason: String) -> Result<Endpoint, AddressError> {
        .failure(AddressError(text: text, reason: reason))
    }
    var host: Substring
    var port: Substring
    if rest.hasPrefix("[") {
        guard let close = rest.firstIndex(of: "]") else { return fail("'[' without ']'") }
        host = rest[rest.index(after: rest.startIndex)..<close]
        let after = rest[rest.index(after: close)...]
        guard after.hasPrefix(":") else { return fail("missing :PORT after ']'") }
        port = after.dropFirst()
    } else {
        guard let c = rest.lastIndex(of: ":") else { return fail("missing :PORT") }
        host = rest[..<c]
        port = rest[rest.index(after: c)...]
        if !ipv6 && host.contains(":") {
            return fail("an IPv6 address needs brackets, e.g. tcp://[::1]:8800")
        }
    }
    guard !host.isEmpty else { return fail("missing host") }
    guard !host.contains(where: { $0 == "/" || $0 == "@" || $0.isWhitespace || $0 == "\0" }) else {
        return fail("invalid host '\(host)'")
    }
    guard !port.isEmpty else { return fail("missing port") }
    guard port.count <= 5, port.allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(port), p >= 1, p <= 65535 else {
        return fail("port '\(port)' is not a number from 1 to 65535")
    }
    return .success(.tcp(host: String(host), port: String(p)))
}
