import CSocketShim
import Glibc

/// The main loop: supervisord's events on stdin, acknowledgements on stdout, and between
/// events, `poll` on stdin bounded by the next retry or resync, so that the process sleeps
/// while it waits.
final class EventLoop {
    let options: Options
    let log: Logger
    let keeper: StateKeeper
    let reader = EventReader()
    private let ioError = FixedBuffer(capacity: 256)
    private let input: Int32
    private let output: Int32

    init(options: Options, log: Logger, input: Int32 = 0, output: Int32 = 1) {
        self.options = options
        self.log = log
        self.input = input
        self.output = output
        let peers = options.sockets.map { Peer(display: $0.text, endpoint: $0.endpoint) }
        keeper = StateKeeper(table: MappingTable(options.mappings), peers: peers,
                             timing: options.timing, log: log, dryRun: options.dryRun)
    }

    /// Runs until end of input (0) or a protocol error (1).
    func run() -> Int32 {
        guard send(readyToken) else { return 1 }
        startupSync()
        while true {
            switch reader.next() {
            case .event:
                // Acknowledged before it is applied: applying is this listener's job.
                handleEvent()
                guard send(okThenReady) else { return 1 }
                continue
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
                return 1
            case .needMore:
                break
            }
            // Every buffered event is recorded; now send, retry, resync as due.
            keeper.runDue(now: shim_now_ms())
            let wait = keeper.msUntilDue(now: shim_now_ms())
            let ready = shim_wait_readable(input, Int32(wait))
            if ready < 0 {
                log.log(.error, "poll stdin: \(String(cString: strerror(errno))); exiting")
                return 1
            }
            if ready == 0 { continue }
            let n = reader.fill { buffer, capacity in
                ioError.withCString { e, len in shim_read(input, buffer, capacity, -1, "stdin", e, len) }
            }
            if n == 0 {
                log.log(.info, "end of input from supervisord; exiting")
                return 0
            }
            if n < 0 {
                log.log(.error, ioError.count > 0 ? String(bytes: ioError.bytes) : "read stdin failed")
                return 1
            }
        }
    }

    private func send(_ token: StaticString) -> Bool {
        let rc = ioError.withCString { e, n in
            shim_write_all(output, token.utf8Start, token.utf8CodeUnitCount, -1, "stdout", e, n)
        }
        if rc != 0 { log.log(.error, "\(String(bytes: ioError.bytes)); exiting") }
        return rc == 0
    }

    private func handleEvent() {
        let name = reader.eventName
        guard let state = ProcessState(eventName: name) else {
            if let l = log.begin(.debug) {
                l.append("ignored ")
                l.append(name)
                log.end()
            }
            return
        }
        guard let event = ProcessStatePayload(reader.payload.bytes) else {
            if let l = log.begin(.warning) {
                l.append(name)
                l.append(" without processname: '")
                l.append(reader.payload.bytes.slice(0..<min(reader.payload.count, 200)))
                l.append("'")
                log.end()
            }
            return
        }
        let table = keeper.table
        let action = options.stateTable[state]
        var matched = false
        table.forEachMatch(process: event.processName, group: event.groupName) { m in
            matched = true
            guard case .set(let admin) = action else {
                logEvent(.debug, name, event, table.mappings[m], nil)
                return
            }
            logEvent(.info, name, event, table.mappings[m], admin)
            keeper.record(target: table.targetOf[m], state: admin)
        }
        if !matched, let l = log.begin(.debug) {
            l.append("ignored ")
            l.append(name)
            l.append(" for ")
            if let g = event.groupName {
                l.append(g)
                l.append(byte: colon)
            }
            l.append(event.processName)
            l.append(" (not mapped)")
            log.end()
        }
    }

    /// The original tool's line:
    /// `Received PROCESS_STATE_EXITED (from RUNNING) for instance2, sending MAINT for plone04/plone0402.`
    private func logEvent(_ level: Logger.Level, _ name: Bytes, _ event: ProcessStatePayload,
                          _ mapping: Mapping, _ admin: AdminState?) {
        guard let l = log.begin(level) else { return }
        l.append("Received ")
        l.append(name)
        l.append(" (from ")
        if let from = event.fromState { l.append(from) } else { l.append("?") }
        l.append(") for ")
        l.append(mapping.program)
        if let admin {
            l.append(", sending ")
            l.append(admin.logWord)
            l.append(" for ")
        } else {
            l.append(", ignored by --on, nothing sent for ")
        }
        l.append(mapping.target.backend)
        l.append(byte: UInt8(ascii: "/"))
        l.append(mapping.target.server)
        l.append(".")
        log.end()
    }

    /// Start-up sync: the state of every mapped program from supervisord, applied at once.
    private func startupSync() {
        guard let text = options.supervisor else { return }
        let url: SupervisorURL
        switch SupervisorURL.parse(text) {
        case .success(let u): url = u
        case .failure(let e):
            log.log(.warning, "start-up sync skipped: \(e.urlMessage)")
            return
        }
        switch SupervisorSync.fetch(url, display: text, timeoutMs: options.timing.timeoutMs) {
        case .failure(let error):
            log.log(.warning, "start-up sync from \(text) failed: \(error.message); carrying on with events alone")
        case .success(let processes):
            var set = 0
            for p in processes {
                guard let state = p.state.bytes.withBytes({ ProcessState(name: $0) }),
                      case .set(let admin) = options.stateTable[state] else { continue }
                let table = keeper.table
                p.name.bytes.withBytes { name in
                    p.group.bytes.withBytes { group in
                        table.forEachMatch(process: name, group: group) { m in
                            keeper.record(target: table.targetOf[m], state: admin)
                            set += 1
                        }
                    }
                }
            }
            log.log(.info, "start-up sync: supervisord reports \(processes.count) process(es); \(set) mapped server state(s) taken from them")
        }
    }
}

/// Writes a whole String to a descriptor (help, version, usage errors).
func writeOut(_ fd: Int32, _ text: String) {
    var t = text
    t.withUTF8 { _ = shim_write_all(fd, $0.baseAddress, $0.count, -1, "output", nil, 0) }
}
