import Testing
@testable import SupervisorHAProxy

@Suite struct Logging {
    @Test func lineShape() throws {
        let log = Logger(threshold: .info)
        log.captured = []
        log.log(.info, "hello")
        log.log(.debug, "hidden")
        if let l = log.begin(.warning) {
            l.append("n=")
            l.append(decimal: 1234)
            l.append(decimal: -5)
            l.append(decimal: 0)
            log.end()
        }
        let lines = try #require(log.captured)
        #expect(lines.count == 2)
        // 2016-09-14T10:45:30 INFO hello
        let stamp = #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d /#
        #expect(lines[0].contains(stamp) && lines[0].hasSuffix(" INFO hello"))
        #expect(lines[1].hasSuffix(" WARNING n=1234-50"))
    }

    @Test func levels() {
        let quiet = Logger(threshold: .error)
        #expect(quiet.enabled(.error) && !quiet.enabled(.warning))
        let verbose = Logger(threshold: .debug)
        #expect(verbose.enabled(.debug))
    }

    @Test func longLinesAreCut() throws {
        let log = Logger()
        log.captured = []
        log.log(.error, String(repeating: "x", count: 10000))
        let line = try #require(log.captured?.first)
        // Timestamp (19), " ERROR " (7), 4000 bytes of message, " ...".
        #expect(line.hasSuffix("x ...") && line.utf8.count == 19 + 7 + 4000 + 4)
    }

    /// One rule for every byte from outside: printable ASCII as is, everything else escaped,
    /// so one log line stays one line and no terminal escape reaches a terminal.
    @Test func everyByteIsEscapedOnce() throws {
        let log = Logger()
        log.captured = []
        var all = [UInt8](0...255)
        all += Array("\n2026-01-01T00:00:00 ERROR forged line\u{1b}[31m".utf8)
        if let l = log.begin(.warning) {
            l.append(all)
            log.end()
        }
        let line = try #require(log.captured?.first)
        #expect(line.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f }, "only printable ASCII is written")
        #expect(line.contains("\\x00\\x01") && line.contains("\\n") && line.contains("\\t") && line.contains("\\r"))
        #expect(line.contains("\\x1b[31m") && line.contains("\\xff") && line.contains("\\\\"))
        #expect(line.contains("\\n2026-01-01T00:00:00 ERROR forged line"), "the forged line stays inside this one")
        #expect("a\u{7}b\\c".escaped == "a\\x07b\\\\c")
    }
}
