import Testing
@testable import SupervisorHAProxy

private func header(_ s: String) -> HeaderParse {
    Array(s.utf8).withBytes { parseHeader($0) }
}

/// Feeds `input` to a reader in chunks of `chunk` bytes and collects what it reports.
private func readAll(_ input: [UInt8], chunk: Int = 7) -> [String] {
    let reader = EventReader()
    var steps: [String] = []
    var offset = 0
    while true {
        switch reader.next() {
        case .event:
            steps.append("\(String(bytes: reader.eventName)) \(String(bytes: reader.payload.bytes))")
            continue
        case .malformed(let p):
            steps.append("malformed \(p)")
            return steps
        case .needMore:
            if offset >= input.count { return steps }
            let end = min(offset + chunk, input.count)
            let n = input[offset..<end].withUnsafeBufferPointer { reader.feed($0) }
            offset += n
        }
    }
}

@Suite struct HeaderParsing {
    @Test func supervisordsHeader() {
        let line = "ver:3.0 server:supervisor serial:21 pool:listener poolserial:10 eventname:PROCESS_STATE_STOPPED len:54"
        guard case .header(let h) = header(line) else { Issue.record("not parsed"); return }
        #expect(h.length == 54)
        let name = Array(line.utf8)[h.eventName]
        #expect(String(decoding: name, as: UTF8.self) == "PROCESS_STATE_STOPPED")
    }

    @Test func lenZeroAndTokenOrder() {
        #expect(header("len:0 eventname:TICK_5") == .header(EventHeader(eventName: 16..<22, length: 0)))
    }

    @Test(arguments: [
        ("ver:3.0 eventname:TICK_5", HeaderProblem.missingLength),
        ("eventname:TICK_5 len:abc", .badLength),
        ("eventname:TICK_5 len:-5", .badLength),
        ("eventname:TICK_5 len:", .badLength),
        ("eventname:TICK_5 len:99999999999999999999999", .badLength),
        ("eventname:TICK_5 len:1073741825", .badLength),
        ("ver:3.0 len:5", .missingEventName),
        ("eventname: len:5", .missingEventName),
        ("garbage", .missingLength),
        ("", .missingLength),
        ("xlen:5 eventname:A", .missingLength),
    ])
    func malformed(_ line: String, _ problem: HeaderProblem) {
        #expect(header(line) == .malformed(problem))
    }

    @Test func largestLengthAccepted() {
        guard case .header(let h) = header("eventname:X len:1073741824") else { Issue.record("rejected"); return }
        #expect(h.length == 1 << 30)
    }
}

@Suite struct EventStream {
    @Test func eventsSplitAcrossReads() {
        let input = Driver.event("PROCESS_STATE_RUNNING", "processname:web1 groupname:web1 from_state:STARTING pid:1")
            + Driver.event("TICK_5", "when:1201063880")
        for chunk in [1, 3, 7, 64, 4096] {
            #expect(readAll(Array(input.utf8), chunk: chunk) == [
                "PROCESS_STATE_RUNNING processname:web1 groupname:web1 from_state:STARTING pid:1",
                "TICK_5 when:1201063880",
            ])
        }
    }

    @Test func emptyPayload() {
        #expect(readAll(Array("eventname:TICK_5 len:0\n".utf8)) == ["TICK_5 "])
    }

    @Test func hugePayloadStreamsThroughFixedBuffers() {
        // PROCESS_COMMUNICATION can carry hundreds of KB: only the first 4 KiB are kept.
        let payload = String(repeating: "x", count: 700_000)
        let steps = readAll(Array(Driver.event("PROCESS_COMMUNICATION_STDOUT", payload).utf8), chunk: 65536)
        #expect(steps.count == 1)
        #expect(steps[0].utf8.count == "PROCESS_COMMUNICATION_STDOUT ".utf8.count + keptPayloadLength)
    }

    @Test func headerWithoutNewlineIsRejectedNotBuffered() {
        let steps = readAll(Array(String(repeating: "a", count: 5000).utf8), chunk: 1000)
        #expect(steps == ["malformed tooLong"])
    }

    @Test func malformedHeaderAfterGoodEvent() {
        let input = Driver.event("TICK_5", "when:1") + "eventname:X len:abc\n"
        #expect(readAll(Array(input.utf8)) == ["TICK_5 when:1", "malformed badLength"])
    }

    @Test func truncatedPayloadWaitsForMore() {
        #expect(readAll(Array("eventname:X len:10\nabc".utf8)) == [])
    }
}

@Suite struct Payloads {
    @Test func processStateFields() {
        let text = "processname:web_00 groupname:web from_state:STARTING tries:0 pid:2766"
        let ok = Array(text.utf8).withBytes { b -> Bool in
            guard let p = ProcessStatePayload(b) else { return false }
            return String(bytes: p.processName) == "web_00" && p.groupName.map(String.init(bytes:)) == "web"
                && p.fromState.map(String.init(bytes:)) == "STARTING"
        }
        #expect(ok)
    }

    @Test func withoutProcessNameIsNil() {
        #expect(Array("groupname:web from_state:X".utf8).withBytes { ProcessStatePayload($0) } == nil)
    }

    @Test func stateFromEventName() {
        for s in ProcessState.allCases {
            let name = "PROCESS_STATE_\(s.name)"
            #expect(Array(name.utf8).withBytes { ProcessState(eventName: $0) } == s)
        }
        for other in ["TICK_60", "PROCESS_STATE", "PROCESS_STATE_", "PROCESS_STATE_RUNNINGX", "PROCESS_LOG_STDOUT"] {
            #expect(Array(other.utf8).withBytes { ProcessState(eventName: $0) } == nil)
        }
    }
}
