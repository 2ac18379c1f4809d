/// Reads a `show info` answer as it streams in, for the two lines that change when a worker
/// is replaced by a reload or a restart (docs/protocols.md, "show info"): `Pid:` and
/// `Start_time_sec:`.
struct InfoReader {
    private var lines = LineSplitter()
    private(set) var pid: Int?
    private(set) var startTime: Int?
    /// `Version: 3.4.0`: the major and minor numbers.
    private(set) var version: (major: Int, minor: Int)?

    mutating func reset() {
        lines.reset()
        pid = nil
        startTime = nil
        version = nil
    }

    var complete: Bool { lines.complete }
    var firstLine: ByteView { lines.firstLine.bytes }

    mutating func feed(_ chunk: ByteView) {
        var pid = self.pid, startTime = self.startTime, version = self.version
        lines.feed(chunk) { line, _, truncated in
            guard !truncated else { return }
            if line.hasPrefix("Pid: ") {
                pid = line.slice(5..<line.count).decimal(limit: Int(Int32.max))
            } else if line.hasPrefix("Start_time_sec: ") {
                startTime = line.slice(16..<line.count).decimal(limit: Int(Int32.max) << 16)
            } else if line.hasPrefix("Version: ") {
                let v = line.slice(9..<line.count)
                if let dot = v.firstIndex(of: UInt8(ascii: ".")), let major = v.slice(0..<dot).decimal(limit: 1000) {
                    var end = dot + 1
                    while end < v.count && v[end] >= 0x30 && v[end] <= 0x39 { end += 1 }
                    if let minor = v.slice(dot + 1..<end).decimal(limit: 1000) { version = (major, minor) }
                }
            }
        }
        self.pid = pid
        self.startTime = startTime
        self.version = version
    }
}
