import CSocketShim

/// supervisord's side of an event listener, as a member of the reactor: events read from
/// stdin into fixed buffers, each handed on and acknowledged at once (docs/protocols.md,
/// "The event listener protocol": nothing but READY and RESULT ever reaches stdout). The
/// three verbs of supervisor's childutils: `ready()`, read an event, `ok()`.
final class EventChannel: Pollable {
    let reader = EventReader()
    private let input: Descriptor
    private let output: Descriptor
    private let log: Logger
    private let ioError = FixedBuffer(capacity: 256)
    private let onEvent: (EventReader) -> Void
    /// Told once when the channel ends: 0 at end of input, 1 on a protocol or I/O error.
    var onEnd: (Int32) -> Void = { _ in }
    /// Set when the channel has ended.
    private(set) var exitCode: Int32?

    init(input: Descriptor = .standardInput, output: Descriptor = .standardOutput, log: Logger,
         onEvent: @escaping (EventReader) -> Void) {
        self.input = input
        self.output = output
        self.log = log
        self.onEvent = onEvent
    }

    /// READY: the listener can take an event.
    func ready() { send(readyToken) }

    var pollFD: Int32 { exitCode == nil ? input.raw : -1 }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { Int64.max }

    func turn(revents: Int16, now: Int64) {
        var result = IOResult.wouldBlock
        _ = reader.fill { buffer, capacity in
            result = input.read(into: buffer, capacity: capacity, name: cString("stdin"), error: ioError)
            if case .processed(let n) = result { return n }
            return 0
        }
        switch result {
        case .wouldBlock: return
        case .failed:
            log.log(.error, "\(ioError.text); exiting")
            return end(1)
        case .processed, .closed: break
        }
        while exitCode == nil {
            switch reader.next() {
            case .event:
                onEvent(reader)
                // RESULT 2\nOK, then READY: acknowledged at once, applied by the reactor.
                send(okThenReady)
            case .malformed(let problem):
                if let l = log.begin(.error) {
                    l.append("protocol error from supervisord: ")
                    l.append(problem.text)
                    if problem != .tooLong {
                        l.append(": '")
                        l.append(reader.header.bytes.slice(0..<min(reader.header.count, 200)))
                        l.append("'")
                    }
                    l.append("; exiting so that supervisord restarts the listener")
                    log.end()
                }
                return end(1)
            case .needMore:
                if result == .closed {
                    return end(0)
                }
                return
            }
        }
    }

    private func send(_ token: StaticString) {
        guard exitCode == nil else { return }
        let bytes = ByteView(start: token.utf8Start, count: token.utf8CodeUnitCount)
        if !output.writeAll(bytes, deadline: shim_now_ms() + pipeWriteMs, name: "stdout", error: ioError) {
            log.log(.error, "\(ioError.text); exiting")
            end(1)
        }
    }

    private func end(_ code: Int32) {
        guard exitCode == nil else { return }
        exitCode = code
        onEnd(code)
    }
}
