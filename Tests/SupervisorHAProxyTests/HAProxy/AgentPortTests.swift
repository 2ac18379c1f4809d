import Foundation
import Glibc
import Testing

// The agent port is open to whoever reaches it. A real listener, events from the test as
// supervisord, and hostile clients all at once: the events are still acknowledged, memory
// stays flat, nothing but a state word is ever written, and the log says it in a few lines.

private func rssKB(_ pid: pid_t) -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
}

private func ask(_ port: Int, _ line: String) -> String {
    (try? run(which("socat"), ["-t", "2", "-", "TCP:127.0.0.1:\(port)"], input: line, seconds: 5).out) ?? "<socat failed>"
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct AgentPortUnderAttack {
    @Test func hostileClientsChangeNothingAndCostNothing() throws {
        let dir = TempDir()
        let port = freePort()
        let d = try Driver(["--agent", "127.0.0.1:\(port)", "app1:web/app1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        try d.send(Driver.processState("RUNNING", "app1", from: "STARTING"))
        #expect(waitUntil(5) { ask(port, "web/app1\n") == "ready\n" })
        // The log says what goes out: nothing is sent, the agent answers.
        #expect(d.log.contains("for app1, the agent answers READY for web/app1."), "\(d.log)")
        // Warm: every slot has served once.
        for _ in 0..<200 { _ = ask(port, "web/app1\n") }
        let before = rssKB(d.child.pid)

        let attack = try Child("/usr/bin/python3", [Paths.root + "/Tests/Programs/agent_hostile.py", "\(port)", "300", "10000", "4", "200"],
                               stdout: dir.file("attack.json"), stderr: dir.file("attack.err"))
        // Meanwhile: events, each acknowledged as it is read.
        var slowest = 0.0
        var acknowledged = 0
        for k in 0..<40 {
            let t0 = Date()
            let r = try d.send(Driver.processState(k % 2 == 0 ? "STOPPING" : "RUNNING", "app1"))
            slowest = max(slowest, Date().timeIntervalSince(t0))
            if r == "RESULT 2\nOK" { acknowledged += 1 }
            usleep(50_000)
        }
        #expect(attack.waitExit(60) == 0, "\(dir.read("attack.err"))")
        let after = rssKB(d.child.pid)
        print("agent port under attack: 40 events acknowledged, slowest \(String(format: "%.1f", slowest * 1000)) ms; RSS \(before) kB before, \(after) kB after")
        #expect(acknowledged == 40)
        #expect(before > 0 && after - before < 1024, "memory flat: \(before) kB before, \(after) kB after")

        let report = try #require(try JSONSerialization.jsonObject(with: Data(dir.read("attack.json").utf8)) as? [String: Any])
        let answers = try #require(report["answers"] as? [String: Int])
        let allowed: Set<String> = ["b''", "b'unknown-server\\n'"]
        #expect(Set(answers.keys).isSubset(of: allowed), "nothing but the neutral word, or nothing: \(answers)")
        #expect(answers["b'unknown-server\\n'", default: 0] > 150, "garbage lines are answered: \(answers)")
        let counts = try #require(report["counts"] as? [String: Int])
        #expect(counts["flood_opened", default: 0] >= 9000, "\(counts)")

        // Still answering, and still true to the last event (RUNNING).
        #expect(ask(port, "web/app1\n") == "ready\n")
        #expect(ask(port, "web/app1\r\n") == "ready\n", "a CR ends a line, as HAProxy reads it")
        // Said in a few summary lines, never per connection.
        usleep(10_500_000)
        let said = d.log.split(separator: "\n").filter { $0.contains("agent port") }
        print(said.joined(separator: "\n"))
        #expect(!said.isEmpty && said.count <= 6, "\(said.count) lines: \(said)")
        #expect(said.contains { $0.contains("without a state word") && $0.contains("answered unknown-server: no BACKEND/SERVER") }, "\(said)")
    }

    /// Under a descriptor limit of 32, sixty idle connections: each accept that finds no
    /// descriptor drops the oldest idle one, so HAProxy's poll is still answered.
    @Test func idleConnectionsNeverStarveAPollWhenDescriptorsRunOut() throws {
        let dir = TempDir()
        let port = freePort()
        // Only stdio inherited (the test runner's own descriptors closed), then the limit.
        let limited = "import os, resource, sys; os.closerange(3, 65536); resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32)); os.execv(sys.argv[1], sys.argv[1:])"
        let d = try Driver(["-c", limited, Paths.binary, "--agent", "127.0.0.1:\(port)", "app1:web/app1"], dir: dir, binary: "/usr/bin/python3")
        defer { d.child.stop() }
        try d.expectReady()
        try d.send(Driver.processState("RUNNING", "app1", from: "STARTING"))
        #expect(waitUntil(5) { ask(port, "web/app1\n") == "ready\n" })
        let idle = try Child("/usr/bin/python3", ["-c", "import socket,time,sys; c=[socket.create_connection(('127.0.0.1', int(sys.argv[1]))) for _ in range(60)]; print('open', flush=True); time.sleep(30)", "\(port)"],
                             stdout: dir.file("idle.out"))
        defer { idle.stop() }
        #expect(waitUntil(10) { dir.read("idle.out").contains("open") })
        var answered = 0
        for _ in 0..<5 where ask(port, "web/app1\n") == "ready\n" { answered += 1 }
        #expect(answered == 5, "polls answered while idle connections hold every descriptor: \(answered) of 5\n\(d.log)")
    }

    @Test func itBindsOnlyWhereItIsToldAndSaysWhyNot() throws {
        let dir = TempDir()
        // A port nobody may bind twice: the listener says so and exits 2.
        let port = freePort()
        let holder = try Child("/usr/bin/python3", ["-c", "import socket,time,sys; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(30)", "\(port)"])
        defer { holder.stop() }
        #expect(waitUntil(5) { acceptsConnections(port) })
        let d = try Driver(["--agent", "127.0.0.1:\(port)", "app1:web/app1"], dir: dir)
        defer { d.child.stop() }
        #expect(d.child.waitExit(10) == 2)
        #expect(d.log.contains("agent port: bind tcp://127.0.0.1:\(port): Address already in use; exiting"), "\(d.log)")
        // Bound to loopback: not reachable on another address of the host.
        let port2 = freePort()
        let e = try Driver(["--agent", "127.0.0.1:\(port2)", "app1:web/app1"], dir: dir)
        defer { e.child.stop() }
        try e.expectReady()
        let listening = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? ""
        let hex = String(format: "%04X", port2)
        #expect(listening.contains("0100007F:\(hex) 00000000:0000 0A"), "listening on 127.0.0.1 only")
        #expect(!listening.contains("00000000:\(hex) 00000000:0000 0A"), "not on the wildcard")
    }
}
