import CSocketShim
import Glibc

// A failure's identity, kept beside its words (swift-system's `Errno`, swift-nio's `IOError`):
// the shim writes "<call> <name>: <reason>" for people and keeps the errno for decisions, and
// the buffer that takes the words takes the code with them. A decision never reads the
// words, and never takes "it failed" for one particular reason.

/// The errno of a failed call, or `none` for a failure that no errno names (an answer that
/// makes no sense, a name that does not resolve).
struct Errno: Equatable {
    let raw: Int32

    static let none = Errno(raw: 0)
    static let timedOut = Errno(raw: ETIMEDOUT)

    /// The code of the shim call that just failed.
    static var lastShimFailure: Errno { Errno(raw: shim_error_code()) }

    /// Nothing listens at the address: a TCP port or unix socket that refuses (ECONNREFUSED),
    /// or no socket file at the path (ENOENT). The only failures that say a peer is gone;
    /// a permission error, a lack of descriptors, a timeout, a reset say nothing of it.
    var nobodyListens: Bool { raw == ECONNREFUSED || raw == ENOENT }

    /// This process may not reach it (EACCES, EPERM): a local fault, never the peer's state.
    var permission: Bool { raw == EACCES || raw == EPERM }

    /// This process or host is out of descriptors or memory: a local fault.
    var outOfResources: Bool { raw == EMFILE || raw == ENFILE || raw == ENOBUFS || raw == ENOMEM }
}
