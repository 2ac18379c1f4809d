import CSocketShim
import Glibc

// Paths and small files: configuration files read once at start, and a file replaced whole.

/// The folder of a path, as dirname(1): "." when it has none.
func dirname(_ path: String) -> String {
    let b = path.bytes
    guard let s = b.lastIndex(of: slash) else { return "." }
    return s == 0 ? "/" : Array(b[..<s]).string
}

/// The last part of a path: its file name ("/usr/bin/env" -> "env").
func basename(_ path: String) -> String {
    let b = path.bytes
    guard let s = b.lastIndex(of: slash) else { return path }
    return Array(b[(s + 1)...]).string
}

/// A whole (small) file, at most `limit` bytes, or nil.
func readFile(_ path: String, limit: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while out.count < limit {
        let n = chunk.withUnsafeMutableBytes { shim_read(fd, $0.baseAddress, $0.count, path, nil, 0) }
        if n <= 0 { break }
        out += chunk[0..<n]
    }
    return out
}

/// A file replaced whole, never seen half-written: written to `PATH.tmp`, then renamed over
/// PATH (HAProxy's `server-state-file`, read by each new worker as it starts).
final class ReplacedFile {
    let path: String
    private let temporary: String
    private var fd: Int32 = -1
    private var failed = false
    /// Why the last replacement failed, in words.
    private(set) var error = ""

    init(path: String) {
        self.path = path
        temporary = path + ".tmp"
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Starts a new version (one under way is dropped).
    func begin() {
        if fd >= 0 { close(fd) }
        fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        failed = fd < 0
        if failed { error = "open \(temporary): \(String(cString: strerror(errno)))" }
    }

    func write(_ bytes: ByteView) {
        guard fd >= 0, !failed, bytes.count > 0 else { return }
        if shim_write_all(fd, bytes.baseAddress, bytes.count, -1, "state file", nil, 0) != 0 {
            failed = true
            error = "write \(temporary): \(String(cString: strerror(errno)))"
        }
    }

    /// Puts the new version in place: true, or false with `error` set (the old one stays).
    @discardableResult
    func commit() -> Bool {
        guard fd >= 0 else { return false }
        close(fd)
        fd = -1
        if !failed && rename(temporary, path) != 0 {
            failed = true
            error = "rename \(temporary) to \(path): \(String(cString: strerror(errno)))"
        }
        if failed { unlink(temporary) }
        return !failed
    }

    /// Drops the version under way.
    func abandon() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(temporary)
    }
}
