import Testing
@testable import SupervisorHAProxy

private func answers(_ text: String, count: Int) -> [String?] {
    Array(text.utf8).withBytes { all in
        var pos = 0
        return (0..<count).map { _ in nextAnswer(all, from: &pos).map { String(bytes: $0) } }
    }
}

@Suite struct Answers {
    // Byte for byte what HAProxy 2.6 answered (docs/protocols.md, "The runtime API").
    @Test func success() { #expect(answers("\n", count: 1) == [""]) }
    @Test func noSuchServer() { #expect(answers("No such server.\n\n", count: 1) == ["No such server."]) }
    @Test func batchedAnswersInOrder() {
        #expect(answers("\nNo such server.\n\n\n", count: 3) == ["", "No such server.", ""])
    }
    @Test func multiLineAnswer() {
        #expect(answers("line one\nline two\n\n", count: 1) == ["line one\nline two"])
    }
    @Test func cutShortIsNotSuccess() {
        #expect(answers("", count: 1) == [nil])
        #expect(answers("\n", count: 2) == ["", nil])
        #expect(answers("No such server.\n", count: 1) == [nil])
    }

    @Test func missingWords() {
        for t in ["No such server.", "No such backend.", "Can't find backend."] {
            #expect(Array(t.utf8).withBytes { answerSaysMissing($0) })
        }
        for t in ["Permission denied", "'set server <srv> state' expects 'ready', 'drain' and 'maint'.", "HTTP/1.1 400"] {
            #expect(!Array(t.utf8).withBytes { answerSaysMissing($0) })
        }
    }
}

@Suite struct Commands {
    @Test func setServerBytes() {
        let b = FixedBuffer(capacity: 100)
        for (state, word) in [(AdminState.ready, "ready"), (.drain, "drain"), (.maint, "maint")] {
            b.clear()
            appendSetServer(b, Target(backend: Array("plone04".utf8), server: Array("plone0402".utf8)), state)
            #expect(String(bytes: b.bytes) == "set server plone04/plone0402 state \(word)")
        }
    }
}

@Suite struct ServerStates {
    // Captured from HAProxy 2.6: `show servers state`.
    static let answer = """
        1
        # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
        2 web 1 web1 127.0.0.1 2 0 1 1 1 1 0 0 0 0 0 0 - 19001 - 0 0 - - 0
        2 web 2 web2 127.0.0.1 2 8 1 1 1 1 0 2 0 0 0 0 - 19002 - 0 0 - - 0
        3 api 1 api1 127.0.0.1 0 5 1 1 2 1 0 0 8 0 0 0 - 19003 - 0 0 - - 0


        """

    private func read(_ text: String, chunk: Int) -> (lines: [String], complete: Bool, recognized: Bool) {
        var r = ServerStateReader()
        var lines: [String] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(i + chunk, bytes.count)
            bytes[i..<end].withUnsafeBufferPointer { c in
                r.feed(c) { lines.append("\(String(bytes: $0.backend))/\(String(bytes: $0.server)) \($0.opState) \($0.adminBits)") }
            }
            i = end
        }
        return (lines, r.complete, r.recognized)
    }

    @Test func linesInAnyChunking() {
        for chunk in [1, 5, 100, 10000] {
            let r = read(Self.answer, chunk: chunk)
            #expect(r.lines == ["web/web1 2 0", "web/web2 2 8", "api/api1 0 5"])
            #expect(r.complete && r.recognized)
        }
    }

    @Test func cutShort() {
        let r = read(String(Self.answer.prefix(300)), chunk: 50)
        #expect(!r.complete)
    }

    @Test func notAnAnswer() {
        let r = read("HTTP/1.1 400 Bad Request\r\n\r\n", chunk: 10)
        #expect(!r.recognized)
        let r2 = read("Unknown command.\n\n", chunk: 10)
        #expect(!r2.recognized && r2.lines.isEmpty)
    }

    @Test func shortOrOddLinesSkipped() {
        let r = read("1\n# x\n2 web 1\nx web 1 web1 a 2 0\n2 web 1 web1 a two 0\n2 web 1 web1 a 2 1\n\n", chunk: 3)
        #expect(r.lines == ["web/web1 2 1"])
    }
}
