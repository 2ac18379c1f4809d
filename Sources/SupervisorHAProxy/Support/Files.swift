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

/// What is at a path, as `lstat` says, never following a link.
enum PathKind: Equatable {
    case missing, regularFile, directory, symbolicLink, other
    /// lstat failed for another reason than ENOENT (a permission error: cannot tell).
    case unreadable(Errno)

    init(lstatOf path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            self = errno == ENOENT ? .missing : .unreadable(Errno(raw: errno))
            return
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: self = .regularFile
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symbolicLink
        default: self = .other
        }
    }

    var words: String {
        switch self {
        case .missing: "does not exist"
        case .regularFile: "is a file"
        case .directory: "is a directory"
        case .symbolicLink: "is a symbolic link"
        case .other: "is not a regular file"
        case .unreadable(let e): "cannot be looked at (\(String(cString: strerror(e.raw))))"
        }
    }
}

/// A file replaced whole, never seen half-written: written to `PATH.tmp`, flushed to disk,
/// then renamed over PATH (HAProxy's `server-state-file`, read by each new worker as it
/// starts). A root process writing in a folder others may write to (Debian's /run/haproxy
/// is the `haproxy` user's): `PATH.tmp` is always created anew with O_EXCL|O_NOFOLLOW, so a
/// link planted there is removed, never followed; PATH itself is replaced only while it is
/// a regular file or absent (rename replaces a link, never its target, but a PATH that is
/// not a file is somebody else's: left alone, said).
final class ReplacedFile {
    let path: String
    private let temporary: String
    private var fd: Int32 = -1
    private var failed = false
    /// Why the last replacement failed, in words.
    private(set) var error = ""
    /// Whether PATH was there when this program last replaced it.
    private var written = false
    /// Set by a commit that found PATH gone though it had been written: somebody removed it
    /// (as before a reload that changes a server's address), so it is not written again
    /// until `resume()` (the caller's next reload of HAProxy); the caller says so.
    private(set) var paused = false

    init(path: String) {
        self.path = path
        temporary = path + ".tmp"
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Why PATH cannot be kept, or nil: its folder must be a folder, and PATH a regular file
    /// or absent (a path is not a file).
    static func problem(_ path: String) -> String? {
        let folder = PathKind(lstatOf: dirname(path))
        guard folder == .directory else { return "--state-file \(path): its folder \(dirname(path)) \(folder.words), not a folder" }
        switch PathKind(lstatOf: path) {
        case .missing, .regularFile: return nil
        case let kind: return "--state-file \(path) \(kind.words), not a file this program may replace"
        }
    }

    /// Starts a new version (one under way is dropped); nothing while paused.
    func begin() {
        if fd >= 0 { close(fd) }
        fd = -1
        if paused { return }
        let flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC
        fd = open(temporary, flags, 0o644)
        if fd < 0 && errno == EEXIST {
            // A leftover, or a link somebody planted: unlink removes the name, never a target.
            unlink(temporary)
            fd = open(temporary, flags, 0o644)
        }
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
        if !failed && fsync(fd) != 0 {
            failed = true
            error = "fsync \(temporary): \(String(cString: strerror(errno)))"
        }
        close(fd)
        fd = -1
        if !failed {
            switch PathKind(lstatOf: path) {
            case .regularFile: break
            case .missing where written:
                paused = true
                failed = true
                error = "\(path) was removed"
            case .missing: break
            case let kind:
                failed = true
                error = "\(path) \(kind.words): not replaced"
            }
        }
        if !failed && rename(temporary, path) != 0 {
            failed = true
            error = "rename \(temporary) to \(path): \(String(cString: strerror(errno)))"
        }
        if failed { unlink(temporary) }
        written = !failed
        return !failed
    }

    /// Writes PATH again from the next version on (after a pause).
    func resume() {
        paused = false
        written = false
    }

    /// Drops the version under way.
    func abandon() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(temporary)
    }
}
