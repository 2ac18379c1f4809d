import Foundation
import Glibc
import Testing

/// A small deterministic generator, so that a failing run can be replayed from its seed.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// supervisord's program name -> the servers it is mapped to in exampleMappings.
private let serversOf = ["web1": ["web/web1", "static/web1"], "web2": ["web/web2"],
                         "api:api_00": ["api/api0"], "api:api_01": ["api/api1"]]

/// The default state table, on supervisord's state names.
private func expectedAdmin(_ state: String) -> String {
    state == "RUNNING" ? "ready" : state == "STOPPING" ? "drain" : "maint"
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct Chaos {
    @Test func randomTransitionsAndHAProxyRestartsConverge() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SH_CHAOS_SEED"] ?? "") ?? UInt64(time(nil))
        var rng = SplitMix64(state: seed)
        let dir = TempDir()
        let apps = AppPorts()
        let haproxy = try HAProxy(dir: dir, apps: apps).start()
        let sup = try Supervisord(dir: dir, apps: apps,
                                  listenerArgs: ["--resync", "1", "--retry-max", "1", haproxy.unixAddress] + exampleMappings).start()
        defer { sup.stop() }
        let programs = serversOf.keys.sorted()
        var background: [Child] = []
        var counts = ["stop": 0, "start": 0, "kill": 0, "haproxy restart": 0, "haproxy kill": 0]
        let deadline = Date().addingTimeInterval(25)
        var ops = 0
        while Date() < deadline && ops < 60 {
            ops += 1
            let p = programs[rng.below(programs.count)]
            switch rng.below(10) {
            case 0...2:
                counts["stop"]! += 1
                background.append(try Child(Real.supervisorctl, ["-c", Paths.supervisordConfig, "stop", p], environment: sup.environment))
            case 3...5:
                counts["start"]! += 1
                background.append(try Child(Real.supervisorctl, ["-c", Paths.supervisordConfig, "start", p], environment: sup.environment))
            case 6...7:
                if let pid = Int32(sup.ctl("pid", p).trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 {
                    counts["kill"]! += 1
                    kill(pid, SIGKILL)
                }
            case 8:
                counts["haproxy restart"]! += 1
                haproxy.stop()
                usleep(UInt32(rng.below(500_000)))
                try haproxy.start()
            default:
                counts["haproxy kill"]! += 1
                haproxy.kill9()
                usleep(UInt32(rng.below(500_000)))
                try haproxy.start()
            }
            usleep(UInt32(rng.below(400_000)))
            background.removeAll { !$0.running }
        }
        for c in background { _ = c.waitExit(30) }

        // Let supervisord settle, then HAProxy must agree with it, within a bounded time.
        var view: [String: String] = [:]
        waitUntil(20) {
            view = sup.status()
            return programs.allSatisfy { ["RUNNING", "STOPPED", "EXITED", "FATAL"].contains(view[$0] ?? "") }
        }
        let start = Date()
        var mismatches: [String] = []
        waitUntil(15) {
            view = sup.status()
            let states = haproxy.states()
            mismatches = programs.flatMap { p in
                serversOf[p]!.compactMap { s in
                    states[s] == expectedAdmin(view[p] ?? "?") ? nil : "\(s): HAProxy \(states[s] ?? "?"), supervisord \(view[p] ?? "?")"
                }
            }
            return mismatches.isEmpty
        }
        let transitions = count("INFO Received PROCESS_STATE_", in: sup.listenerLog)
        print("chaos: seed \(seed), \(ops) operations \(counts), \(transitions) state events handled, \(mismatches.count) mismatches, converged \(String(format: "%.1f", -start.timeIntervalSinceNow)) s after supervisord settled")
        #expect(mismatches.isEmpty, "seed \(seed): \(mismatches)\n\(sup.listenerLog)")
        #expect(transitions > 10)
        #expect(sup.protocolProblems.isEmpty, "\(sup.protocolProblems)")
        #expect(sup.status()["haproxy"] == "RUNNING")
    }
}

private func count(_ needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
}
