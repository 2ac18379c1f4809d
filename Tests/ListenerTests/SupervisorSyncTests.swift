import Testing
@testable import Listener

@Suite struct SupervisorSyncParsing {
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

    @Test func processes() throws {
        let p = try SupervisorSync.parseResponse(Self.response).get()
        #expect(p == [ProcessInfo(group: "api", name: "api_00", state: "RUNNING"),
                      ProcessInfo(group: "web1", name: "web&1", state: "STOPPED")])
    }

    @Test func errors() {
        for (text, expected) in [
            ("", "empty answer"),
            ("HTTP/1.0 401 Unauthorized\r\n\r\n", "401 Unauthorized"),
            ("HTTP/1.0 200 OK\r\n\r\n<?xml version='1.0'?><methodResponse><fault><value><struct><member><name>faultString</name><value><string>UNKNOWN_METHOD</string></value></member></struct></value></fault></methodResponse>", "UNKNOWN_METHOD"),
            ("HTTP/1.0 200 OK\r\n\r\nhello", "not an XML-RPC answer"),
        ] {
            guard case .failure(let e) = SupervisorSync.parseResponse(text) else { Issue.record("accepted"); continue }
            #expect(e.message.contains(expected), "\(e.message)")
        }
    }

    @Test func urls() throws {
        let u = try SupervisorURL.parse("unix:///var/run/supervisor.sock").get()
        #expect(u.endpoint == .unix(path: "/var/run/supervisor.sock") && u.path == "/RPC2" && u.credentials == nil)
        let h = try SupervisorURL.parse("http://user:pa:ss@127.0.0.1:9001").get()
        #expect(h.endpoint == .tcp(host: "127.0.0.1", port: "9001") && h.credentials == "user:pa:ss" && h.hostHeader == "127.0.0.1:9001")
        let d = try SupervisorURL.parse("http://localhost").get()
        #expect(d.endpoint == .tcp(host: "localhost", port: "80"))
        let p = try SupervisorURL.parse("http://[::1]:9001/RPC2").get()
        #expect(p.endpoint == .tcp(host: "::1", port: "9001") && p.path == "/RPC2")
        for bad in ["https://x:1", "unix://relative", "http://x:99999", "9001"] {
            #expect(throws: AddressError.self) { try SupervisorURL.parse(bad).get() }
        }
    }

    @Test func requestBytes() throws {
        let r = String(decoding: SupervisorSync.request(try SupervisorURL.parse("http://user:123@h:1").get()), as: UTF8.self)
        #expect(r.hasPrefix("POST /RPC2 HTTP/1.0\r\nHost: h:1\r\n"))
        #expect(r.contains("Authorization: Basic dXNlcjoxMjM=\r\n"))
        #expect(r.contains("Content-Length: \(SupervisorSync.body.utf8.count)\r\n"))
        #expect(r.hasSuffix("\r\n\r\n" + SupervisorSync.body))
    }

    @Test func base64() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("user:pass", "dXNlcjpwYXNz")] {
            #expect(SupervisorSync.base64(Array(plain.utf8)) == encoded)
        }
    }
}
