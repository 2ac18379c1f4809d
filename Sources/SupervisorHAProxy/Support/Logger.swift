import CSocketShim
import Glibc

/// Log lines to stderr (supervisord captures it into the program's log file), each
/// `YYYY-MM-DDTHH:MM:SS LEVEL message`, built in fixed buffers: no allocation per line.
///
/// The rule for outside bytes: every message is escaped as it is written (printable ASCII as
/// is, everything else `\n`, `\x1b`...), so no event payload, HAProxy answer or fault string
/// can forge a line or send a terminal escape, whichever call site put it there.
final class Logger {
    enum Level: Int, Comparable {
        case error, warning, info, debug

        var word: StaticString {
            switch self {
            case .error: "ERROR"
            case .warning: "WARNING"
            case .info: "INFO"
            case .debug: "DEBUG"
            }
        }

        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    static let maxMessage = 4000
    /// How long a line may wait for a full stderr pipe.
    static let writeWaitMs: Int64 = 5000

    var threshold: Level
    private let fd: Int32
    private let message = FixedBuffer(capacity: maxMessage)
    private let line = FixedBuffer(capacity: maxMessage * 4 + 64)
    private var level = Level.info
    /// Tests collect lines here instead of writing them.
    var captured: [String]?

    init(threshold: Level = .info, fd: Int32 = 2) {
        self.threshold = threshold
        self.fd = fd
    }

    func enabled(_ level: Level) -> Bool { level <= threshold }

    /// Starts a line and returns its message buffer to append to, or nil when the level is
    /// off. Finish with `end()`.
    func begin(_ level: Level) -> FixedBuffer? {
        guard enabled(level) else { return nil }
        self.level = level
        message.clear()
        return message
    }

    func end() {
        line.clear()
        appendTimestamp()
        line.append(byte: space)
        line.append(level.word)
        line.append(byte: space)
        line.append(escaping: message.bytes)
        if message.truncated { line.append(" ...") }
        if captured != nil {
            captured!.append(line.text)
            return
        }
        line.append(byte: newline)
        // A log nobody reads must not stop the program: the line is dropped past the wait.
        _ = shim_write_all(fd, line.base, line.count, shim_now_ms() + Logger.writeWaitMs, "stderr", nil, 0)
    }

    /// A line from a String: for start-up and error paths, not for the per-event path.
    func log(_ level: Level, _ text: String) {
        guard let m = begin(level) else { return }
        m.append(text)
        end()
    }

    private func appendTimestamp() {
        var now = time(nil)
        var tm = tm()
        localtime_r(&now, &tm)
        line.append(decimal: Int(tm.tm_year) + 1900)
        line.append(byte: UInt8(ascii: "-"))
        line.append(twoDigits: Int(tm.tm_mon) + 1)
        line.append(byte: UInt8(ascii: "-"))
        line.append(twoDigits: Int(tm.tm_mday))
        line.append(byte: UInt8(ascii: "T"))
        line.append(twoDigits: Int(tm.tm_hour))
        line.append(byte: colon)
        line.append(twoDigits: Int(tm.tm_min))
        line.append(byte: colon)
        line.append(twoDigits: Int(tm.tm_sec))
    }
}
