import Testing
@testable import SupervisorHAProxy

private func wrap(_ args: [String]) -> ParsedWrap { parseWrap(args, environment: Environment()) }

@Suite struct WrapCommandLine {
    @Test func throughTheAgentASocketIsOptionalAndEachServerMayNameItsPort() throws {
        guard case .run(let o) = wrap(["--agent", "127.0.0.1:9700", "web/web1@127.0.0.1:8001", "api/web1", "--", "bin/web1"]) else {
            Issue.record("refused")
            return
        }
        #expect(o.sockets.isEmpty && o.agents == [.tcp(host: "127.0.0.1", port: "9700")])
        #expect(o.targets.map(\.name) == ["web/web1", "api/web1"] && o.ports == [8001])
        guard case .run(let both) = wrap(["--agent", "127.0.0.1:9700", "/run/haproxy.sock", "web/web1", "--", "x"]) else {
            Issue.record("refused")
            return
        }
        #expect(both.sockets.map(\.text) == ["/run/haproxy.sock"] && both.targets.map(\.name) == ["web/web1"])
    }

    @Test func notifyAndItsWatchdog() throws {
        guard case .run(let o) = wrap(["--notify", "--watchdog", "2.5", "/run/h.sock", "web/web1", "--", "x"]) else {
            Issue.record("refused")
            return
        }
        #expect(o.notify && o.watchdogMs == 2500)
    }

    /// Through the agent alone, the program's word goes to the listener (relayed through
    /// supervisord): no stats socket needed.
    @Test func notifyThroughTheAgentAlone() throws {
        guard case .run(let o) = wrap(["--notify", "--agent", "127.0.0.1:9700", "web/web1@127.0.0.1:8001", "--", "x"]) else {
            Issue.record("refused")
            return
        }
        #expect(o.notify && o.sockets.isEmpty && o.agents.count == 1)
    }

    @Test(arguments: [
        (["web/web1", "--", "x"], "invalid socket address 'web/web1'"),
        (["/run/h.sock", "web/web1@127.0.0.1:8001", "--", "x"], "is for a drain through --agent"),
        (["--agent", "127.0.0.1:9700", "web/web1@nowhere", "--", "x"], "the address after '@' is not ADDR:PORT"),
        (["--agent", "/run/a.sock", "web/web1", "--", "x"], "agent check connects over TCP"),
        (["--watchdog", "5", "/run/h.sock", "web/web1", "--", "x"], "--watchdog goes with --notify"),
        (["--notify", "--watchdog", "0", "/run/h.sock", "web/web1", "--", "x"], "--watchdog '0': expected a number of seconds"),
    ])
    func invalid(_ args: [String], _ expected: String) {
        guard case .invalid(let p) = wrap(args) else {
            Issue.record("\(args) accepted")
            return
        }
        #expect(p.contains(expected), "\(args): \(p)")
    }
}
