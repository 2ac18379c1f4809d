import CSocketShim
import Glibc

/// Log lines to stderr (supervisord captures it into the listener's log file), each
/// `YYYY-MM-DDTHH:MM:SS LEVEL message`, built in a fixed buffer: no allocation per line.
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

    var threshold: Level
    private let fd: Int32
    private let line = FixedBuffer(capacity: 4096)
    /// Tests collect lines here instead of writing them.
    var captured: [String]?

    init(threshold: Level = .info, fd: Int32 = 2) {
        self.threshold = threshold
        self.fd = fd
    }

    func enabled(_ level: Level) -> Bool { level <= threshold }

    /// Starts a line and returns its buffer to append to, or nil when the level is off.
    /// Finish with `end()`.
    func begin(_ level: Level) -> FixedBuffer? {
        guard enabled(level) else { return nil }
        line.clear()
        appendTimestamp()
        line.append(byte: space)
        line.append(level.word)
        line.append(byte: space)
        return line
    }

    func end() {
        if line.count > 4000 {
            line.count = 4000
            line.append(" ...")
        }
        line.append(byte: newline)
        if captured != nil {
            captured!.append(String(bytes: line.bytes.slice(0..<line.count - 1)))
            return
        }
        _ = shim_write_all(fd, line.base, line.count, -1, "stderr", nil, 0)
    }

    /// A line from a String: for start-up and error paths, not for the per-event path.
    func log(_ level: Level, _ message: String) {
        guard let l = begin(level) else { return }
        var m = message
        m.withUTF8 { l.append($0) }
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
