import Foundation
import Glibc
import Testing

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
