import Testing
@testable import SupervisorHAProxy

@Suite struct AddressParsing {
    @Test(arguments: [
        ("tcp://localhost:8800", Endpoint.tcp(host: "localhost", port: "8800")),
        ("tcp://127.0.0.1:1", .tcp(host: "127.0.0.1", port: "1")),
        ("tcp://[::1]:9999", .tcp(host: "::1", port: "9999")),
        ("ipv4@127.0.0.1:8800", .tcp(host: "127.0.0.1", port: "8800")),
        ("ipv6@[::1]:8800", .tcp(host: "::1", port: "8800")),
        ("ipv6@::1:8800", .tcp(host: "::1", port: "8800")),
        ("unix:///run/haproxy/admin.sock", .unix(path: "/run/haproxy/admin.sock")),
        ("unix@/run/haproxy/admin.sock", .unix(path: "/run/haproxy/admin.sock")),
        ("/run/haproxy/admin.sock", .unix(path: "/run/haproxy/admin.sock")),
        ("tcp://host:08800", .tcp(host: "host", port: "8800")),
    ])
    func valid(_ text: String, _ endpoint: Endpoint) throws {
        #expect(try parseAddress(text).get() == endpoint)
    }

    @Test(arguments: [
        ("ftp://host:1", "unknown scheme"),
        ("localhost:8800", "unknown scheme"),
        ("tcp://localhost", "missing :PORT"),
        ("tcp://localhost:", "missing port"),
        ("tcp://:8800", "missing host"),
        ("tcp://localhost:0", "not a number from 1 to 65535"),
        ("tcp://localhost:65536", "not a number from 1 to 65535"),
        ("tcp://localhost:http", "not a number from 1 to 65535"),
        ("tcp://localhost:-1", "not a number from 1 to 65535"),
        ("tcp://::1:8800", "needs brackets"),
        ("tcp://[::1:8800", "'[' without ']'"),
        ("tcp://[::1]8800", "missing :PORT after ']'"),
        ("unix://run/x.sock", "must be absolute"),
        ("unix@", "must be absolute"),
        ("", "unknown scheme"),
    ])
    func invalid(_ text: String, _ reason: String) {
        guard case .failure(let e) = parseAddress(text) else { Issue.record("accepted \(text)"); return }
        #expect(e.text.contains(reason))
        #expect(e.text.contains("'\(text)'"))
    }

    @Test func unixPathTooLong() throws {
        let path = "/" + String(repeating: "a", count: 107)
        guard case .failure(let e) = parseAddress(path) else { Issue.record("accepted"); return }
        #expect(e.text.contains("longer than 107"))
        #expect(try parseAddress(String(path.dropLast())).get() == .unix(path: String(path.dropLast())))
    }
}
