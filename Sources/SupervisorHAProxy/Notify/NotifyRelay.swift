import CSocketShim

// `wrap --notify` beside an agent (`--agent`) tells the listener what its program said,
// through supervisord's process communication (docs/protocols.md, "Process communication"):
// what a process writes to its stdout between <!--XSUPERVISOR:BEGIN--> and
// <!--XSUPERVISOR:END--> reaches each event listener subscribed to PROCESS_COMMUNICATION as
// one PROCESS_COMMUNICATION_STDOUT event, whose header supervisord writes with the process's
// own name (`processname:web1 groupname:web pid:123`), where the program has
// `stdout_capture_maxbytes`. Nobody else can speak for the process: the name is
// supervisord's. What is relayed is one notice, the whole of the program's word each time:
//   supervisor-haproxy notify WORD[ #STATUS]
// WORD `ready` (it said READY=1, and its watchdog is kept), `drain` (it said STOPPING=1 or
// RELOADING=1), `maint` (started, not ready yet; or its watchdog missed); STATUS its last
// STATUS=, printable ASCII without `<`, at most `statusCapacity` bytes.

/// The program's word, as relayed.
enum RelayedWord: UInt8, CaseIterable {
    case ready, drain, maint

    var text: StaticString {
        switch self {
        case .ready: "ready"
        case .drain: "drain"
        case .maint: "maint"
        }
    }
}

/// A relayed notice: its word, and the program's STATUS= (empty for none).
struct RelayedNotice {
    var word: RelayedWord
    var status: ByteView
}

let relayPrefix: StaticString = "supervisor-haproxy notify "
let communicationBegin: StaticString = "<!--XSUPERVISOR:BEGIN-->"
let communicationEnd: StaticString = "<!--XSUPERVISOR:END-->"

/// The bytes supervisord captured between the tokens, as a notice; nil when they are not
/// one (another program's words, garbage, a STATUS with bytes no notice carries).
func parseRelayed(_ data: ByteView) -> RelayedNotice? {
    var end = data.count
    while end > 0 && (data[end - 1] == newline || data[end - 1] == 0x0d) { end -= 1 }
    let line = data.slice(0..<end)
    guard line.hasPrefix(relayPrefix) else { return nil }
    let rest = line.slice(relayPrefix.utf8CodeUnitCount..<line.count)
    let wordEnd = rest.firstIndex(of: space) ?? rest.count
    let wordBytes = rest.slice(0..<wordEnd)
    guard let word = RelayedWord.allCases.first(where: { wordBytes.equals($0.text) }) else { return nil }
    guard wordEnd < rest.count else { return RelayedNotice(word: word, status: .empty) }
    let tail = rest.slice(wordEnd..<rest.count)
    guard tail.count > 2, tail[0] == space, tail[1] == hash else { return nil }
    let status = tail.slice(2..<min(tail.count, 2 + NotifyRelay.statusCapacity))
    guard tail.count - 2 <= NotifyRelay.statusCapacity, status.allSatisfy(relayable) else { return nil }
    return RelayedNotice(word: word, status: status)
}

/// A byte a relayed STATUS may carry: printable ASCII but `<` (no token can form in it).
func relayable(_ b: UInt8) -> Bool { b >= 0x20 && b < 0x7f && b != 0x3c }

private let hash: UInt8 = 0x23

/// Writes the notices to the wrapper's stdout (the pipe supervisord reads), on the reactor:
/// only when the pipe has room, so a supervisord that stops reading never holds up the
/// wrapper. The latest notice replaces one not written yet: each is the whole word. The last
/// one is repeated every `repeatMs`, so that a listener started since hears it.
final class NotifyRelay: Pollable {
    static let statusCapacity = 120
    static let repeatMs: Int64 = 5000
    private var writtenAt = Int64.max
    /// The wrapper's stdout; a test's pipe.
    let fd: Descriptor

    init(fd: Descriptor = .standardOutput) { self.fd = fd }

    private let message = FixedBuffer(capacity: 256)
    private let error = FixedBuffer(capacity: 256)
    private var pending = false
    /// The word and status last composed, to tell only changes.
    private var lastWord: RelayedWord?
    private let lastStatus = FixedBuffer(capacity: NotifyRelay.statusCapacity)
    private(set) var failed = false
    /// A write that failed (its words), once: nothing is relayed from then on.
    var onFailed: (String) -> Void = { _ in }

    /// Tells the listener `word`, with the STATUS= last given; nothing when it is the same.
    func tell(_ word: RelayedWord) {
        guard lastWord != word else { return }
        lastWord = word
        compose()
    }

    /// Tells the listener the program's STATUS= (cut, every byte no notice carries turned
    /// into `?`) with the word last given; nothing when it is the same.
    func tell(status: ByteView) {
        let kept = status.slice(0..<min(status.count, NotifyRelay.statusCapacity))
        if lastStatus.count == kept.count && zip(lastStatus.bytes, kept).allSatisfy({ $0 == (relayable($1) ? $1 : 0x3f) }) { return }
        lastStatus.clear()
        for b in kept { lastStatus.append(byte: relayable(b) ? b : 0x3f) }
        if lastWord != nil { compose() }
    }

    private func compose() {
        guard let word = lastWord else { return }
        message.clear()
        message.append(communicationBegin)
        message.append(relayPrefix)
        message.append(word.text)
        if lastStatus.count > 0 {
            message.append(" #")
            message.append(lastStatus.bytes)
        }
        message.append(communicationEnd)
        pending = true
    }

    var pollFD: Int32 { pending && !failed ? fd.raw : -1 }
    var pollEvents: Int16 { Int16(SHIM_POLLOUT) }
    var wakeAt: Int64 { pending || failed || writtenAt == Int64.max ? Int64.max : writtenAt + NotifyRelay.repeatMs }

    func turn(revents: Int16, now: Int64) {
        guard !failed else { return }
        if !pending {
            // Time to repeat it: written once the pipe has room.
            if now >= wakeAt { pending = true }
            return
        }
        guard revents != 0 else { return }
        // Room for it (a pipe with room takes a write this small whole, at once).
        guard fd.writeAll(message.bytes, deadline: now + 1000, name: "stdout (to supervisord)", error: error) else {
            failed = true
            return onFailed(error.text)
        }
        pending = false
        writtenAt = now
    }
}
