import Testing
@testable import SupervisorHAProxy

private func parsed(_ s: String) throws -> (program: String, group: String?, process: String, target: String) {
    let m = try Mapping.parse(s).get()
    return (String(decoding: m.program, as: UTF8.self), m.group.map { String(decoding: $0, as: UTF8.self) },
            String(decoding: m.process, as: UTF8.self), m.target.name)
}

@Suite struct MappingParsing {
    @Test func theSeedsExample() throws {
        let m = try parsed("instance2:plone04/plone0402")
        #expect(m.program == "instance2" && m.group == nil && m.process == "instance2" && m.target == "plone04/plone0402")
    }

    @Test func groupQualifiedProgram() throws {
        let m = try parsed("web:web_00:be/srv")
        #expect(m.program == "web:web_00" && m.group == "web" && m.process == "web_00" && m.target == "be/srv")
    }

    @Test func serverAfterLastSlashBackendAfterLastColonBeforeIt() throws {
        // SERVER is what follows the last '/'; BACKEND what lies between it and the last ':'
        // before it; the rest is PROGRAM, here group a, process b.
        let m = try parsed("a:b:be/s1")
        #expect(m.group == "a" && m.process == "b" && m.target == "be/s1")
        // A ':' after the last '/' belongs to SERVER.
        let n = try parsed("p:be/srv:1")
        #expect(n.process == "p" && n.target == "be/srv:1")
    }

    @Test(arguments: [
        ("nocolon", "no '/'"),
        ("prog-be/srv", "no ':'"),
        ("prog:be", "no '/'"),
        (":be/srv", "PROGRAM is empty"),
        ("prog:/srv", "BACKEND is empty"),
        ("prog:be/", "SERVER is empty"),
        ("prog:be/srv;shutdown", "SERVER contains ';'"),
        ("prog:b e/srv", "BACKEND contains a space"),
        ("web1:we\\b/we\\b1", "BACKEND contains a backslash"),
        ("web1:web/we\\b1", "SERVER contains a backslash"),
        ("web1:web/web1\u{1b}[31m", "SERVER contains byte 0x1b"),
        ("web1:web/wéb1", "SERVER contains byte 0xc3"),
        ("p:be/x/srv", "BACKEND contains '/'"),
        ("a::b:be/srv", "'group:process'"),
        (":x:be/srv", "'group:process'"),
    ])
    func invalid(_ text: String, _ reason: String) {
        guard case .failure(let e) = Mapping.parse(text) else { Issue.record("accepted \(text)"); return }
        #expect(e.text.contains(reason), "\(e.text)")
        #expect(e.text.contains(text))
    }

    /// HAProxy's naming rule, byte by byte: only letters, digits, '-', '_', '.' and ':' may
    /// reach a command (HAProxy's CLI reads '\\' as an escape, ';' as the end of a command).
    @Test func everyByteInANameIsCheckedAgainstHAProxysRule() throws {
        let allowed = Set(Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:".utf8))
        for b in UInt8(0)...255 {
            let server = String(decoding: [UInt8(ascii: "s"), b, UInt8(ascii: "1")], as: UTF8.self)
            let accepted = (try? Mapping.parse("p:be/" + server).get()) != nil
            let bytes = Array(server.utf8)
            let expected = bytes.count == 3 && allowed.contains(b)
            #expect(accepted == expected, "byte \(b)")
            if case .success(let t) = Target.parse("be/" + server) {
                let buffer = FixedBuffer(capacity: 256)
                appendSetServer(buffer, t, .maint)
                #expect(buffer.bytes.allSatisfy { allowed.contains($0) || $0 == 0x20 || $0 == slash }, "command for byte \(b)")
            }
        }
    }

    @Test func namesAreBounded() throws {
        let long = String(repeating: "s", count: 256)
        guard case .failure(let e) = Mapping.parse("p:be/" + long) else { Issue.record("accepted"); return }
        #expect(e.text == "invalid mapping 'p:be/\(long)': SERVER longer than 255 bytes (expected PROGRAM:BACKEND/SERVER)")
        #expect(try parsed("p:be/" + long.dropLast()).target.hasSuffix("/" + long.dropLast()))
    }

    @Test func oneProgramOnSeveralServersKeepsAll() throws {
        let table = MappingTable(try ["web1:web/web1", "web1:static/web1", "web2:web/web2", "other:web/web1"].map { try Mapping.parse($0).get() })
        #expect(table.targets.map(\.name) == ["web/web1", "static/web1", "web/web2"])
        #expect(table.targetOf == [0, 1, 2, 0])
    }

    @Test func matching() throws {
        let any = try Mapping.parse("web_00:be/s").get()
        let qualified = try Mapping.parse("web:web_00:be/s").get()
        func m(_ mapping: Mapping, _ process: String, _ group: String?) -> Bool {
            Array(process.utf8).withBytes { p in
                guard let group else { return mapping.matches(process: p, group: nil) }
                return Array(group.utf8).withBytes { mapping.matches(process: p, group: $0) }
            }
        }
        #expect(m(any, "web_00", "web") && m(any, "web_00", "other") && m(any, "web_00", nil))
        #expect(!m(any, "web_01", "web") && !m(any, "web_0", "web"))
        #expect(m(qualified, "web_00", "web"))
        #expect(!m(qualified, "web_00", "other") && !m(qualified, "web_00", nil))
    }
}

@Suite struct StateTables {
    @Test func theOriginalTable() {
        let t = StateTable()
        #expect(t[.running] == .set(.ready))
        #expect(t[.stopping] == .set(.drain))
        for s in [ProcessState.starting, .backoff, .exited, .stopped, .fatal, .unknown] {
            #expect(t[s] == .set(.maint))
        }
    }

    @Test func overrides() {
        var t = StateTable()
        #expect(t.override("STOPPING=maint") == nil)
        #expect(t.override("starting=IGNORE") == nil)
        #expect(t[.stopping] == .set(.maint))
        #expect(t[.starting] == .ignore)
        #expect(t[.running] == .set(.ready))
    }

    @Test(arguments: ["STOPPING", "STOPPING=", "=maint", "SLEEPING=maint", "RUNNING=up", "RUNNING=maint=1"])
    func invalidOverrides(_ spec: String) {
        var t = StateTable()
        let problem = t.override(spec)
        #expect(problem != nil)
        #expect(problem?.contains("--on '\(spec)'") == true)
        #expect(t == StateTable())
    }

    @Test func adminBits() {
        #expect(AdminState(adminBits: 0) == .ready)
        #expect(AdminState(adminBits: 1) == .maint)
        #expect(AdminState(adminBits: 8) == .drain)
        #expect(AdminState(adminBits: 9) == .maint)
        #expect(AdminState(adminBits: 4) == .ready) // maint from config is not ours to clear
        #expect(AdminState(adminBits: 5) == .maint)
        #expect(AdminState(adminBits: 0x10) == .ready)
    }

    @Test func tenThousandMappingsAreFoundByProcessAndByServer() throws {
        let mappings = try (0..<10_000).map { i in try Mapping.parse(i % 2 == 0 ? "p\(i):be\(i % 50)/s\(i)" : "g\(i % 7):p\(i):be\(i % 50)/s\(i)").get() }
        let table = MappingTable(mappings)
        #expect(table.targets.count == 10_000 && table.backendCount == 50)
        for i in stride(from: 0, to: 10_000, by: 37) {
            var found: [Int] = []
            Array("p\(i)".utf8).withBytes { p in Array("g\(i % 7)".utf8).withBytes { g in table.forEachMatch(process: p, group: g) { found.append($0) } } }
            #expect(found == [i])
            Array("p\(i)".utf8).withBytes { p in Array("other".utf8).withBytes { g in
                var n = 0
                table.forEachMatch(process: p, group: g) { _ in n += 1 }
                #expect(n == (i % 2 == 0 ? 1 : 0), "a group-qualified mapping matches its group only")
            } }
            let t = Array("be\(i % 50)".utf8).withBytes { b in Array("s\(i)".utf8).withBytes { s in table.target(backend: b, server: s) } }
            #expect(t == table.targetOf[i])
        }
    }

    @Test func aProgramOnSeveralServersAndAServerOfSeveralMappings() throws {
        let table = MappingTable(try ["web1:web/web1", "web1:static/web1", "g:web1:api/a", "other:web/web1"].map { try Mapping.parse($0).get() })
        var found: [Int] = []
        Array("web1".utf8).withBytes { p in Array("g".utf8).withBytes { g in table.forEachMatch(process: p, group: g) { found.append($0) } } }
        #expect(found == [0, 1, 2])
        #expect(table.targets.count == 3 && table.targetOf == [0, 1, 2, 0])
    }
}
