import CSocketShim
import Glibc

// Paths and small files: configuration files read once at start.

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
