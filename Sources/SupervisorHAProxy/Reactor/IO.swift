import CSocketShim

// The shim's non-blocking calls as Swift sees them: a descriptor type, and one result type
// for every step that may have to wait (swift-nio's `IOResult`), instead of the C layer's
// negative codes. A failure's words are in the caller's fixed buffer, named by the call:
// nothing is allocated on the way, whatever the outcome.

/// An open file descriptor, or `none`.
struct Descriptor: Equatable {
    let raw: Int32
    static let none = Descriptor(raw: -1)
    static let standardInput = Descriptor(raw: 0)
    static let standardOutput = Descriptor(raw: 1)

    var isOpen: Bool { raw >= 0 }

    func close() { shim_close(raw) }
}

/// What one non-blocking step did.
enum IOResult: Equatable {
    /// It moved `count` bytes (a read: more than 0).
    case processed(Int)
    /// Nothing can be done now: poll, then try again.
    case wouldBlock
    /// The peer closed (a read found end of file).
    case closed
    /// It failed; the words are in the buffer the call was given.
    case failed

    /// The result of a shim call that returns a count, `SHIM_WOULD_BLOCK` or `SHIM_FAILED`;
    /// `zeroMeansClosed` for reads, where 0 is end of file.
    init(_ n: Int, zeroMeansClosed: Bool) {
        switch n {
        case Int(SHIM_WOULD_BLOCK): self = .wouldBlock
        case ..<0: self = .failed
        case 0 where zeroMeansClosed: self = .closed
        default: self = .processed(n)
        }
    }
}

extension Descriptor {
    /// Reads what is there, into `buffer`.
    func read(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int, name: UnsafePointer<CChar>,
              error: FixedBuffer) -> IOResult {
        let n = error.withCString { e, len in shim_read(raw, buffer, capacity, name, e, len) }
        return IOResult(n, zeroMeansClosed: true)
    }

    /// Sends what the socket takes now.
    func send(_ bytes: ByteView, name: UnsafePointer<CChar>, error: FixedBuffer) -> IOResult {
        let n = error.withCString { e, len in shim_send(raw, bytes.baseAddress, bytes.count, name, e, len) }
        return IOResult(n, zeroMeansClosed: false)
    }

    /// Writes all of `bytes`, waiting while the descriptor is full, at most until the deadline.
    /// For stdout toward supervisord and for the log: a peer that stops reading is an error,
    /// never a hang.
    @discardableResult
    func writeAll(_ bytes: ByteView, deadline: Int64, name: StaticString, error: FixedBuffer?) -> Bool {
        let cName = cString(name)
        let rc: Int32
        if let error {
            rc = error.withCString { e, len in shim_write_all(raw, bytes.baseAddress, bytes.count, deadline, cName, e, len) }
        } else {
            rc = shim_write_all(raw, bytes.baseAddress, bytes.count, deadline, cName, nil, 0)
        }
        return rc == 0
    }
}

/// A name for the shim's messages, without allocating: a StaticString literal is
/// NUL-terminated in memory.
func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// How long a write toward a pipe may wait: supervisord reads its listeners' and programs'
/// pipes all the time; one that has not taken a line in this long is not reading.
let pipeWriteMs: Int64 = 5000
