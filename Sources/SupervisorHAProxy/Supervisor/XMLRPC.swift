// supervisord's XML-RPC interface (POST /RPC2, HTTP/1.0, docs/protocols.md): requests built from
// validated parts, answers read as they stream in with fixed buffers, so an answer that
// never ends costs a deadline, not memory.

enum XMLRPC {
    /// A parameter of a call.
    enum Param {
        case string(String)
        case bool(Bool)
    }

    /// The whole HTTP request for `method(params)`.
    static func request(_ url: SupervisorURL, method: String, params: [Param] = []) -> [UInt8] {
        var body = "<?xml version=\"1.0\"?><methodCall><methodName>\(method)</methodName><params>"
        for p in params {
            switch p {
            case .string(let s): body += "<param><value><string>\(escape(s))</string></value></param>"
            case .bool(let b): body += "<param><value><boolean>\(b ? 1 : 0)</boolean></value></param>"
            }
        }
        body += "</params></methodCall>"
        var head = "POST \(url.path) HTTP/1.0\r\nHost: \(url.hostHeader)\r\nContent-Type: text/xml\r\n"
        head += "Content-Length: \(body.utf8.count)\r\n"
        if let c = url.credentials { head += "Authorization: Basic \(base64(c.bytes))\r\n" }
        return (head + "\r\n" + body).bytes
    }

    static func escape(_ s: String) -> String {
        var out: [UInt8] = []
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "&"): out += "&amp;".bytes
            case UInt8(ascii: "<"): out += "&lt;".bytes
            case UInt8(ascii: ">"): out += "&gt;".bytes
            default: out.append(b)
            }
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

/// Reads an HTTP answer carrying an XML-RPC methodResponse as it streams in. It knows the
/// flat structs supervisord answers with (getAllProcessInfo, getAllConfigInfo, getState):
/// for each `<struct>` it collects the members named in `keys` and hands them over at
/// `</struct>`. A lone scalar answer (startProcess's boolean) is kept in `scalar`. Every
/// buffer is fixed: a longer name or value is cut and marked, never grown.
struct XMLRPCReader {
    enum Failure: Equatable {
        case none, status, notXMLRPC, fault
    }

    let keys: [StaticString]
    /// One value per key, for the struct being read; `isSet[k]` tells which were present.
    let values: [FixedBuffer]
    private(set) var isSet: [Bool]
    let status = FixedBuffer(capacity: 200)
    let faultString = FixedBuffer(capacity: 300)
    private(set) var faultCode = 0
    let scalar = FixedBuffer(capacity: 256)
    private(set) var sawResponse = false

    private enum Part { case statusLine, headers, body }
    private var part = Part.statusLine
    private var headerTail: UInt32 = 0
    /// The header line being read: only `Transfer-Encoding` matters.
    private let headerLine = FixedBuffer(capacity: 128)
    /// `Transfer-Encoding: chunked`: the body comes as hex sizes and chunks (a proxy, another
    /// server than supervisord's own HTTP/1.0); decoded before the XML sees a byte.
    private var chunked = false
    private enum Chunking { case size, sizeExtension, data, dataEnd, trailers }
    private var chunking = Chunking.size
    private var chunkLeft = 0
    private let tag = FixedBuffer(capacity: 32)
    private var inTag = false
    private let text: FixedBuffer
    private let memberName = FixedBuffer(capacity: 64)
    private var inFault = false
    private var inStruct = false
    private var faultFields: (code: Bool, string: Bool) = (false, false)

    /// `valueCapacity`: the longest value kept (a longer one is cut and marked).
    init(keys: [StaticString], valueCapacity: Int = 4096) {
        self.keys = keys
        text = FixedBuffer(capacity: valueCapacity)
        values = keys.map { _ in FixedBuffer(capacity: valueCapacity) }
        isSet = keys.map { _ in false }
    }

    mutating func reset() {
        part = .statusLine
        headerTail = 0
        headerLine.clear()
        chunked = false
        chunking = .size
        chunkLeft = 0
        status.clear()
        faultString.clear()
        faultCode = 0
        scalar.clear()
        sawResponse = false
        inFault = false
        inStruct = false
        faultFields = (false, false)
        inTag = false
        tag.clear()
        text.clear()
        memberName.clear()
        clearStruct()
    }

    private mutating func clearStruct() {
        for k in values.indices {
            values[k].clear()
            isSet[k] = false
        }
    }

    /// The answer was HTTP 401: supervisord wants other credentials (or some at all).
    var unauthorized: Bool {
        let s = status.bytes
        return s.hasPrefix("HTTP/") && s.field(1, separator: space)?.equals("401") == true
    }

    /// What went wrong, once the answer is complete.
    var failure: Failure {
        let s = status.bytes
        guard s.hasPrefix("HTTP/"), let code = s.field(1, separator: space), code.equals("200") else { return .status }
        if inFault || faultString.count > 0 { return .fault }
        return sawResponse ? .none : .notXMLRPC
    }

    /// Feeds a chunk; `onStruct` gets each complete struct (outside a fault).
    mutating func feed(_ chunk: ByteView, _ onStruct: (XMLRPCReader) -> Void) {
        for b in chunk {
            switch part {
            case .statusLine:
                if b == newline {
                    part = .headers
                    headerTail = 0x0d0a
                } else if b != 0x0d {
                    status.append(byte: b)
                }
            case .headers:
                headerTail = headerTail << 8 | UInt32(b)
                if b == newline {
                    let line = headerLine.bytes
                    if line.count > 18, line.slice(0..<18).asciiLowercasedEquals("transfer-encoding:"),
                       line.slice(18..<line.count).asciiLowercasedContains("chunked") { chunked = true }
                    headerLine.clear()
                } else if b != 0x0d {
                    headerLine.append(byte: b)
                }
                // "\r\n\r\n", or "\n\n" from a sloppy peer.
                if headerTail == 0x0d0a_0d0a || headerTail & 0xffff == 0x0a0a { part = .body }
            case .body:
                if chunked { dechunk(b, onStruct) } else { body(b, onStruct) }
            }
        }
    }

    /// One byte of a chunked body: sizes in hex (extensions and trailers skipped), the data
    /// handed on. A size past 1 GiB ends the data (the answer then reads as not XML-RPC).
    private mutating func dechunk(_ b: UInt8, _ onStruct: (XMLRPCReader) -> Void) {
        switch chunking {
        case .size, .sizeExtension:
            if b == newline {
                chunking = chunkLeft == 0 ? .trailers : .data
            } else if chunking == .size, let v = hexDigitValue(b) {
                chunkLeft = chunkLeft << 4 | Int(v)
                if chunkLeft > 1 << 30 { chunking = .trailers }
            } else if b != 0x0d {
                chunking = .sizeExtension
            }
        case .data:
            body(b, onStruct)
            chunkLeft -= 1
            if chunkLeft == 0 { chunking = .dataEnd }
        case .dataEnd:
            if b == newline { chunking = .size }
        case .trailers:
            break
        }
    }

    private mutating func body(_ b: UInt8, _ onStruct: (XMLRPCReader) -> Void) {
        if inTag {
            if b == UInt8(ascii: ">") {
                inTag = false
                closeTag(onStruct)
                text.clear()
            } else {
                tag.append(byte: b)
            }
        } else if b == UInt8(ascii: "<") {
            inTag = true
            tag.clear()
        } else {
            text.append(byte: b)
        }
    }

    private mutating func closeTag(_ onStruct: (XMLRPCReader) -> Void) {
        let t = tag.bytes
        if t.equals("methodResponse") { sawResponse = true }
        else if t.equals("fault") { inFault = true }
        else if t.equals("struct") {
            inStruct = true
            clearStruct()
            memberName.clear()
        } else if t.equals("/struct") {
            if !inFault { onStruct(self) }
            inStruct = false
            clearStruct()
        } else if t.equals("/name") {
            memberName.clear()
            memberName.append(text.bytes)
            if text.truncated { memberName.truncated = true }
        } else if t.equals("/string") || t.equals("/int") || t.equals("/i4") || t.equals("/boolean")
                    || t.equals("/double") || t.equals("/value") {
            value()
        }
    }

    /// A scalar value ended: it belongs to the current member (the first close wins:
    /// `<value><string>x</string></value>` closes twice).
    private mutating func value() {
        if !inStruct {
            if scalar.count == 0 { decodeEntities(text.bytes, into: scalar) }
            return
        }
        let name = memberName.bytes
        if memberName.truncated || name.count == 0 { return }
        if inFault {
            if name.equals("faultString") && !faultFields.string {
                faultFields.string = true
                decodeEntities(text.bytes, into: faultString)
            } else if name.equals("faultCode") && !faultFields.code {
                faultFields.code = true
                faultCode = text.bytes.decimal(limit: 1 << 30) ?? 0
            }
            return
        }
        for (k, key) in keys.enumerated() where !isSet[k] && name.equals(key) {
            isSet[k] = true
            decodeEntities(text.bytes, into: values[k])
            if text.truncated { values[k].truncated = true }
        }
        memberName.clear()
    }

    /// The value of key k in the struct being handed over; nil when absent or cut.
    func value(_ k: Int) -> ByteView? {
        isSet[k] && !values[k].truncated ? values[k].bytes : nil
    }

    /// The first bytes of key k's value even when it was cut (a long command line).
    func prefix(_ k: Int) -> ByteView? {
        isSet[k] ? values[k].bytes : nil
    }
}

/// XML's five named entities, decoded into `out`.
private let entities: [(StaticString, UInt8)] = [("&lt;", UInt8(ascii: "<")), ("&gt;", UInt8(ascii: ">")),
                                                  ("&quot;", UInt8(ascii: "\"")), ("&apos;", UInt8(ascii: "'")),
                                                  ("&amp;", UInt8(ascii: "&"))]

func decodeEntities(_ s: ByteView, into out: FixedBuffer) {
    var i = 0
    outer: while i < s.count {
        if s[i] == UInt8(ascii: "&") {
            let rest = s.slice(i..<s.count)
            for (e, c) in entities where rest.hasPrefix(e) {
                out.append(byte: c)
                i += e.utf8CodeUnitCount
                continue outer
            }
        }
        out.append(byte: s[i])
        i += 1
    }
}
