// The notify protocol (systemd's sd_notify, docs/protocols.md "The notify protocol"): a
// program tells its supervisor how it is, in datagrams of newline-separated KEY=VALUE
// assignments. Read without allocating: the message is views into the datagram's buffer.

/// What one datagram says, as far as `wrap` acts on it; every other assignment is ignored.
struct NotifyMessage {
    /// `READY=1`: it serves.
    var ready = false
    /// `STOPPING=1`: it is stopping of its own accord (or was told to); `RELOADING=1`: it
    /// reloads (a graceful reload): both mean "take me out until I say READY=1 again".
    var stopping = false
    var reloading = false
    /// `WATCHDOG=1`: alive; `WATCHDOG=trigger`: it asks to be treated as failed now.
    var watchdog = false
    var watchdogTrigger = false
    /// `STATUS=...`: free text for people, as sent (escaped before it is logged).
    var status: ByteView?
    /// `MAINPID=...` was given (ignored: the wrapper watches its own child).
    var mainPid = false

    init(_ datagram: ByteView) {
        var start = 0
        for i in 0...datagram.count where i == datagram.count || datagram[i] == newline {
            take(datagram.slice(start..<i))
            start = i + 1
        }
    }

    private mutating func take(_ line: ByteView) {
        guard let eq = line.firstIndex(of: UInt8(ascii: "=")) else { return }
        let key = line.slice(0..<eq), value = line.slice(eq + 1..<line.count)
        if key.equals("READY") { ready = value.equals("1") }
        else if key.equals("STOPPING") { stopping = value.equals("1") }
        else if key.equals("RELOADING") { reloading = value.equals("1") }
        else if key.equals("WATCHDOG") {
            watchdog = value.equals("1")
            watchdogTrigger = value.equals("trigger")
        }
        else if key.equals("STATUS") { status = value }
        else if key.equals("MAINPID") { mainPid = true }
    }

    /// Whether it says anything `wrap` acts on or logs.
    var isEmpty: Bool { !ready && !stopping && !reloading && !watchdog && !watchdogTrigger && status == nil && !mainPid }
}
