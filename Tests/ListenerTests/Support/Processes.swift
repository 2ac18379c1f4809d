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

/// A folder under /tmp named sh-test-*, removed when dropped. Everything a test starts keeps
/// its sockets and logs here, and `make test` kills any process left holding one of these
/// paths.
final class TempDir {
    let path: String

    init() {
        var template = Array("/tmp/sh-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    func read(_ name: String) -> String {
        (try? String(contentsOfFile: file(name), encoding: .utf8)) ?? ""
    }
}

/// A free TCP port on loopback (bound, then released for the caller to bind).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
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

/// A child process; its output goes to a file or a pipe the test reads.
final class Child {
    let process = Process()
    let stdinPipe: Pipe?
    let stdoutPipe: Pipe?

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
         pipeStdin: Bool = false, pipeStdout: Bool = false, stdout: String? = nil, stderr: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        stdinPipe = pipeStdin ? Pipe() : nil
        stdoutPipe = pipeStdout ? Pipe() : nil
        process.standardInput = stdinPipe ?? FileHandle.nullDevice
        if let stdoutPipe {
            process.standardOutput = stdoutPipe
        } else if let stdout {
            FileManager.default.createFile(atPath: stdout, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: stdout)
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        if let stderr {
            FileManager.default.createFile(atPath: stderr, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: stderr)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var running: Bool { process.isRunning }

    /// The exit status (or 128+signal), nil if still running after `seconds`.
    func waitExit(_ seconds: Double) -> Int32? {
        guard waitUntil(seconds, { !process.isRunning }) else { return nil }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    func signal(_ sig: Int32) {
        if process.isRunning { kill(process.processIdentifier, sig) }
    }

    /// SIGTERM, then SIGKILL after 5 s.
    func stop() {
        signal(SIGTERM)
        if waitExit(5) == nil {
            signal(SIGKILL)
            _ = waitExit(5)
        }
    }

    deinit { if process.isRunning { stop() } }
}

/// Runs a command to completion (bounded), returning its status and output.
@discardableResult
func run(_ executable: String, _ arguments: [String], input: String? = nil,
         environment: [String: String]? = nil, seconds: Double = 20) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    try p.run()
    if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
    try? inp.fileHandleForWriting.close()
    // Read both pipes while waiting, so a large output cannot block the child.
    var outData = Data(), errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    if !waitUntil(seconds, { !p.isRunning }) {
        kill(p.processIdentifier, SIGKILL)
        throw TestFailure("\(executable) \(arguments.joined(separator: " ")) did not finish in \(seconds) s")
    }
    _ = group.wait(timeout: .now() + 5)
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// Finds a program on the usual paths.
func which(_ name: String) -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
        return dir + "/" + name
    }
    return name
}
