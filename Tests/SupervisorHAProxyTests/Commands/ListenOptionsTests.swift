import Testing
@testable import SupervisorHAProxy

private func options(_ args: [String], env: String? = nil) -> ListenOptions? {
    if case .run(let o) = parseListen(args, environment: Environment(supervisorURL: env)) { return o }
    return nil
}

private func problem(_ args: [String]) -> String? {
    if case .invalid(let p) = parseListen(args) { return p }
    return nil
}

@Suite struct CommandLineParsing {
    @Test func theOriginalsForm() throws {
        let o = try #require(options(["tcp://localhost:8800", "instance1:plone01/plone0101", "instance2:plone01/plone0102"]))
        #expect(o.sockets == [SocketSpec(text: "tcp://localhost:8800", endpoint: .tcp(host: "localhost", port: "8800"))])
        #expect(o.mappings.map(\.target.name) == ["plone01/plone0101", "plone01/plone0102"])
        #expect(o.timing == Timing())
        #expect(o.timing.timeoutMs == 2000 && o.timing.retryMaxMs == 30000 && o.timing.resyncMs == 30000)
        #expect(o.stateTable == StateTable() && !o.check && !o.dryRun && o.logLevel == .info)
        #expect(o.supervisor == nil)
    }

    @Test func everyOption() throws {
        let o = try #require(options([
            "--socket", "/run/a.sock", "--socket=ipv4@127.0.0.1:9000", "--timeout", "0.25", "--retry-max=5",
            "--resync", "0", "--supervisor", "http://u:p@127.0.0.1:9001", "--on", "STOPPING=maint",
            "--on=STARTING=ignore", "--dry-run", "--verbose", "a:b/c", "--", "--odd:b/c",
        ], env: "unix:///run/supervisor.sock"))
        #expect(o.sockets.map(\.text) == ["/run/a.sock", "ipv4@127.0.0.1:9000"])
        #expect(o.mappings.map { String(decoding: $0.program, as: UTF8.self) } == ["a", "--odd"])
        #expect(o.timing == Timing(timeoutMs: 250, retryMaxMs: 5000, resyncMs: 0))
        #expect(o.supervisor?.endpoint == .tcp(host: "127.0.0.1", port: "9001") && o.supervisor?.credentials == "u:p")
        #expect(o.supervisor?.display == "http://u:***@127.0.0.1:9001")
        #expect(o.stateTable[.stopping] == .set(.maint) && o.stateTable[.starting] == .ignore)
        #expect(o.dryRun && o.logLevel == .debug)
    }

    @Test func environmentsSupervisorURLAndNone() {
        #expect(options(["/a.sock", "a:b/c"], env: "unix:///run/s.sock")?.supervisor?.endpoint == .unix(path: "/run/s.sock"))
        #expect(options(["--supervisor", "none", "/a.sock", "a:b/c"], env: "unix:///run/s.sock")?.supervisor == nil)
    }

    @Test func agentPortsWithAndWithoutAStatsSocket() throws {
        let o = try #require(options(["--agent", "127.0.0.1:9700", "--agent=tcp://[::1]:9701", "web1:web/web1@127.0.0.1:8001", "web2:web/web2"]))
        #expect(o.sockets.isEmpty, "with --agent, a first word that is a mapping is one")
        #expect(o.agents == [.tcp(host: "127.0.0.1", port: "9700"), .tcp(host: "::1", port: "9701")])
        #expect(o.mappings.map(\.address) == [.tcp(host: "127.0.0.1", port: "8001"), nil])
        #expect(o.mappings[0].target.name == "web/web1", "the address is no part of the server's name")
        let both = try #require(options(["--agent", "10.0.0.5:9700", "/run/haproxy.sock", "web1:web/web1", "--state-file", "/var/lib/haproxy/state"]))
        #expect(both.sockets.map(\.text) == ["/run/haproxy.sock"] && both.agents.count == 1)
        #expect(both.stateFile == "/var/lib/haproxy/state")
    }

    @Test func quietAndCheck() {
        #expect(options(["--quiet", "/a.sock", "a:b/c"])?.logLevel == .error)
        #expect(options(["--check", "/a.sock", "a:b/c"])?.check == true)
    }

    @Test func helpAndVersion() {
        #expect(parseListen(["--help"]) == .help)
        #expect(parseListen(["/a.sock", "--version"]) == .version)
    }

    @Test(arguments: [
        ([String](), "missing SOCKET"),
        (["tcp://localhost:8800"], "missing PROGRAM:BACKEND/SERVER"),
        (["--socket", "/a.sock"], "missing PROGRAM:BACKEND/SERVER"),
        (["udp://x:1", "a:b/c"], "invalid socket address 'udp://x:1'"),
        (["tcp://localhost", "a:b/c"], "missing :PORT"),
        (["tcp://localhost:70000", "a:b/c"], "not a number from 1 to 65535"),
        (["tcp://localhost:8800", "a-b/c"], "invalid mapping 'a-b/c'"),
        (["tcp://localhost:8800", "a:b/c", "oops"], "invalid mapping 'oops'"),
        (["--socket", "/a.sock", "/b.sock", "a:b/c"], "invalid mapping '/b.sock'"),
        (["--frobnicate", "/a.sock", "a:b/c"], "unknown option '--frobnicate'"),
        (["--timeout"], "--timeout needs a value"),
        (["--timeout", "0", "/a.sock", "a:b/c"], "--timeout '0'"),
        (["--timeout", "abc", "/a.sock", "a:b/c"], "--timeout 'abc'"),
        (["--timeout", "-1", "/a.sock", "a:b/c"], "--timeout '-1'"),
        (["--timeout", "nan", "/a.sock", "a:b/c"], "--timeout 'nan'"),
        (["--retry-max", "x", "/a.sock", "a:b/c"], "--retry-max 'x'"),
        (["--resync", "1e9", "/a.sock", "a:b/c"], "--resync '1e9'"),
        (["--socket", "nope", "a:b/c"], "invalid socket address 'nope'"),
        (["--on", "RUNNING=up", "/a.sock", "a:b/c"], "unknown action 'up'"),
        (["--on", "WAITING=maint", "/a.sock", "a:b/c"], "unknown state 'WAITING'"),
        (["--supervisor", "ftp://x", "/a.sock", "a:b/c"], "--supervisor"),
        (["--quiet=1", "/a.sock", "a:b/c"], "--quiet takes no value"),
        (["--agent", "unix:///a.sock", "a:b/c"], "agent check connects over TCP"),
        (["--agent", "127.0.0.1", "a:b/c"], "missing :PORT"),
        (["--agent", "127.0.0.1:0", "a:b/c"], "is not a number from 1 to 65535"),
        (["--agent", "127.0.0.1:1", "a:b/c@127.0.0.1"], "the address after '@' is not ADDR:PORT"),
        (["a:b/c"], "invalid socket address 'a:b/c'"),
        (["--state-file", "rel/x", "/a.sock", "a:b/c"], "give an absolute path"),
        (["--state-file", "/x", "--agent", "127.0.0.1:1", "a:b/c"], "exactly one SOCKET (0 given)"),
        (["--state-file", "/x", "--socket", "/a", "--socket", "/b", "a:b/c"], "exactly one SOCKET (2 given)"),
        (["--check", "--agent", "127.0.0.1:1", "a:b/c"], "check needs a SOCKET"),
    ])
    func invalid(_ args: [String], _ expected: String) {
        let p = problem(args)
        #expect(p?.contains(expected) == true, "\(args): \(p ?? "accepted")")
    }
}
