/// Reads a `show info` answer as it streams in, for the two lines that change when a worker
/// is replaced by a reload or a restart (docs/protocols.md, "show info"): `Pid:` and
/// `Start_time_sec:`.
struct InfoReader {
    private var lines = LineSplitter()
    private(set) var pid: Int?
    private(set) var startTime: Int?

    mutating func reset() {
        lines.reset()
        pid = nil
        startTime = nil
    }

    var complete: Bool { lines.complete }
    var firstLine: ByteView { lines.firstLine.bytes }

    mutating func feed(_ chunk: ByteView) {
        var pid = self.pid, startTime = self.startTime
        lines.feed(chunk) { line, _, truncated in
            guard !truncated else { return }
            if line.hasPrefix("Pid: ") {
                pid = line.slice(5..<line.count).decimal(limit: Int(Int32.max))
            } else if line.hasPrefix("Start_time_sec: ") {
                startTime = line.slice(16..<line.count).decimal(limit: Int(Int32.max) << 16)
            }
        }
        self.pid = pid
        self.startTime = startTime
    }
}
