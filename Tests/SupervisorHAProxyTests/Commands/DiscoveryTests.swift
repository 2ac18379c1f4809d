import Testing
@testable import SupervisorHAProxy

@Suite struct Discovery {
    @Test func commandWordsAsShlexSplitsThem() {
        #expect(commandWords(Array(#"a  'b c' "d \"e\"" f\ g"#.utf8)) == ["a", "b c", #"d "e""#, "f g"])
        #expect(commandWords(Array("".utf8)).isEmpty)
        #expect(commandWords(Array("''".utf8)) == [""])
    }

    @Test func aListenersMappings() throws {
        let found = try #require(discoverMappings(command: Array("/usr/local/bin/supervisor-haproxy --timeout 1 unix:///run/h.sock web1:web/web1 api:api_00:api/api0".utf8), group: "haproxy", name: "haproxy"))
        #expect(found.sockets.map(\.text) == ["unix:///run/h.sock"])
        #expect(found.mappings.map(\.text) == ["web1:web/web1", "api:api_00:api/api0"])
    }

    @Test func aWrapsServersAreItsOwnProcess() throws {
        let found = try #require(discoverMappings(command: Array("supervisor-haproxy wrap --socket tcp://127.0.0.1:8800 web/w1 static/w1 -- bin/w1".utf8), group: "web", name: "w1"))
        #expect(found.sockets.map(\.text) == ["tcp://127.0.0.1:8800"])
        #expect(found.mappings.map(\.text) == ["web:w1:web/w1", "web:w1:static/w1"])
    }

    @Test func agentPortsOfAListenerAndOfAWrapThatDrainsThroughThem() throws {
        let l = try #require(discoverMappings(command: Array("supervisor-haproxy --agent 10.0.0.5:9700 web1:web/web1@127.0.0.1:8001".utf8), group: "haproxy", name: "haproxy"))
        #expect(l.sockets.isEmpty && l.agents == [.tcp(host: "10.0.0.5", port: "9700")] && !l.wrapsWithAgent)
        let w = try #require(discoverMappings(command: Array("supervisor-haproxy wrap --agent 10.0.0.5:9700 web/web1@127.0.0.1:8001 -- bin/web1".utf8), group: "web1", name: "web1"))
        #expect(w.sockets.isEmpty && w.wrapsWithAgent && w.mappings.map(\.text) == ["web1:web/web1"])
    }

    @Test func otherCommandsAreNotOurs() {
        for c in ["python3 app.py", "supervisor-haproxy check /h.sock web1:web/web1", "supervisor-haproxy restart web1",
                  "haproxy-supervisor /h.sock web1:web/web1", "sh -c 'python3 app.py'", "/usr/bin/env FOO=1 python3 x"] {
            #expect(discoverMappings(command: Array(c.utf8), group: "g", name: "n") == nil, "\(c)")
        }
        #expect(ownCommand(["supervisor-haproxy", "listen", "x"])?.command == "listen")
        #expect(ownCommand(["/bin/supervisor-haproxy", "x"])?.arguments == ["x"])
        #expect(ownCommand(["/bin/supervisor-haproxy", "wrap", "x"])?.command == "wrap")
    }

    /// However it is installed and launched, one rule: the build's static name, a versioned
    /// name, through env, exec or a shell.
    @Test(arguments: ["/opt/bin/supervisor-haproxy-static /h.sock web1:web/web1",
                      "supervisor-haproxy-1.4 /h.sock web1:web/web1",
                      "/usr/bin/env supervisor-haproxy /h.sock web1:web/web1",
                      "/usr/bin/env -i TZ=UTC supervisor-haproxy /h.sock web1:web/web1",
                      "sh -c 'exec /usr/local/bin/supervisor-haproxy /h.sock web1:web/web1'",
                      "/bin/bash -c \"supervisor-haproxy listen /h.sock web1:web/web1\""])
    func theToolIsRecognisedHoweverItIsInstalled(_ command: String) throws {
        let found = try #require(discoverMappings(command: Array(command.utf8), group: "listener", name: "listener"), "\(command)")
        #expect(found.sockets.map(\.text) == ["/h.sock"] && found.mappings.map(\.text) == ["web1:web/web1"])
    }
}
