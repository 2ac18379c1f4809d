import Foundation
import Glibc
import Testing

// Minimal hosts: no allocation per event, a static binary that installs with make,
// a docker-compose.yml that runs the tested config files.

/// Runs the release build under valgrind for `events` events, each one sending a command to
/// a real HAProxy, and returns memcheck's allocation count. With `gated`, the readiness gate
/// is on and `socket`'s web/web1 has a check: each RUNNING sends the gate's entry instead.
private func allocations(events: Int, socket: String, dir: TempDir, gated: Bool = false) throws -> Int {
    let vgLog = dir.file("valgrind-\(events)-\(gated).log")
    let d = try Driver(["--tool=memcheck", "--log-file=\(vgLog)", Paths.releaseBinary, "--verbose", "--resync", "0",
                        "--ready-when", gated ? "check" : "running", socket, "web1:web/web1"], dir: dir, binary: which("valgrind"))
    try d.expectReady()
    // Each event waits for its command to be done, so that every one takes the exchange
    // path (events that come while a command is on its way are merged: the latest wins).
    let log = try FileHandle(forReadingFrom: URL(fileURLWithPath: dir.file("driver-listener.log")))
    defer { try? log.close() }
    var done = 0
    // A line may arrive in two reads: only whole lines are counted, the rest kept.
    var partial: [UInt8] = []
    for i in 0..<events {
        let r = try d.send(Driver.processState(i % 2 == 0 ? "STOPPED" : "RUNNING", "web1"))
        if r != "RESULT 2\nOK" { throw TestFailure("event \(i): \(r)") }
        let end = Date().addingTimeInterval(20)
        while done <= i {
            partial += log.availableData
            if let end = partial.lastIndex(of: 10) {
                let text = String(decoding: partial[...end], as: UTF8.self)
                partial = Array(partial[(end + 1)...])
                done += text.components(separatedBy: "' done").count - 1 + text.components(separatedBy: "until its check passes (readiness gate)").count - 1
            }
            if done <= i { usleep(500) }
            if Date() > end { throw TestFailure("event \(i): no command done") }
        }
    }
    d.closeInput()
    guard d.child.waitExit(60) == 0 else { throw TestFailure("listener under valgrind did not exit 0: \(d.log)") }
    let sent = d.log.components(separatedBy: "' done").count - 1 + d.log.components(separatedBy: "until its check passes (readiness gate)").count - 1
    guard sent == events else { throw TestFailure("\(sent) commands for \(events) events") }
    let summary = try #require(dir.read("valgrind-\(events)-\(gated).log").split(separator: "\n").first { $0.contains("total heap usage:") })
    let match = try #require(summary.firstMatch(of: #/usage: ([\d,]+) allocs/#))
    return Int(match.1.replacingOccurrences(of: ",", with: ""))!
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct MinimalHost {
    @Test func noHeapAllocationPerEvent() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        let few = try allocations(events: 200, socket: haproxy.unixAddress, dir: dir)
        let many = try allocations(events: 2000, socket: haproxy.unixAddress, dir: dir)
        print("allocations: \(few) for 200 events, \(many) for 2000 events")
        #expect(few == many, "allocations grew with events: \(few) for 200, \(many) for 2000")
    }

    /// The same through the readiness gate: each RUNNING takes a checked server into its
    /// gate (drain, health down) and each STOPPED back to maint, with no allocation.
    @Test func noHeapAllocationPerEventThroughTheGate() throws {
        let fleet = try Fleet(backends: [("web", ["web1"])], programs: "", listener: nil, checks: true)
        try fleet.startHAProxy()
        defer { fleet.stop() }
        let few = try allocations(events: 100, socket: "unix://" + fleet.adminSocket, dir: fleet.dir, gated: true)
        let many = try allocations(events: 600, socket: "unix://" + fleet.adminSocket, dir: fleet.dir, gated: true)
        print("allocations through the gate: \(few) for 100 events, \(many) for 600 events")
        #expect(few == many, "allocations grew with events: \(few) for 100, \(many) for 600")
    }

    /// The agent port under valgrind: `answers` agent checks, then end of input.
    private func agentAllocations(answers: Int, dir: TempDir) throws -> Int {
        let port = freePort()
        let vgLog = dir.file("valgrind-agent-\(answers).log")
        let d = try Driver(["--tool=memcheck", "--log-file=\(vgLog)", Paths.releaseBinary, "--agent", "127.0.0.1:\(port)", "web1:web/web1"],
                           dir: dir, binary: which("valgrind"))
        try d.expectReady()
        try d.send(Driver.processState("RUNNING", "web1", from: "STARTING"))
        for i in 0..<answers {
            let a = askAgent(port, "web/web1\n")
            if a != "ready\n" { throw TestFailure("answer \(i): '\(a)'") }
        }
        d.closeInput()
        guard d.child.waitExit(60) == 0 else { throw TestFailure("listener under valgrind did not exit 0: \(d.log)") }
        let summary = try #require(dir.read("valgrind-agent-\(answers).log").split(separator: "\n").first { $0.contains("total heap usage:") })
        let match = try #require(summary.firstMatch(of: #/usage: ([\d,]+) allocs/#))
        return Int(match.1.replacingOccurrences(of: ",", with: ""))!
    }

    @Test func noHeapAllocationPerAgentAnswer() throws {
        let dir = TempDir()
        let few = try agentAllocations(answers: 200, dir: dir)
        let many = try agentAllocations(answers: 2000, dir: dir)
        print("allocations on the agent port: \(few) for 200 answers, \(many) for 2000 answers")
        #expect(few == many, "allocations grew with answers: \(few) for 200, \(many) for 2000")
    }

    @Test func staticBinaryRunsWithAnEmptyEnvironment() throws {
        let file = try run(which("file"), [Paths.staticBinary])
        #expect(file.out.contains("statically linked"), "\(file.out)")
        let v = try run(Paths.staticBinary, ["--version"], environment: [:])
        #expect(v.status == 0 && v.out.hasPrefix("supervisor-haproxy "))
        let size = try FileManager.default.attributesOfItem(atPath: Paths.staticBinary)[.size] as! Int
        print("static binary: \(size) bytes")
    }

    @Test func makeInstallAndUninstall() throws {
        let dest = TempDir()
        let r = try run(which("make"), ["-C", Paths.root, "--no-print-directory", "install", "PREFIX=/opt/x", "DESTDIR=\(dest.path)"], seconds: 300)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let bin = dest.file("opt/x/bin/supervisor-haproxy"), man = dest.file("opt/x/share/man/man1/supervisor-haproxy.1")
        #expect(FileManager.default.isExecutableFile(atPath: bin))
        #expect(FileManager.default.fileExists(atPath: man))
        #expect(try run(which("file"), [bin]).out.contains("statically linked"))
        #expect(try run(bin, ["--version"], environment: [:]).status == 0)
        let u = try run(which("make"), ["-C", Paths.root, "--no-print-directory", "uninstall", "PREFIX=/opt/x", "DESTDIR=\(dest.path)"])
        #expect(u.status == 0)
        #expect(!FileManager.default.fileExists(atPath: bin) && !FileManager.default.fileExists(atPath: man))
        #expect(FileManager.default.fileExists(atPath: dest.file("opt/x/bin")), "directories are left as they were")
    }
}

