// libFuzzer target: HAProxy's answers to batched commands, `show servers state` and `show stat`.
public func fuzzAnswers(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let all = ByteView(start: data, count: size)
    var pos = 0
    while let body = nextAnswer(all, from: &pos) {
        precondition(pos <= size)
        _ = answerSaysMissing(body)
    }
    var reader = ServerStateReader()
    var i = 0
    while i < size {
        let end = min(size, i + 1 + Int(data[i]) % 97)
        reader.feed(all.slice(i..<end)) { line in
            precondition(line.backend.count > 0 && line.server.count > 0)
        }
        i = end
    }
    _ = reader.complete
    var stat = StatReader()
    i = 0
    while i < size {
        let end = min(size, i + 1 + Int(data[i]) % 89)
        stat.feed(all.slice(i..<end)) { line in
            precondition(line.backend.count > 0 && line.server.count > 0 && line.sessions >= 0 && line.queued >= 0)
        }
        i = end
    }
    return 0
}
