import Testing
@testable import SupervisorHAProxy

/// Reads `text` through an XMLRPCReader in chunks of `chunk` bytes: every struct's
/// group/name/statename, and the failure.
private func read(_ text: String, chunk: Int = 7) -> (structs: [String], failure: XMLRPCReader.Failure, reader: XMLRPCReader) {
    var r = XMLRPCReader(keys: ["group", "name", "statename"])
    var out: [String] = []
    let bytes = Array(text.utf8)
    var i = 0
    while i < bytes.count {
        let end = min(i + chunk, bytes.count)
        bytes[i..<end].withUnsafeBufferPointer { c in
            r.feed(c) { s in
                out.append((0..<3).map { k in s.value(k).map { String(bytes: $0) } ?? "-" }.joined(separator: " "))
            }
        }
        i = end
    }
    return (out, r.failure, r)
}

@Suite struct XMLRPCReading {
    // Shaped as supervisord 4.2.5 answered getAllProcessInfo (trimmed to the fields used
    // and two processes).
    static let response = """
        HTTP/1.0 200 OK\r
        Server: Medusa/1.12\r
        Content-Type: text/xml\r
        \r
        <?xml version='1.0'?>
        <methodResponse>
        <params>
        <param>
        <value><array><data>
        <value><struct>
        <member>
        <name>name</name>
        <value><string>api_00</string></value>
        </member>
        <member>
        <name>group</name>
        <value><string>api</string></value>
        </member>
        <member>
        <name>state</name>
        <value><int>20</int></value>
        </member>
        <member>
        <name>statename</name>
        <value><string>RUNNING</string></value>
        </member>
        </struct></value>
        <value><struct>
        <member>
        <name>name</name>
        <value><string>web&amp;1</string></value>
        </member>
        <member>
        <name>group</name>
        <value>web1</value>
        </member>
        <member>
        <name>statename</name>
        <value><string>STOPPED</string></value>
        </member>
        </struct></value>
        </data></array></value>
        </param>
        </params>
        </methodResponse>
        """

    @Test func processesInAnyChunking() {
        for chunk in [1, 3, 64, 100_000] {
            let r = read(Self.response, chunk: chunk)
            #expect(r.structs == ["api api_00 RUNNING", "web1 web&1 STOPPED"], "chunk \(chunk)")
            #expect(r.failure == .none)
        }
    }

    /// `Transfer-Encoding: chunked` (a proxy in front of supervisord): decoded, whatever the
    /// chunk sizes, a value split at a chunk boundary included, extensions and trailers skipped.
    @Test func aChunkedAnswerIsDecoded() {
        let parts = Self.response.components(separatedBy: "\r\n\r\n")
        let body = Array(parts[1].utf8)
        for size in [1, 5, 17, 4096] {
            var text = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTRANSFER-encoding:  Chunked\r\n\r\n"
            var i = 0
            while i < body.count {
                let end = min(i + size, body.count)
                text += String(end - i, radix: 16) + (i == 0 ? ";ext=1" : "") + "\r\n" + String(decoding: body[i..<end], as: UTF8.self) + "\r\n"
                i = end
            }
            text += "0\r\nX-Trailer: 1\r\n\r\n"
            for feed in [1, 7, 100_000] {
                let r = read(text, chunk: feed)
                #expect(r.structs == ["api api_00 RUNNING", "web1 web&1 STOPPED"], "chunks of \(size), fed \(feed)")
                #expect(r.failure == .none)
            }
        }
    }

    @Test func failures() {
        #expect(read("").failure == .status)
        let unauthorized = read("HTTP/1.0 401 Unauthorized\r\n\r\n")
        #expect(unauthorized.failure == .status && unauthorized.reader.status.text == "HTTP/1.0 401 Unauthorized")
        let fault = read("HTTP/1.0 200 OK\r\n\r\n<?xml version='1.0'?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>6</int></value></member><member><name>faultString</name><value><string>SHUTDOWN_STATE</string></value></member></struct></value></fault></methodResponse>")
        #expect(fault.failure == .fault && fault.reader.faultCode == 6 && fault.reader.faultString.text == "SHUTDOWN_STATE")
        #expect(fault.structs.isEmpty, "a fault's struct is not a process")
        #expect(read("HTTP/1.0 200 OK\r\n\r\nhello").failure == .notXMLRPC)
    }

    @Test func anEndlessAnswerKeepsFixedBuffers() {
        // One value that never ends, then many structs: nothing grows, a long value is cut.
        var r = XMLRPCReader(keys: ["name"])
        let head = Array("HTTP/1.0 200 OK\r\n\r\n<methodResponse><struct><member><name>name</name><value><string>".utf8)
        head.withUnsafeBufferPointer { c in r.feed(c) { _ in } }
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 65536)
        for _ in 0..<64 { chunk.withUnsafeBufferPointer { c in r.feed(c) { _ in } } }
        var names: [String?] = []
        Array("</string></value></member></struct>".utf8).withUnsafeBufferPointer { c in
            r.feed(c) { s in names.append(s.value(0).map { String(bytes: $0) }) }
        }
        #expect(names == [nil], "a value longer than the buffer is marked cut, not kept")
        #expect(r.values[0].capacity == 4096)
    }

    @Test func urls() throws {
        let u = try SupervisorURL.parse("unix:///var/run/supervisor.sock").get()
        #expect(u.endpoint == .unix(path: "/var/run/supervisor.sock") && u.path == "/RPC2" && u.credentials == nil)
        let h = try SupervisorURL.parse("http://user:pa:ss@127.0.0.1:9001").get()
        #expect(h.endpoint == .tcp(host: "127.0.0.1", port: "9001") && h.credentials == "user:pa:ss" && h.hostHeader == "127.0.0.1:9001")
        #expect(h.display == "http://user:***@127.0.0.1:9001")
        let d = try SupervisorURL.parse("http://localhost").get()
        #expect(d.endpoint == .tcp(host: "localhost", port: "80"))
        let p = try SupervisorURL.parse("http://[::1]:9001/RPC2").get()
        #expect(p.endpoint == .tcp(host: "::1", port: "9001") && p.path == "/RPC2")
        for bad in ["https://x:1", "unix://relative", "http://x:99999", "9001"] {
            #expect(throws: Problem.self) { try SupervisorURL.parse(bad).get() }
        }
    }

    /// A password may hold '/': the userinfo ends at the last '@' before the host.
    @Test func aPasswordWithASlash() throws {
        let u = try SupervisorURL.parse("http://admin:s3/cr@t@127.0.0.1:9001").get()
        #expect(u.credentials == "admin:s3/cr@t" && u.endpoint == .tcp(host: "127.0.0.1", port: "9001") && u.path == "/RPC2")
        #expect(u.display == "http://admin:***@127.0.0.1:9001")
        let withPath = try SupervisorURL.parse("http://admin:a/b@h:1/RPC2").get()
        #expect(withPath.credentials == "admin:a/b" && withPath.path == "/RPC2")
        guard case .failure(let e) = SupervisorURL.parse("http://admin:s3/cret@127.0.0.1:x") else { Issue.record("accepted"); return }
        #expect(e.text.contains("port 'x'") && !e.text.contains("s3/cret"), "\(e.text)")
    }

    /// The path begins at the first '/' after the first '@'; `%XX` in the userinfo is decoded.
    @Test func theUserinfoEndsBeforeThePathAndIsPercentDecoded() throws {
        let u = try SupervisorURL.parse("http://u:pa/ss@127.0.0.1:1/x@y").get()
        #expect(u.endpoint == .tcp(host: "127.0.0.1", port: "1") && u.path == "/x@y" && u.credentials == "u:pa/ss")
        #expect(u.display == "http://u:***@127.0.0.1:1/x@y")
        let e = try SupervisorURL.parse("http://op%40site:p%3As%25s%2F@h:1").get()
        #expect(e.credentials == "op@site:p:s%s/" && e.endpoint == .tcp(host: "h", port: "1"))
        #expect(throws: Problem.self) { try SupervisorURL.parse("http://op:bad%zz@h:1").get() }
    }

    /// A URL that is not one never shows its password: whatever the scheme, however malformed.
    @Test(arguments: ["http:/admin:S3cret@127.0.0.1:9001", "http:admin:S3cret@127.0.0.1:9001", "tcp://admin:S3cret@127.0.0.1:9001",
                      "admin:S3cret@127.0.0.1:9001", "http://admin:S3cret@", "ftp://admin:S3cret@h/x", "http://admin:S3cret@h:99999"])
    func aMalformedURLNeverShowsItsPassword(_ text: String) throws {
        guard case .failure(let e) = SupervisorURL.parse(text) else { Issue.record("accepted \(text)"); return }
        #expect(!e.text.contains("S3cret"), "\(e.text)")
        #expect(e.text.contains("***"), "\(e.text)")
    }

    @Test func credentialsFromTheEnvironmentForAURLWithoutThem() throws {
        let u = try SupervisorURL.parse("unix:///run/s.sock", username: "admin", password: "pw").get()
        #expect(u.credentials == "admin:pw")
        let own = try SupervisorURL.parse("http://me:mine@h:1", username: "admin", password: "pw").get()
        #expect(own.credentials == "me:mine")
    }

    @Test func requestBytes() throws {
        let r = String(decoding: XMLRPC.request(try SupervisorURL.parse("http://user:123@h:1").get(), method: "supervisor.getAllProcessInfo"), as: UTF8.self)
        #expect(r.hasPrefix("POST /RPC2 HTTP/1.0\r\nHost: h:1\r\n"))
        #expect(r.contains("Authorization: Basic dXNlcjoxMjM=\r\n"))
        let body = r.components(separatedBy: "\r\n\r\n")[1]
        #expect(r.contains("Content-Length: \(body.utf8.count)\r\n"))
        #expect(body == "<?xml version=\"1.0\"?><methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>")
        let withParam = String(decoding: XMLRPC.request(try SupervisorURL.parse("unix:///s").get(), method: "m", params: [.string("a<&>b"), .bool(true)]), as: UTF8.self)
        #expect(withParam.contains("<string>a&lt;&amp;&gt;b</string>") && withParam.contains("<boolean>1</boolean>"))
    }

    @Test func base64() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("user:pass", "dXNlcjpwYXNz")] {
            #expect(XMLRPC.base64(Array(plain.utf8)) == encoded)
        }
    }
}
