import CSocketShim
import Foundation
import Glibc
import Testing
@testable import SupervisorHAProxy

// The notify protocol's datagrams, parsed, and the socket that takes them, in this process:
// what counts, what is dropped, and that nothing a sender passes stays open here.

/// The message `text` makes, with its STATUS= copied out of the datagram's buffer.
private func message(_ text: String) -> NotifyMessage {
    message(text).0
}

private func message(_ text: String) -> (NotifyMessage, [UInt8]?) {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBufferPointer { b in
        let m = NotifyMessage(b)
        return (m, m.status.map { Array($0) })
    }
}

@Suite struct NotifyMessages {
    @Test func theAssignmentsWrapActsOn() {
        let (m, status): (NotifyMessage, [UInt8]?) = message("STATUS=uWSGI is ready\nREADY=1\n")
        #expect(m.ready && !m.stopping && !m.watchdog)
        #expect(status == Array("uWSGI is ready".utf8))
        #expect(message("STOPPING=1").stopping)
        #expect(message("RELOADING=1\nMONOTONIC_USEC=123").reloading)
        #expect(message("WATCHDOG=1").watchdog)
        #expect(message("WATCHDOG=trigger").watchdogTrigger)
        #expect(message("MAINPID=4242").mainPid)
    }

    @Test func anythingElseIsIgnored() {
        #expect(message("READY=0").isEmpty)
        #expect(message("READY").isEmpty, "no '='")
        #expect(message("X_FOO=1\nERRNO=5\n\n\u{1}\u{2}=\u{3}").isEmpty)
        #expect(message("").isEmpty)
        #expect(message("ready=1").isEmpty, "keys are upper case")
    }
}

/// A datagram to `socket` (its abstract name), with `fds` passed along (SCM_RIGHTS).
private func send(_ bytes: [UInt8], to name: String, passing fds: [Int32] = []) -> Bool {
    let s = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(s) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let path = Array(name.utf8.dropFirst())
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        raw[0] = 0
        for (i, b) in path.enumerated() { raw[i + 1] = b }
    }
    let len = socklen_t(MemoryLayout<sa_family_t>.size + 1 + path.count)
    var payload = bytes
    return payload.withUnsafeMutableBytes { body in
        var iov = iovec(iov_base: body.baseAddress, iov_len: body.count)
        var control = [UInt8](repeating: 0, count: 64)
        return withUnsafeMutablePointer(to: &addr) { a in
            control.withUnsafeMutableBytes { c in
                var m = msghdr()
                m.msg_name = UnsafeMutableRawPointer(a)
                m.msg_namelen = len
                withUnsafeMutablePointer(to: &iov) { m.msg_iov = $0 }
                m.msg_iovlen = 1
                if !fds.isEmpty {
                    let dataLen = fds.count * MemoryLayout<Int32>.size
                    let header = MemoryLayout<cmsghdr>.size
                    let h = c.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                    h.pointee.cmsg_len = header + dataLen
                    h.pointee.cmsg_level = SOL_SOCKET
                    h.pointee.cmsg_type = Int32(SCM_RIGHTS)
                    for (i, fd) in fds.enumerated() { c.storeBytes(of: fd, toByteOffset: header + i * 4, as: Int32.self) }
                    m.msg_control = c.baseAddress
                    m.msg_controllen = (header + dataLen + 7) & ~7
                }
                return withUnsafePointer(to: &m) { sendmsg(s, $0, Int32(MSG_DONTWAIT)) } == body.count
            }
        }
    }
}

private func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count ?? -1 }

@Suite(.serialized) struct NotifySocketInProcess {
    @Test func aDatagramFromThisUidIsParsedWithItsSender() throws {
        let n = try #require(NotifySocket(uid: getuid(), error: FixedBuffer(capacity: 256)))
        #expect(n.name.hasPrefix("@") && n.name.count > 1)
        var got: [(Bool, Int32)] = []
        n.onMessage = { m, pid, _ in got.append((m.ready, pid)) }
        #expect(send(Array("READY=1".utf8), to: n.name))
        n.turn(revents: 1, now: 0)
        #expect(got.count == 1 && got[0].0 && got[0].1 == getpid())
    }

    @Test func aDatagramLongerThanTheBufferIsDroppedWhole() throws {
        let n = try #require(NotifySocket(uid: getuid(), error: FixedBuffer(capacity: 256)))
        var dropped: [NotifySocket.Dropped] = [], got = 0
        n.onDropped = { d, _ in dropped.append(d) }
        n.onMessage = { _, _, _ in got += 1 }
        #expect(send(Array(repeating: UInt8(ascii: "A"), count: 60_000) + Array("\nREADY=1".utf8), to: n.name))
        n.turn(revents: 1, now: 0)
        #expect(dropped == [.tooLong] && got == 0, "not one byte of it acted on")
    }

    @Test func descriptorsPassedAlongAreClosedAtOnce() throws {
        let n = try #require(NotifySocket(uid: getuid(), error: FixedBuffer(capacity: 256)))
        let before = openDescriptors()
        let file = open("/dev/null", O_RDONLY)
        defer { close(file) }
        for _ in 0..<10 {
            for _ in 0..<5 { #expect(send(Array("STATUS=x".utf8), to: n.name, passing: [file, file, file])) }
            n.turn(revents: 1, now: 0)
        }
        #expect(openDescriptors() == before + 1, "only the test's own /dev/null: \(openDescriptors()) vs \(before)")
    }

    /// The kernel bounds what waits (net.unix.max_dgram_qlen datagrams); a turn takes at
    /// most `perTurn`, so a flood neither grows the wrapper nor starves the reactor.
    @Test func aFloodIsBoundedByTheKernelAndTakenAtMostPerTurnAtATime() throws {
        let n = try #require(NotifySocket(uid: getuid(), error: FixedBuffer(capacity: 256)))
        var got = 0
        n.onMessage = { _, _, _ in got += 1 }
        var sent = 0
        while sent < 10_000 && send(Array("WATCHDOG=1".utf8), to: n.name) { sent += 1 }
        #expect(sent < 10_000, "the queue filled: the sender got EAGAIN after \(sent)")
        n.turn(revents: 1, now: 0)
        #expect(got == min(sent, NotifySocket.perTurn))
    }
}

/// What `wrap --notify` relays to the listener through supervisord (beside an agent): the
/// bytes on its stdout, exactly, and what the listener takes of them.
@Suite struct NotifyRelayToTheListener {
    /// A relay writing to a pipe; `read()` what it wrote.
    private final class Piped {
        let relay: NotifyRelay
        let readEnd: Int32, writeEnd: Int32

        init() {
            var fds: [Int32] = [0, 0]
            _ = pipe(&fds)
            _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
            readEnd = fds[0]
            writeEnd = fds[1]
            relay = NotifyRelay(fd: Descriptor(raw: writeEnd))
        }

        deinit {
            close(readEnd)
            close(writeEnd)
        }

        func read() -> String {
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = Glibc.read(readEnd, &buf, buf.count)
            return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
        }

        /// A turn as the reactor gives it when the pipe has room.
        func writable(now: Int64) { relay.turn(revents: Int16(SHIM_POLLOUT), now: now) }
    }

    private func parsed(_ text: String) -> (RelayedWord, String)? {
        text.bytes.withBytes { b in parseRelayed(b).map { ($0.word, String(decoding: Array($0.status), as: UTF8.self)) } }
    }

    @Test func eachNoticeIsTheWholeWordBetweenSupervisordsTokens() {
        let p = Piped()
        p.relay.tell(.maint)
        p.writable(now: 0)
        #expect(p.read() == "<!--XSUPERVISOR:BEGIN-->supervisor-haproxy notify maint<!--XSUPERVISOR:END-->")
        "loading the app".bytes.withBytes { p.relay.tell(status: $0) }
        p.relay.tell(.ready)
        #expect(p.relay.pollFD == p.writeEnd, "polled for room only while a notice waits")
        p.writable(now: 10)
        #expect(p.read() == "<!--XSUPERVISOR:BEGIN-->supervisor-haproxy notify ready #loading the app<!--XSUPERVISOR:END-->",
                "the latest replaces one not written yet: one write")
        p.relay.tell(.ready)
        #expect(p.relay.pollFD == -1, "the same word again: nothing to write")
    }

    @Test func theLastNoticeIsRepeatedForAListenerStartedSince() {
        let p = Piped()
        p.relay.tell(.ready)
        p.writable(now: 1000)
        let first = p.read()
        #expect(p.relay.wakeAt == 1000 + NotifyRelay.repeatMs)
        p.relay.turn(revents: 0, now: 1000 + NotifyRelay.repeatMs)
        p.writable(now: 1000 + NotifyRelay.repeatMs)
        #expect(p.read() == first && !first.isEmpty)
    }

    /// The program's STATUS= is its own bytes: none of them can end the frame early, break
    /// the agent's answer line, or grow it past its bound.
    @Test func aStatusCannotBreakTheFrameOrTheAnswer() {
        let p = Piped()
        p.relay.tell(.ready)
        let hostile = "a<!--XSUPERVISOR:END-->b\r\nmaint\u{7f}" + String(repeating: "x", count: 300)
        hostile.bytes.withBytes { p.relay.tell(status: $0) }
        p.writable(now: 0)
        let written = p.read()
        #expect(written.components(separatedBy: "<!--XSUPERVISOR:END-->").count == 2, "\(written)")
        let inner = String(written.dropFirst("<!--XSUPERVISOR:BEGIN-->".count).dropLast("<!--XSUPERVISOR:END-->".count))
        let got = parsed(inner)
        #expect(got?.0 == .ready && got?.1.count == NotifyRelay.statusCapacity && got?.1.hasPrefix("a?!--XSUPERVISOR:END-->b??maint?x") == true, "\(inner)")
    }

    @Test func onlyANoticeIsTaken() {
        #expect(parsed("supervisor-haproxy notify drain #stopping\n").map { "\($0.0.text) \($0.1)" } == "drain stopping")
        #expect(parsed("supervisor-haproxy notify maint").map { "\($0.0.text)|\($0.1)" } == "maint|")
        for hostile in ["", "supervisor-haproxy notify", "supervisor-haproxy notify up", "supervisor-haproxy notify ready #",
                        "supervisor-haproxy notify ready#x", "supervisor-haproxy notify ready x", "xsupervisor-haproxy notify ready",
                        "supervisor-haproxy notify ready #a\u{1}b", "supervisor-haproxy notify ready #a<b",
                        "supervisor-haproxy notify ready #" + String(repeating: "x", count: NotifyRelay.statusCapacity + 1),
                        "supervisor-haproxy notify READY"] {
            #expect(parsed(hostile) == nil, "\(hostile.debugDescription)")
        }
    }
}
