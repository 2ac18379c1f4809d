import Foundation
import Glibc

// Test support: paths, temp folders, child processes with bounded waits.

enum Paths {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var binary: String {
        ProcessInfo.processInfo.environment["SH_BINARY"] ?? root + "/.build/debug/supervisor-haproxy"
    }

    static var staticBinary: String {
        ProcessInfo.processInfo.environment["SH_STATIC_BINARY"] ?? root + "/.build-static/release/supervisor-haproxy"
    }

    /// The dynamically linked release build (valgrind cannot count a static binary's mallocs).
    static var releaseBinary: String {
        ProcessInfo.processInfo.environment["SH_RELEASE_BINARY"] ?? root + "/.build/release/supervisor-haproxy"
    }

    static let haproxyConfig = root + "/examples/haproxy.cfg"
    static let supervisordConfig = root + "/examples/supervisord.conf"
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A folder named sh-test-* under `$SH_TEST_ROOT` (default /tmp), removed when dropped
/// (kept with `SH_KEEP_TEST_DIRS=1`, to read a failed run's logs).
/// Everything a test starts keeps its sockets and logs here, and `make test` kills any
/// process left holding one of these paths (scripts/kill-strays, under the same root, so
/// two runs with different roots leave each other alone).
final class TempDir {
    let path: String

    init() {
        let root = ProcessInfo.processInfo.environment["SH_TEST_ROOT"] ?? "/tmp"
        var template = Array("\(root)/sh-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit {
        if ProcessInfo.processInfo.environment["SH_KEEP_TEST_DIRS"] == "1" { return }
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func read(_ name: String) -> String {
        (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? ""
    }
}

/// The ports of this test process, when `scripts/test-suites` runs several at once: each job
/// gets its own range below the kernel's ephemeral one (`SH_PORT_BASE`, `SH_PORT_SPAN`), so
/// two jobs never hand out the same port (a port `bind(0)` gave one process and released is
/// as free for the next process's `bind(0)`).
private final class PortRange: @unchecked Sendable {
    static let shared = PortRange()
    let lock = NSLock()
    let base: Int?
    let span: Int
    var next = 0

    init() {
        let env = ProcessInfo.processInfo.environment
        base = env["SH_PORT_BASE"].flatMap(Int.init)
        span = env["SH_PORT_SPAN"].flatMap(Int.init) ?? 600
    }

    /// `count` consecutive ports that bind now, from this job's range; nil without one.
    func take(_ count: Int) -> Int? {
        guard let base else { return nil }
        lock.lock()
        defer { lock.unlock() }
        for _ in 0..<span {
            if next + count > span { next = 0 }
            let p = base + next
            next += count
            if (0..<count).allSatisfy({ bindLoopback(port: p + $0) != nil }) { return p }
        }
        return nil
    }
}

/// A free TCP port on loopback (bound, then released for the caller to bind).
func freePort() -> Int { PortRange.shared.take(1) ?? bindLoopback(port: 0) ?? 0 }

/// Two consecutive free ports, P and P + 1, for a program group that listens on base +
/// process number. Both lie below the kernel's ephemeral range: Linux hands `bind(0)` odd
/// ports and `connect()` even ones, so `freePort() + 1` is exactly where the source port of
/// some health check or client lands, and the program then finds its port taken.
func freePortPair() -> Int {
    if let p = PortRange.shared.take(2) { return p }
    while true {
        let base = 20000 + 2 * Int.random(in: 0..<6000)
        guard bindLoopback(port: base) != nil, bindLoopback(port: base + 1) != nil else { continue }
        return base
    }
}

/// `count` consecutive ports of this job's range (SH_PORT_BASE), handed out to nobody else;
/// nil without a range.
func freePortBlock(_ count: Int) -> Int? { PortRange.shared.take(count) }

/// Whether 127.0.0.1:`port` can be bound now.
func freeToBind(_ port: Int) -> Bool { bindLoopback(port: port) != nil }

/// Binds a TCP socket to 127.0.0.1:`port` (0: any), closes it, and answers the port bound.
private func bindLoopback(port: Int) -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    return bound(fd, port)
}

/// A socket listening on 127.0.0.1:`port` (the caller closes it), nil when it cannot bind.
func listenLoopback(_ port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard bound(fd, port) != nil, listen(fd, 16) == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// Binds `fd` to 127.0.0.1:`port`: the port bound, nil when it cannot.
private func bound(_ fd: Int32, _ port: Int) -> Int? {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    guard bound == 0 else { return nil }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Polls `condition` every 50 ms until it holds or `seconds` pass.
@discardableResult
func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}

/// A child process started with posix_spawn, with an empty signal mask and every signal at
/// its default (Foundation's Process hands children the test thread's mask, SIGTERM blocked,
/// and supervisord's programs would inherit it). Output goes to files or pipes.
/// A thread's state letter from /proc (R, S, T…), the field after the parenthesized name.
private func threadState(_ pid: pid_t, _ tid: String) -> Character? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    return stat[close...].dropFirst(2).first
}

/// The bytes `pid` has written to unix stream sockets that their peers have not read yet
/// (ss's Send-Q), summed.
func unixBytesUnread(by pid: pid_t) -> Int {
    guard let out = try? run(which("ss"), ["-xnpH"], seconds: 5).out else { return 0 }
    return out.split(separator: "\n").filter { $0.contains("pid=\(pid),") }.reduce(0) { sum, line in
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        return sum + (fields.count > 3 ? Int(fields[3]) ?? 0 : 0)
    }
}

final class Child {
    let pid: pid_t
    /// The parent's ends of the pipes, when asked for.
    let stdinFD: Int32?
    let stdoutFD: Int32?
    let stderrFD: Int32?
    private var exitStatus: Int32?

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
         pipeStdin: Bool = false, pipeStdout: Bool = false, pipeStderr: Bool = false,
         stdout: String? = nil, stderr: String? = nil) throws {
        // A child that exits before reading its input must not kill the test process.
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var childEnds: [Int32] = []
        func pipeFor(_ target: Int32, parentReads: Bool) -> Int32 {
            var fds: [Int32] = [0, 0]
            pipe(&fds)
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            let (mine, theirs) = parentReads ? (fds[0], fds[1]) : (fds[1], fds[0])
            posix_spawn_file_actions_adddup2(&actions, theirs, target)
            childEnds.append(theirs)
            return mine
        }
        func fileFor(_ target: Int32, _ path: String?) {
            if let path {
                posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            }
        }
        stdinFD = pipeStdin ? pipeFor(0, parentReads: false) : nil
        if !pipeStdin { fileFor(0, nil) }
        stdoutFD = pipeStdout ? pipeFor(1, parentReads: true) : nil
        if !pipeStdout { fileFor(1, stdout) }
        stderrFD = pipeStderr ? pipeFor(2, parentReads: true) : nil
        if !pipeStderr { fileFor(2, stderr) }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
        childEnds.forEach { close($0) }
        guard rc == 0 else { throw TestFailure("posix_spawn \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Reaps the child if it has ended.
    private func reap() {
        guard exitStatus == nil else { return }
        var st: Int32 = 0
        if waitpid(pid, &st, WNOHANG) == pid {
            exitStatus = st & 0x7f == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f)
        }
    }

    var running: Bool {
        reap()
        return exitStatus == nil
    }

    /// The exit status (or 128+signal), nil if still running after `seconds`.
    func waitExit(_ seconds: Double) -> Int32? {
        guard waitUntil(seconds, { !running }) else { return nil }
        return exitStatus
    }

    func signal(_ sig: Int32) {
        if running { kill(pid, sig) }
    }

    /// SIGSTOP, then waits (at most `seconds`) until every thread of the child is stopped:
    /// the signal stops the group only once one thread takes it, and until then another
    /// thread may go on serving.
    func freeze(_ seconds: Double = 5) -> Bool {
        signal(SIGSTOP)
        return waitUntil(seconds) {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            return !tasks.isEmpty && tasks.allSatisfy { threadState(pid, $0) == "T" }
        }
    }

    /// SIGTERM, then SIGKILL after 5 s.
    func stop() {
        signal(SIGTERM)
        if waitExit(5) == nil {
            signal(SIGKILL)
            _ = waitExit(5)
        }
    }

    func write(_ text: String) { write(bytes: Array(text.utf8)) }

    /// Raw bytes, not necessarily UTF-8.
    func write(bytes raw: [UInt8]) {
        guard let fd = stdinFD else { return }
        var bytes = raw[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }

    func closeStdin() { if let fd = stdinFD { close(fd) } }

    deinit {
        if running { stop() }
        for fd in [stdinFD, stdoutFD, stderrFD].compactMap({ $0 }) { close(fd) }
    }
}

/// Runs a command to completion (bounded), returning its status and output.
@discardableResult
func run(_ executable: String, _ arguments: [String], input: String? = nil,
         environment: [String: String]? = nil, seconds: Double = 20) throws -> (status: Int32, out: String, err: String) {
    let c = try Child(executable, arguments, environment: environment, pipeStdin: true, pipeStdout: true, pipeStderr: true)
    if let input { c.write(input) }
    close(c.stdinFD!)
    var out: [UInt8] = [], err: [UInt8] = []
    var open = [c.stdoutFD!, c.stderrFD!]
    let end = Date().addingTimeInterval(seconds)
    var chunk = [UInt8](repeating: 0, count: 65536)
    while !open.isEmpty {
        var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let left = Int32(max(0, end.timeIntervalSinceNow * 1000))
        if poll(&fds, nfds_t(fds.count), left) <= 0 {
            c.signal(SIGKILL)
            throw TestFailure("\(executable) \(arguments.joined(separator: " ")) did not finish in \(seconds) s")
        }
        for p in fds where p.revents != 0 {
            let n = read(p.fd, &chunk, chunk.count)
            if n <= 0 {
                open.removeAll { $0 == p.fd }
            } else if p.fd == c.stdoutFD {
                out += chunk[0..<n]
            } else {
                err += chunk[0..<n]
            }
        }
    }
    let status = c.waitExit(max(1, end.timeIntervalSinceNow)) ?? -1
    return (status, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// Finds a program on the usual paths.
func which(_ name: String) -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
        return dir + "/" + name
    }
    return name
}

/// `supervisorctl status` as "name" -> state ("web1" / "api:api_00" -> "RUNNING").
func supervisorStatus(_ text: String) -> [String: String] {
    var result: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        if f.count >= 2 { result[String(f[0])] = String(f[1]) }
    }
    return result
}

/// A pipe whose two ends do not block: [read end, write end].
func nonBlockingPipe() -> [Int32] {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return fds }
    for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    return fds
}

/// A blocking TCP connection to 127.0.0.1:port, or nil when nothing accepts it.
func connectLoopback(_ port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if rc == 0 { return fd }
    close(fd)
    return nil
}

/// Whether something accepts a TCP connection on 127.0.0.1:port now.
func acceptsConnections(_ port: Int) -> Bool {
    guard let fd = connectLoopback(port) else { return false }
    close(fd)
    return true
}

/// One agent check by hand: connect, the line, read to the close.
func askAgent(_ port: Int, _ line: String) -> String {
    guard let fd = connectLoopback(port) else { return "<connect>" }
    defer { close(fd) }
    _ = line.withCString { send(fd, $0, strlen($0), 0) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 256)
    while true {
        let n = recv(fd, &buf, 256, 0)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// Every live process whose process group is `pgid` (read from /proc: zombies excluded).
func processes(inGroup pgid: pid_t) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { pid_t($0) }.filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let f = stat[stat.index(after: close)...].split(separator: " ")
        return f.count > 2 && f[0] != "Z" && pid_t(f[2]) == pgid
    }
}
