// libFuzzer target: HAProxy's answers to batched commands and to `show servers state`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAnswers(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let all = Bytes(start: data, count: size)
    var pos = 0
    while let body = nextAnswer(all, from: &pos) {
        precondition(pos <= size)
        _ = answerSaysMissing(body)
    }
    let reader = ServerStateReader()
    var i = 0
    while i < size {
        let end = min(size, i + 1 + Int(data[i]) % 97)
        reader.feed(all.slice(i..<end)) { line in
            precondition(line.backend.count > 0 && line.server.count > 0)
        }
        i = end
    }
    _ = reader.complete
    return 0
}
