import Foundation
import CSocketShim
import Glibc
import Testing
@testable import SupervisorHAProxy

// Nothing waits, nothing grows: the reactor against peers that hang, stream forever or
// never finish an XML-RPC answer. Asserted by what happens in which order and by bounded
// memory, not by how fast the machine is.

/// A process's peak resident set (VmHWM), in kB.
func peakRSSKB(_ pid: pid_t) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return -1 }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct NothingWaits {
    @Test func everyEventIsAcknowledgedWhileTwoSocketsHang() throws {
        let dir = TempDir()
        let h1 = try StandIn(unixPath: dir.file("h1.sock"), mode: .hang)
        let h2 = try StandIn(unixPath: dir.file("h2.sock"), mode: .hang)
        defer { h1.stop(); h2.stop() }
        // A timeout far beyond the test's own bound: the old core acknowledged the first event
        // only after 30 s per hanging socket.
        let d = try Driver(["--timeout", "30", "--resync", "0", "--socket", "unix://" + h1.path, "--socket", "unix://" + h2.path,
                            "web1:web/web1", "web2:web/web2"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        for i in 0..<40 {
            let e = Driver.processState(i % 2 == 0 ? "STOPPED" : "RUNNING", i % 4 < 2 ? "web1" : "web2")
            #expect(try d.send(e) == "RESULT 2\nOK", "event \(i)")
        }
        // Every acknowledgement came while both exchanges were still open.
        #expect(!d.log.contains("timed out"), "\(d.log)")
        #expect(h1.connectionCount == 1 && h2.connectionCount == 1, "one exchange in flight per socket")
        #expect(d.child.running)
    }

    @Test func aPeerThatStreamsForeverIsCutAtTheTimeout() throws {
        let dir = TempDir()
        let stream = try StandIn(unixPath: dir.file("stream.sock"), mode: .endlessServers)
        defer { stream.stop() }
        let d = try Driver(["--timeout", "1", "--resync", "0", "--retry-max", "5", "unix://" + stream.path, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send(Driver.processState("STOPPED", "web1")) == "RESULT 2\nOK", "acknowledged while the answer streams")
        #expect(waitUntil(10) { d.log.contains("ERROR read unix://\(stream.path): timed out (the answer was still coming)") }, "\(d.log)")
        #expect(try d.send(Driver.processState("RUNNING", "web1")) == "RESULT 2\nOK")
        let peak = peakRSSKB(d.child.pid)
        #expect(peak > 0 && peak < 24_000, "peak RSS \(peak) kB against an endless answer")
    }

    @Test func anEndlessXMLRPCAnswerCostsATimeoutNotMemory() throws {
        let dir = TempDir()
        let sup = try StandIn(unixPath: dir.file("supervisor.sock"), mode: .endlessXMLRPC)
        defer { sup.stop() }
        let d = try Driver(["--timeout", "1", "--resync", "0", "--supervisor", "unix://" + sup.path, "unix://" + dir.file("none.sock"), "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        #expect(try d.send("TICK_5", "when:1") == "RESULT 2\nOK", "acknowledged while the sync streams")
        #expect(waitUntil(10) { d.log.contains("start-up sync from unix://\(sup.path) failed: read unix://\(sup.path): timed out (the answer was still coming)") }, "\(d.log)")
        let peak = peakRSSKB(d.child.pid)
        #expect(peak > 0 && peak < 24_000, "peak RSS \(peak) kB against an endless XML-RPC answer (the old core: 2.1 GB)")
    }
}

/// A member that counts its turns and can remove itself or stop the loop.
private final class Counter: Pollable {
    var turns = 0
    var wake: Int64
    var onTurn: (Counter) -> Void = { _ in }
    init(wake: Int64) { self.wake = wake }
    var pollFD: Int32 { -1 }
    var pollEvents: Int16 { 0 }
    var wakeAt: Int64 { wake }
    func turn(revents: Int16, now: Int64) {
        turns += 1
        wake = Int64.max
        onTurn(self)
    }
}

@Suite struct ReactorLoop {
    @Test func aMemberStopsTheLoopWithItsExit() {
        let r = Reactor()
        let c = Counter(wake: 0)
        c.onTurn = { _ in r.stop(.signal(SIGTERM)) }
        r.add(c)
        #expect(r.run() == .signal(SIGTERM))
        #expect(c.turns == 1 && !r.failed)
    }

    @Test func runUntilReturnsNilWhenDoneOrAtTheDeadline() {
        let r = Reactor()
        let c = Counter(wake: 0)
        r.add(c)
        #expect(r.run(until: { c.turns > 0 }) == nil)
        let t0 = shim_now_ms()
        #expect(r.run(deadline: t0 + 30) == nil, "nothing due: the deadline ends the wait")
        #expect(shim_now_ms() >= t0 + 30)
        #expect(c.turns == 1)
    }

    @Test func membersRemovedDuringATurnAreSkippedAndDropped() {
        let r = Reactor()
        let a = Counter(wake: 0), b = Counter(wake: 0), c = Counter(wake: 0)
        a.onTurn = { _ in r.remove(b) }
        for m in [a, b, c] { r.add(m) }
        #expect(r.memberCount == 3)
        r.run(until: { c.turns > 0 })
        #expect(a.turns == 1 && b.turns == 0 && c.turns == 1, "b was removed before its turn came")
        #expect(r.memberCount == 2)
        r.remove(a)
        r.remove(c)
        r.run(until: { true })
        #expect(r.memberCount == 0)
    }

    @Test func aTimerFiresOnceAtItsTime() {
        let r = Reactor()
        var fired: [Int64] = []
        let t = Timer { now in fired.append(now) }
        r.add(t)
        let at = shim_now_ms() + 20
        t.fire(at: at)
        r.run(until: { !fired.isEmpty })
        #expect(fired.count == 1 && fired[0] >= at)
        #expect(t.wakeAt == Int64.max, "a timer that fired waits for the next fire(at:)")
        t.fire(at: 0)
        t.cancel()
        #expect(r.run(deadline: shim_now_ms() + 20) == nil && fired.count == 1, "a cancelled timer does not fire")
    }

    /// A virtual clock: timers fire at their times and in order, a timer set by another's
    /// action fires in the same advance, a cancelled one never, and nothing sleeps.
    @Test func timersOnAVirtualClockFireExactlyAndInOrder() {
        let r = Reactor(clock: Clock(virtual: 1000))
        var fired: [(String, Int64)] = []
        let a = Timer { now in fired.append(("a", now)) }
        let c = Timer { now in fired.append(("c", now)) }
        let b = Timer { now in
            fired.append(("b", now))
            a.fire(at: now + 5)
        }
        [a, b, c].forEach(r.add)
        a.fire(at: 1300)
        b.fire(at: 1100)
        c.fire(at: 1200)
        c.cancel()
        r.advanceTime(by: 150)
        #expect(fired.map(\.0) == ["b", "a"] && fired.map(\.1) == [1100, 1105], "b moved a from 1300 to 1105: \(fired)")
        #expect(r.now == 1150)
        r.advanceTime(by: 1000)
        #expect(fired.count == 2 && r.now == 2150, "c was cancelled, a fired once")
        r.remove(a)
        a.fire(at: 2200)
        r.advanceTime(by: 100)
        #expect(fired.count == 2, "a removed member is never turned")
    }

    @Test func ioResultsFromTheShimsCodes() {
        #expect(IOResult(Int(SHIM_WOULD_BLOCK), zeroMeansClosed: true) == .wouldBlock)
        #expect(IOResult(Int(SHIM_FAILED), zeroMeansClosed: true) == .failed)
        #expect(IOResult(0, zeroMeansClosed: true) == .closed)
        #expect(IOResult(0, zeroMeansClosed: false) == .processed(0))
        #expect(IOResult(12, zeroMeansClosed: false) == .processed(12))
    }

    @Test func aWriteToAPipeNobodyReadsEndsAtItsDeadline() {
        let fds = nonBlockingPipe()
        #expect(fds[0] >= 0)
        defer { close(fds[0]); close(fds[1]) }
        let big = [UInt8](repeating: 0x61, count: 1 << 20)
        let error = FixedBuffer(capacity: 256)
        let t0 = shim_now_ms()
        let ok = big.withBytes { Descriptor(raw: fds[1]).writeAll($0, deadline: t0 + 50, name: "stdout", error: error) }
        #expect(!ok)
        #expect(error.text == "write stdout: timed out")
    }

    @Test func stopPoliciesOfTheCommands() {
        let l = StopPolicy.listener(timeoutMs: 2000)
        #expect(Set(l.signals) == [SIGTERM, SIGINT, SIGQUIT, SIGHUP], "every signal that asks a program to stop, supervisord's and a terminal's")
        #expect(l.graceMs == 2100 && l.exit(SIGTERM) == .signal(SIGTERM) && l.exit(SIGHUP) == .signal(SIGHUP))
        let w = StopPolicy.wrap(timeoutMs: 1000)
        #expect(!w.signals.contains(SIGHUP) && w.passedOn.contains(SIGHUP) && w.exit(SIGTERM) == .status(0))
        // As tini: every signal but the wrapper's own faults, KILL, STOP, CHLD, PIPE and glibc's two.
        let kept: Set<Int32> = [SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT, SIGCHLD, SIGPIPE, 32, 33]
        #expect(Set(w.handled) == Set((1...64).map { Int32($0) }).subtracting(kept))
        #expect(w.passedOn.contains(SIGALRM) && w.passedOn.contains(SIGPWR) && w.passedOn.contains(35))
        #expect(StopPolicy.control.signals == [SIGINT, SIGTERM, SIGHUP], "a dropped SSH session is a Ctrl-C")
    }
}
