// libFuzzer target: a line on the agent port, from whoever reaches it. The answer is always one
// of the words, one line; a request never changes what a server is told.
nonisolated(unsafe) private let table = MappingTable([try! Mapping.parse("app1:web/app1").get(), try! Mapping.parse("app2:web/app2@127.0.0.1:9").get()])
nonisolated(unsafe) private let reactor = Reactor()
nonisolated(unsafe) private let answers: AgentAnswers = {
    let log = Logger()
    log.captured = []
    let a = AgentAnswers(table: table, readyWhen: .running, boundMs: 1000, reactor: reactor, log: log)
    a.desired[0] = .ready
    a.changed(0, now: 0)
    a.desired[1] = .drain
    a.changed(1, now: 0)
    return a
}()
nonisolated(unsafe) private let out = FixedBuffer(capacity: 128)

public func fuzzAgentRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    // As the port hands it on: up to the first end of line, at most 600 bytes.
    var n = 0
    while n < size && n < 600 && data[n] != 0x0a && data[n] != 0x0d { n += 1 }
    out.clear()
    _ = answers.answer(ByteView(start: data, count: n), from: PeerIP(v4: UInt64(size & 0xff)), now: Int64(size), into: out)
    let a = out.text
    let words = ["ready\n", "drain\n", "unknown-server\n"]
    precondition(words.contains(a) || a.hasPrefix("ready ") || a.hasPrefix("drain "), "answer '\(a)'")
    precondition(a.utf8.filter { $0 == 0x0a }.count == 1 && a.hasSuffix("\n"))
    precondition(answers.servers.map(\.word) == [.ready, .drain], "a request changed a word")
    return 0
}
