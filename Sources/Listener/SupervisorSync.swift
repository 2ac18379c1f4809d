// Start-up sync: ask supervisord for every process's state over XML-RPC
// (`supervisor.getAllProcessInfo`, POST /RPC2) so that a listener started while programs
// run puts HAProxy right at once. Runs once; Strings are fine here.

struct SupervisorURL: Equatable {
    var endpoint: Endpoint
    var hostHeader: String
    var path: String
    /// "user:password", when the URL carries credentials.
    var credentials: String?

    /// `unix:///path/to/supervisor.sock` or `http://[user:password@]host:port[/path]`.
    static func parse(_ text: String) -> Result<SupervisorURL, AddressError> {
        func fail(_ reason: String) -> Result<SupervisorURL, AddressError> {
            .failure(AddressError(text: text, reason: reason))
        }
        if text.hasPrefix("unix://") {
            let rest = String(text.dropFirst(7))
            var credentials: String?
            var path = rest
            if let at = rest.firstIndex(of: "@"), !rest.hasPrefix("/") {
                credentials = String(rest[..<at])
                path = String(rest[rest.index(after: at)...])
            }
            switch parseAddress(path) {
            case .success(let e):
                return .success(SupervisorURL(endpoint: e, hostHeader: "localhost", path: "/RPC2", credentials: credentials))
            case .failure(let e):
                return fail(e.reason)
            }
        }
        guard text.hasPrefix("http://") else {
            return fail("expected unix:///PATH or http://HOST:PORT")
        }
        var rest = Substring(text.dropFirst(7))
        var path = "/RPC2"
        if let slash = rest.firstIndex(of: "/") {
            let p = rest[slash...]
            if p != "/" { path = p.hasSuffix("/RPC2") ? String(p) : String(p) + (p.hasSuffix("/") ? "RPC2" : "/RPC2") }
            rest = rest[..<slash]
        }
        var credentials: String?
        if let at = rest.lastIndex(of: "@") {
            credentials = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
        }
        let hostPort = rest.contains(":") && !rest.hasSuffix("]") ? String(rest) : String(rest) + ":80"
        switch parseAddress("tcp://" + hostPort) {
        case .success(let e):
            return .success(SupervisorURL(endpoint: e, hostHeader: String(rest), path: path, credentials: credentials))
        case .failure(let e):
            return fail(e.reason)
        }
    }
}

struct ProcessInfo: Equatable {
    var group: String
    var name: String
    var state: String
}

enum SupervisorSync {
    static let body = """
        <?xml version="1.0"?><methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>
        """

    static func request(_ url: SupervisorURL) -> [UInt8] {
        var head = "POST \(url.path) HTTP/1.0\r\nHost: \(url.hostHeader)\r\nContent-Type: text/xml\r\n"
        head += "Content-Length: \(body.utf8.count)\r\n"
        if let c = url.credentials { head += "Authorization: Basic \(base64(Array(c.utf8)))\r\n" }
        return Array((head + "\r\n" + body).utf8)
    }

    /// Every process supervisord knows, or an error text.
    static func fetch(_ url: SupervisorURL, display: String, timeoutMs: Int) -> Result<[ProcessInfo], SyncError> {
        let peer = Peer(display: display, endpoint: url.endpoint)
        var response: [UInt8] = []
        let ok = request(url).withBytes { req in
            peer.exchange(req, timeoutMs: timeoutMs) { response.append(contentsOf: $0) }
        }
        guard ok else { return .failure(SyncError(message: peer.errorText)) }
        return parseResponse(String(decoding: response, as: UTF8.self))
    }

    static func parseResponse(_ whole: String) -> Result<[ProcessInfo], SyncError> {
        let text = whole[...]
        guard let statusEnd = text.firstIndex(where: { $0.isNewline }) else {
            return .failure(SyncError(message: "empty answer from supervisord"))
        }
        let status = text[..<statusEnd]
        guard status.hasPrefix("HTTP/"), status.split(separator: " ").dropFirst().first == "200" else {
            return .failure(SyncError(message: "supervisord answered '\(status)'"))
        }
        guard let bodyStart = text.range(of: "\r\n\r\n")?.upperBound ?? text.range(of: "\n\n")?.upperBound else {
            return .failure(SyncError(message: "supervisord's answer has no body"))
        }
        let xml = text[bodyStart...]
        if xml.includes("<fault>") {
            return .failure(SyncError(message: "supervisord answered a fault: \(element("string", in: xml) ?? String(xml.prefix(200)))"))
        }
        guard xml.includes("<methodResponse>") else {
            return .failure(SyncError(message: "not an XML-RPC answer: '\(xml.prefix(200))'"))
        }
        var result: [ProcessInfo] = []
        for part in xml.components(separatedBy: "<struct>").dropFirst() {
            var fields: [String: String] = [:]
            for member in part.components(separatedBy: "<member>").dropFirst() {
                guard let name = element("name", in: member[...]),
                      let valueXML = rawElement("value", in: member[...]) else { continue }
                fields[name] = unescape(stripTags(valueXML))
            }
            if let name = fields["name"], let group = fields["group"], let state = fields["statename"] {
                result.append(ProcessInfo(group: group, name: name, state: state))
            }
        }
        return .success(result)
    }

    private static func rawElement(_ tag: String, in s: Substring) -> Substring? {
        guard let open = s.range(of: "<\(tag)>"), let close = s.range(of: "</\(tag)>", range: open.upperBound..<s.endIndex) else { return nil }
        return s[open.upperBound..<close.lowerBound]
    }

    private static func element(_ tag: String, in s: Substring) -> String? {
        rawElement(tag, in: s).map { unescape(String($0)) }
    }

    private static func stripTags(_ s: Substring) -> String {
        var out = ""
        var inTag = false
        for c in s {
            if c == "<" { inTag = true } else if c == ">" { inTag = false } else if !inTag { out.append(c) }
        }
        return out.trimmingSpaces
    }

    private static func unescape(_ s: String) -> String {
        s.replacingAll("&lt;", with: "<").replacingAll("&gt;", with: ">").replacingAll("&quot;", with: "\"")
            .replacingAll("&apos;", with: "'").replacingAll("&amp;", with: "&")
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            var v = 0
            for k in 0..<3 { v = v << 8 | (k < n ? Int(bytes[i + k]) : 0) }
            for k in 0..<4 {
                out.append(k <= n ? alphabet[(v >> (18 - 6 * k)) & 63] : UInt8(ascii: "="))
            }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        self[...].components(separatedBy: target).joined(separator: replacement)
    }

    var trimmingSpaces: String {
        String(drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
    }
}

struct SyncError: Error, Equatable {
    var message: String
}

extension Substring {
    func range(of needle: String, range: Range<Index>? = nil) -> Range<Index>? {
        let hay = range.map { self[$0] } ?? self
        var i = hay.startIndex
        while i < hay.endIndex {
            if hay[i...].hasPrefix(needle) {
                return i..<(hay.index(i, offsetBy: needle.count))
            }
            i = hay.index(after: i)
        }
        return nil
    }

    func components(separatedBy separator: String) -> [Substring] {
        var parts: [Substring] = []
        var rest = self
        while let r = rest.range(of: separator) {
            parts.append(rest[rest.startIndex..<r.lowerBound])
            rest = rest[r.upperBound...]
        }
        parts.append(rest)
        return parts
    }

    func includes(_ needle: String) -> Bool { range(of: needle) != nil }
}
