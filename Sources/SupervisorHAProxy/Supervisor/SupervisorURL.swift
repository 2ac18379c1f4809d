// supervisord's XML-RPC address: what supervisord sets in SUPERVISOR_SERVER_URL for its
// children, or what an operator gives. A password never reaches a message: `display` shows
// it as `***`.

struct SupervisorURL: Equatable {
    var endpoint: Endpoint
    var hostHeader: String
    var path: String
    /// "user:password", from the URL or from SUPERVISOR_USERNAME/SUPERVISOR_PASSWORD.
    var credentials: String?
    /// The URL as messages show it.
    var display: String

    /// `unix:///path/to/supervisor.sock` or `http://[user:password@]host:port[/path]`.
    /// `environment` gives SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD, which supervisor's
    /// own tools read for a URL without credentials.
    static func parse(_ text: String, username: String? = nil, password: String? = nil) -> Result<SupervisorURL, Problem> {
        let b = text.bytes
        let shown = redacted(b)
        func fail(_ reason: String) -> Result<SupervisorURL, Problem> {
            .failure(Problem("invalid supervisord URL '\(shown)': \(reason)"))
        }
        // Every byte of the URL may end up in a request line or a header.
        if let bad = b.first(where: { $0 <= 0x20 || $0 == 0x7f }) {
            return fail("contains \(describe(byte: bad)); a URL may hold no space or control character")
        }
        var fromEnvironment: String?
        if let username, !username.isEmpty { fromEnvironment = username + ":" + (password ?? "") }
        if let rest = b.after("unix://") {
            guard rest.first == slash else { return fail("a unix socket path must be absolute (unix:///PATH)") }
            switch addressOrReason(rest.string) {
            case .success(let e):
                return .success(SupervisorURL(endpoint: e, hostHeader: "localhost", path: "/RPC2",
                                              credentials: fromEnvironment, display: shown))
            case .failure(let e):
                return fail(e.text)
            }
        }
        guard var rest = b.after("http://") else { return fail("unknown scheme (use unix:///PATH or http://HOST:PORT)") }
        var path = "/RPC2"
        var credentials: String?
        if let at = userinfoEnd(rest[...]) {
            let info = rest[..<at]
            let colonAt = info.firstIndex(of: colon) ?? info.endIndex
            // %XX as in any URL: a password may hold ':', '@' or '/' written so.
            guard let user = percentDecoded(info[..<colonAt]),
                  let password = colonAt < info.endIndex ? percentDecoded(info[(colonAt + 1)...]) : [] else {
                return fail("a '%' in the userinfo must be followed by two hex digits")
            }
            credentials = (user + (colonAt < info.endIndex ? [colon] + password : [])).string
            rest = Array(rest[(at + 1)...])
        }
        if let s = rest.firstIndex(of: slash) {
            let p = Array(rest[s...])
            if p.count > 1 { path = p.string }
            rest = Array(rest[..<s])
        }
        let hasPort = rest.last != UInt8(ascii: "]") && rest.contains(colon)
        switch addressOrReason("tcp://" + rest.string + (hasPort ? "" : ":80")) {
        case .success(let e):
            return .success(SupervisorURL(endpoint: e, hostHeader: rest.string, path: path,
                                          credentials: credentials ?? fromEnvironment, display: shown))
        case .failure(let e):
            return fail(e.text)
        }
    }

    /// `$SUPERVISOR_SERVER_URL` (supervisord sets it for its children), with the credentials
    /// of `$SUPERVISOR_USERNAME`/`$SUPERVISOR_PASSWORD` when it has none; nil when unset.
    static func fromEnvironment(_ env: Environment) -> Result<SupervisorURL, Problem>? {
        env.supervisorURL.map { parse($0, username: env.username, password: env.password) }
    }

    /// The URL with the password (what follows the first ':' of the userinfo) as `***`,
    /// whatever the scheme, and for a URL that is not one (`http:/admin:pw@h`, `admin:pw@h`):
    /// then everything from its first ':' to its last '@'.
    static func redacted(_ b: [UInt8]) -> String {
        var start = 0, end: Int?
        if let scheme = b.firstIndex(of: colon), b.count > scheme + 2, b[scheme + 1] == slash, b[scheme + 2] == slash {
            start = scheme + 3
            end = userinfoEnd(b[start...])
        } else {
            end = b.lastIndex(of: UInt8(ascii: "@"))
        }
        guard let at = end, let c = b[start..<at].firstIndex(of: colon) else { return b.string }
        return (Array(b[...c]) + "***".bytes + Array(b[at...])).string
    }

    /// The '@' that ends the userinfo of what follows `scheme://`: the path begins at the
    /// first '/' after the first '@', and the userinfo ends at the last '@' before it (a
    /// password may hold '/' and '@'). One rule for parsing and showing.
    private static func userinfoEnd(_ rest: ArraySlice<UInt8>) -> Int? {
        guard let first = rest.firstIndex(of: UInt8(ascii: "@")) else { return nil }
        let pathStart = rest[first...].firstIndex(of: slash) ?? rest.endIndex
        return rest[..<pathStart].lastIndex(of: UInt8(ascii: "@"))
    }

    /// `%XX` decoded; nil for a '%' without two hex digits.
    private static func percentDecoded(_ b: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        var i = b.startIndex
        while i < b.endIndex {
            if b[i] == UInt8(ascii: "%") {
                guard i + 2 < b.endIndex, let h = hexDigitValue(b[i + 1]), let l = hexDigitValue(b[i + 2]) else { return nil }
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return out
    }
}

