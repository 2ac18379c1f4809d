// Start-up sync: ask supervisord for every process's state over XML-RPC
// (`supervisor.getAllProcessInfo`, POST /RPC2) so that a listener started while programs
// run puts HAProxy right at once. Runs once, on bytes like everything else.

struct SyncError: Error, Equatable {
    var message: String
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
        if let c = url.credentials { head += "Authorization: Basic \(base64(c.bytes))\r\n" }
        return (head + "\r\n" + body).bytes
    }

    /// Every process supervisord knows, or an error text.
    static func fetch(_ url: SupervisorURL, display: String, timeoutMs: Int) -> Result<[ProcessInfo], SyncError> {
        let peer = Peer(display: display, endpoint: url.endpoint)
        var response: [UInt8] = []
        let ok = request(url).withBytes { req in
            peer.exchange(req, timeoutMs: timeoutMs) { response.append(contentsOf: $0) }
        }
        guard ok else { return .failure(SyncError(message: peer.errorText)) }
        return parseResponse(response)
    }

    static func parseResponse(_ text: String) -> Result<[ProcessInfo], SyncError> {
        parseResponse(text.bytes)
    }

    static func parseResponse(_ r: [UInt8]) -> Result<[ProcessInfo], SyncError> {
        func fail(_ m: String) -> Result<[ProcessInfo], SyncError> { .failure(SyncError(message: m)) }
        let statusEnd = r.firstIndex(where: { $0 == UInt8(ascii: "\r") || $0 == newline }) ?? r.count
        guard statusEnd > 0 else { return fail("empty answer from supervisord") }
        let status = Array(r[..<statusEnd])
        let words = status.split(separator: space)
        guard status.starts(with: "HTTP/"), words.count > 1, Array(words[1]).equals("200") else {
            return fail("supervisord answered '\(status.string)'")
        }
        guard let bodyStart = r.index(of: "\r\n\r\n".bytes).map({ $0 + 4 }) ?? r.index(of: [newline, newline]).map({ $0 + 2 }) else {
            return fail("supervisord's answer has no body")
        }
        let xml = Array(r[bodyStart...])
        if xml.index(of: "<fault>".bytes) != nil {
            return fail("supervisord answered a fault: \(element("string", in: xml) ?? Array(xml.prefix(200)).string)")
        }
        guard xml.index(of: "<methodResponse>".bytes) != nil else {
            return fail("not an XML-RPC answer: '\(Array(xml.prefix(200)).string)'")
        }
        var result: [ProcessInfo] = []
        for part in xml.pieces(after: "<struct>".bytes) {
            var name: String?, group: String?, state: String?
            for member in part.pieces(after: "<member>".bytes) {
                guard let key = element("name", in: member), let value = rawElement("value", in: member) else { continue }
                let text = unescape(stripTags(value))
                switch key {
                case "name": name = text
                case "group": group = text
                case "statename": state = text
                default: break
                }
            }
            if let name, let group, let state {
                result.append(ProcessInfo(group: group, name: name, state: state))
            }
        }
        return .success(result)
    }

    private static func rawElement(_ tag: String, in a: [UInt8]) -> [UInt8]? {
        guard let open = a.index(of: "<\(tag)>".bytes) else { return nil }
        let from = open + tag.utf8.count + 2
        guard let close = a.index(of: "</\(tag)>".bytes, from: from) else { return nil }
        return Array(a[from..<close])
    }

    private static func element(_ tag: String, in a: [UInt8]) -> String? {
        rawElement(tag, in: a).map { unescape($0) }
    }

    private static func stripTags(_ s: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var inTag = false
        for c in s {
            if c == UInt8(ascii: "<") { inTag = true } else if c == UInt8(ascii: ">") { inTag = false } else if !inTag { out.append(c) }
        }
        let isSpace = { (c: UInt8) in c == space || c == newline || c == 0x09 || c == 0x0d }
        guard let first = out.firstIndex(where: { !isSpace($0) }), let last = out.lastIndex(where: { !isSpace($0) }) else { return [] }
        return Array(out[first...last])
    }

    private static let entities: [([UInt8], UInt8)] = [
        ("&lt;".bytes, UInt8(ascii: "<")), ("&gt;".bytes, UInt8(ascii: ">")), ("&quot;".bytes, UInt8(ascii: "\"")),
        ("&apos;".bytes, UInt8(ascii: "'")), ("&amp;".bytes, UInt8(ascii: "&")),
    ]

    private static func unescape(_ s: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        outer: while i < s.count {
            if s[i] == UInt8(ascii: "&") {
                for (e, c) in entities where s[i...].starts(with: e) {
                    out.append(c)
                    i += e.count
                    continue outer
                }
            }
            out.append(s[i])
            i += 1
        }
        return out.string
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".bytes
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
        return out.string
    }
}

extension Array where Element == UInt8 {
    /// The stretches that follow each occurrence of `marker`, each up to the next one.
    func pieces(after marker: [UInt8]) -> [[UInt8]] {
        var starts: [Int] = []
        var i = 0
        while let at = index(of: marker, from: i) {
            starts.append(at + marker.count)
            i = at + marker.count
        }
        return starts.enumerated().map { k, s in
            Array(self[s..<(k + 1 < starts.count ? starts[k + 1] - marker.count : count)])
        }
    }
}
