import Testing
@testable import Listener

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
        #expect(line.hasSuffix("x ...") && line.utf8.count == 4004)
    }
}
