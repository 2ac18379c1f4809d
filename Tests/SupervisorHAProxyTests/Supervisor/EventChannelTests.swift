import Foundation
import CSocketShim
import Glibc
import Testing
@testable import SupervisorHAProxy

@Suite struct EventChannels {
    /// An event on a pipe: handed over, acknowledged (RESULT then READY) on the other pipe;
    /// end of input ends the channel with 0.
    @Test func anEventIsHandedOverAndAcknowledged() throws {
        let input = nonBlockingPipe(), output = nonBlockingPipe()
        #expect(input[0] >= 0 && output[0] >= 0)
        defer { close(input[0]); close(output[0]); close(output[1]) }
        let log = Logger(threshold: .debug)
        log.captured = []
        var events: [String] = []
        let channel = EventChannel(input: Descriptor(raw: input[0]), output: Descriptor(raw: output[1]), log: log) {
            events.append(String(bytes: $0.eventName))
        }
        var ended: Int32?
        channel.onEnd = { ended = $0 }
        let r = Reactor()
        r.add(channel)
        channel.ready()
        let payload = "processname:web1 groupname:web1 from_state:RUNNING pid:1"
        let text = "ver:3.0 server:supervisor serial:1 pool:p poolserial:1 eventname:PROCESS_STATE_STOPPED len:\(payload.utf8.count)\n" + payload
        _ = text.withCString { write(input[1], $0, strlen($0)) }
        close(input[1])
        r.run(until: { ended != nil }, deadline: shim_now_ms() + 2000)
        #expect(events == ["PROCESS_STATE_STOPPED"])
        #expect(ended == 0)
        var buf = [UInt8](repeating: 0, count: 100)
        let n = read(output[0], &buf, 100)
        #expect(String(decoding: buf[0..<max(0, n)], as: UTF8.self) == "READY\nRESULT 2\nOKREADY\n")
    }

    @Test func garbageEndsTheChannelWithOne() throws {
        let input = nonBlockingPipe(), output = nonBlockingPipe()
        #expect(input[0] >= 0 && output[0] >= 0)
        defer { close(input[0]); close(input[1]); close(output[0]); close(output[1]) }
        let log = Logger(threshold: .error)
        log.captured = []
        let channel = EventChannel(input: Descriptor(raw: input[0]), output: Descriptor(raw: output[1]), log: log) { _ in }
        var ended: Int32?
        channel.onEnd = { ended = $0 }
        let r = Reactor()
        r.add(channel)
        _ = "hello\n".withCString { write(input[1], $0, strlen($0)) }
        r.run(until: { ended != nil }, deadline: shim_now_ms() + 2000)
        #expect(ended == 1)
        #expect(log.captured!.first?.contains("protocol error from supervisord") == true, "\(log.captured!)")
    }
}
