import CSocketShim
import Glibc

// The kernel's table of TCP connections (/proc/net/tcp and tcp6): how many sessions a
// program still has on its port, for a drain that has no stats socket to ask.

/// The established TCP connections whose local port is `port`, counted from the kernel's
/// tables with `buffer` as the only memory; nil when neither table can be read.
func establishedConnections(localPort port: Int, buffer: UnsafeMutablePointer<UInt8>, capacity: Int) -> Int? {
    var total = 0
    var readAny = false
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let n = countEstablished(path, port, buffer, capacity) else { continue }
        readAny = true
        total += n
    }
    return readAny ? total : nil
}

/// One table: each line is `sl local rem st ...`, local `HEXADDR:HEXPORT`, st `01` for
/// ESTABLISHED.
private func countEstablished(_ path: String, _ port: Int, _ buffer: UnsafeMutablePointer<UInt8>, _ capacity: Int) -> Int? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var count = 0
    var kept = 0
    var firstLine = true
    while true {
        let n = shim_read(fd, buffer + kept, capacity - kept, path, nil, 0)
        if n < 0 { return nil }
        let end = kept + n
        var start = 0
        while let nl = ByteView(start: buffer, count: end).firstIndex(of: newline, from: start) {
            if !firstLine && established(ByteView(start: buffer + start, count: nl - start), port) { count += 1 }
            firstLine = false
            start = nl + 1
        }
        if n == 0 { return count }
        // A partial line moves to the front; one longer than the buffer is not the kernel's.
        kept = end - start
        if kept == capacity { return nil }
        if start > 0 { memmove(buffer, buffer + start, kept) }
    }
}

private func established(_ line: ByteView, _ port: Int) -> Bool {
    var fields = 0
    var i = 0
    var local = ByteView.empty
    var state = ByteView.empty
    while i < line.count {
        while i < line.count && line[i] == space { i += 1 }
        let s = i
        while i < line.count && line[i] != space { i += 1 }
        if s == i { break }
        if fields == 1 { local = line.slice(s..<i) }
        if fields == 3 {
            state = line.slice(s..<i)
            break
        }
        fields += 1
    }
    guard state.equals("01"), let c = local.lastIndex(of: colon) else { return false }
    var p = 0
    for k in c + 1..<local.count {
        guard let d = hexDigitValue(local[k]) else { return false }
        p = p * 16 + Int(d)
    }
    return p == port
}
