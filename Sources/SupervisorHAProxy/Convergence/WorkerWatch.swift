/// Which HAProxy worker answers a stats socket, from `show info`: another `Pid` or
/// `Start_time_sec` means a reload or a restart, and a new worker has forgotten every runtime
/// state (docs/protocols.md, "A reloaded worker").
struct WorkerWatch: Equatable {
    private(set) var pid: Int?
    private var start: Int?

    /// What `show info` said; the worker it replaced when it is a new one.
    mutating func saw(pid: Int, start: Int?) -> Int? {
        defer {
            self.pid = pid
            self.start = start
        }
        guard let known = self.pid, known != pid || self.start != start else { return nil }
        return known
    }

    /// What answers next may be another HAProxy: learnt anew.
    mutating func forget() { pid = nil }
}
