import CSocketShim

/// supervisord's side of an event listener, as a member of the reactor: events read from
/// stdin into fixed buffers, each handed on and acknowledged at once (REFERENCE.md: nothing
/// but READY and RESULT ever reaches stdout). The three verbs of supervisor's childutils:
/// `ready()`, read an event, `ok()`.
final class EventChannel: Pollable {
    let reader = EventReader()
    private let input: Int32
    private let output: Int32
    private let log: Logger
    private let ioError = FixedBuffer(capacity: 256)
    private let onEvent: (EventReader) -> Void
    /// Set when the channel has ended: 0 at end of input, 1 on a protocol or I/O error.
    private(set) var exitCode: Int32?

    init(input: Int32 = 0, output: Int32 = 1, log: Logger, onEvent: @escaping (EventReader) -> Void) {
        self.input = input
        self.output = output
        self.log = log
        self.onEvent = onEvent
    }

    /// READY: the listener can take an event.
    func ready() { send(readyToken) }

    var pollFD: Int32 { exitCode == nil ? input : -1 }
    var pollEvents: Int16 { Int16(SHIM_POLLIN) }
    var wakeAt: Int64 { Int64.max }

    func turn(revents: Int16, now: Int64) {
        let n = reader.fill { buffer, capacity in
            ioError.withCString { e, len in shim_read(input, buffer, capacity, "stdin", e, len) }
        }
        if n == -2 { return }
        if n < 0 {
            log.log(.error, "\(ioError.text); exiting")
            return end(1)
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
                if n == 0 {
                    log.log(.info, "end of input from supervisord; exiting")
                    return end(0)
                }
                return
            }
        }
    }

    private func send(_ token: StaticString) {
        guard exitCode == nil else { return }
        let rc = ioError.withCString { e, n in
            shim_write_all(output, token.utf8Start, token.utf8CodeUnitCount, "stdout", e, n)
        }
        if rc != 0 {
            log.log(.error, "\(ioError.text); exiting")
            end(1)
        }
    }

    private func end(_ code: Int32) {
        if exitCode == nil { exitCode = code }
    }
}
