// The addresses this program connects to (HAProxy's stats sockets, supervisord), in every
// spelling an operator may copy from a config file.

enum Endpoint: Equatable {
    case tcp(host: String, port: String)
    case unix(path: String)

    /// `tcp://HOST:PORT` (`tcp://[V6]:PORT`), `unix:///path`.
    var display: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        case .unix(let path): "unix://\(path)"
        }
    }
}

/// `tcp://HOST:PORT`, `tcp://[V6]:PORT`, `unix:///path`, HAProxy's `ipv4@HOST:PORT`,
/// `ipv6@[ADDR]:PORT` (or `ipv6@ADDR:PORT`), `unix@/path`, and a bare `/path`.
func parseAddress(_ text: String) -> Result<Endpoint, Problem> {
    addressOrReason(text).mapError { Problem("invalid socket address '\(text)': \($0.text)") }
}

/// `parseAddress`, its failure only the reason (for a message that names the whole, such as
/// a supervisord URL's).
func addressOrReason(_ text: String) -> Result<Endpoint, Problem> {
    let b = text.bytes
    let result: Result<Endpoint, Problem>
    if b.first == UInt8(ascii: "/") {
        result = unixPath(b)
    } else if let path = b.after("unix://") ?? b.after("unix@") {
        result = unixPath(path)
    } else if let rest = b.after("tcp://") ?? b.after("ipv4@") {
        result = hostPort(rest, ipv6: false)
    } else if let rest = b.after("ipv6@") {
        result = hostPort(rest, ipv6: true)
    } else {
        result = reason("unknown scheme (use tcp://HOST:PORT, unix:///PATH, ipv4@HOST:PORT, ipv6@[ADDR]:PORT, unix@/PATH or /PATH)")
    }
    return result
}

/// A failure: its reason alone.
private func reason(_ r: String) -> Result<Endpoint, Problem> {
    .failure(Problem(r))
}

private func unixPath(_ path: [UInt8]) -> Result<Endpoint, Problem> {
    guard path.first == UInt8(ascii: "/") else { return reason("a unix socket path must be absolute") }
    // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
    guard path.count <= 107 else { return reason("unix socket path longer than 107 bytes") }
    guard !path.contains(0) else { return reason("path contains a NUL byte") }
    return .success(.unix(path: path.string))
}

private func hostPort(_ rest: [UInt8], ipv6: Bool) -> Result<Endpoint, Problem> {
    if rest.contains(UInt8(ascii: "@")) { return reason("a stats socket address takes no user or password") }
    if rest.contains(slash) { return reason("a TCP address has no path (use tcp://HOST:PORT)") }
    let host: [UInt8]
    let port: [UInt8]
    if rest.first == UInt8(ascii: "[") {
        guard let close = rest.firstIndex(of: UInt8(ascii: "]")) else { return reason("'[' without ']'") }
        host = Array(rest[1..<close])
        guard close + 1 < rest.count, rest[close + 1] == colon else { return reason("missing :PORT after ']'") }
        port = Array(rest[(close + 2)...])
    } else {
        guard let c = rest.lastIndex(of: colon) else { return reason("missing :PORT") }
        host = Array(rest[..<c])
        port = Array(rest[(c + 1)...])
        if !ipv6 && host.contains(colon) {
            return reason("an IPv6 address needs brackets, e.g. tcp://[::1]:8800")
        }
    }
    guard !host.isEmpty else { return reason("missing host") }
    guard !host.contains(where: { $0 <= 0x20 || $0 == 0x7f || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "@") }) else {
        return reason("invalid host '\(host.string)'")
    }
    guard !port.isEmpty else { return reason("missing port") }
    let p = port.isDigits && port.count <= 5 ? port.reduce(0) { $0 * 10 + Int($1 - 0x30) } : 0
    guard p >= 1 && p <= 65535 else { return reason("port '\(port.string)' is not a number from 1 to 65535") }
    return .success(.tcp(host: host.string, port: String(p)))
}
