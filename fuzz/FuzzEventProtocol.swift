// libFuzzer target: supervisord's header lines and payloads through the event reader, fed in
// chunks whose sizes come from the input too.
public func fuzzEventProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let chunk = Int(data[0]) + 1
    let input = ByteView(start: data + 1, count: size - 1)
    let reader = EventReader()
    var offset = 0
    loop: while true {
        switch reader.next() {
        case .event:
            _ = ProcessState(eventName: reader.eventName)
            if let p = ProcessStatePayload(reader.payload.bytes) {
                precondition(p.processName.count <= reader.payload.count)
            }
        case .malformed:
            break loop
        case .needMore:
            if offset >= input.count { break loop }
            let end = min(offset + chunk, input.count)
            offset += reader.feed(input.slice(offset..<end))
        }
    }
    return 0
}
