import Foundation
import Glibc
import Testing

// An operator's week with a master-worker HAProxy: a program stopped, HAProxy reloaded, the
// program started again, under load. Three wrapped programs that bind 2 s after they start,
// `check inter 1s`, `retries 3`, no `option redispatch` (HAProxy's default), 8 clients.

/// The failed requests' send times, from the load clients' own records.
private func failedSent(_ detail: String) -> [(Double, String)] {
    guard let json = try? JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: Any],
          let sent = json["failed_sent"] as? [[Any]] else { return [] }
    return sent.compactMap { s in (s.first as? Double).map { ($0, "\(s.last ?? "")") } }.sorted { $0.0 < $1.0 }
}

@Suite(.serialized, .timeLimit(.minutes(6))) struct StopReloadStart {
    private func stack(_ mode: LoadStack.Mode, stateFile: Bool) throws -> LoadStack {
        let b = LoadStack.Backends(bindDelay: 2, checks: true, check: "inter 1s", redispatch: false)
        return try LoadStack(mode, apps: ["app1", "app2", "app3"], backends: b, stateFile: stateFile, masterWorker: true)
    }

    /// stop app2; 1 s; reload (SIGUSR2 to the master); 2 s; start app2 (or `restart`), under
    /// load, `cycles` times. The failures, with when each failed request was sent relative to
    /// the reload before it and to the start after that reload.
    private func stopReloadStart(_ stack: LoadStack, restart: Bool = false, cycles: Int = 1) throws -> (failed: Int, ok: Int, detail: String, said: String) {
        try stack.start()
        // 24 clients: on 3.4 the new worker's first check takes the stopped server out within
        // about 50 ms of its start, and 8 clients sent it no request in that window in one CI
        // run of three; the variants with the state file must lose nothing under this load too.
        try stack.startLoad(clients: 24)
        usleep(1_000_000)
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        var marks: [(reload: Double, start: Double)] = []
        for _ in 0..<cycles {
            if stack.mode == .wrapped {
                #expect(stack.ctl("stop", "app2").contains("app2: stopped"))
            } else {
                // Not wrapped, supervisord's TERM comes with STOPPING: no listener can drain in
                // time (README), so the operator stops it with the tool, which drains first.
                let r = try run(Paths.binary, ["stop", "-c", stack.config(), "app2"], environment: env, seconds: 60)
                #expect(r.status == 0, "\(r.out)\(r.err)")
            }
            usleep(1_000_000)
            let reload = Date().timeIntervalSince1970
            stack.haproxy?.signal(SIGUSR2)
            usleep(2_000_000)
            marks.append((reload, Date().timeIntervalSince1970))
            if restart {
                let r = try run(Paths.binary, ["restart", "-c", stack.config(), "app2"], environment: env, seconds: 60)
                #expect(r.status == 0, "\(r.out)\(r.err)")
            } else {
                #expect(stack.ctl("start", "app2").contains("app2: started"))
            }
            #expect(waitUntil(30) { stack.allUp() }, "app2 back: \(serverView(stack.adminSocket))")
            usleep(1_500_000)
        }
        let load = try stack.stopLoad()
        let times = failedSent(load.detail).map { sent in
            let m = marks.last { $0.reload <= sent.0 } ?? marks[0]
            return String(format: "%+.2f s after the reload (%+.2f after the start) %@", sent.0 - m.reload, sent.0 - m.start, sent.1)
        }
        return (load.failed, load.ok, load.detail, times.joined(separator: "\n"))
    }

    /// The failed requests were all sent within a second after the reload, none after the
    /// start: HAProxy's new worker had the stopped program's server in rotation from its
    /// start until the listener's repair, and each such request came back 503 after three
    /// retries a second apart, which is why they showed up at the start. (Issue 31 supposed
    /// the start let app2 in early; this refutes it.)
    private func expectSentAtTheReload(_ r: (failed: Int, ok: Int, detail: String, said: String)) {
        let lines = r.said.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { line in
            let after = Double(line.split(separator: " ")[0]) ?? -1
            return after >= 0 && after < 1.0
        }, "every failed request sent within 1 s after the reload: \(r.said)")
    }

    /// The control: no `--state-file`, the issue's setup. Requests fail. How many depends on
    /// when the new worker's first check of the stopped server comes (50 to 300 ms after its
    /// start; under CI's load once before any request reached it), so the control does the
    /// operation three times and must lose requests over the three.
    @Test func withoutTheStateFileTheReloadLosesRequests() throws {
        let stack = try stack(.wrapped, stateFile: false)
        defer { stack.stop() }
        let r = try stopReloadStart(stack, cycles: 3)
        print("stop, reload, start, 3 times; wrapped; no state file: \(r.failed) failed of \(r.failed + r.ok)\n\(r.said)")
        #expect(r.failed > 0, "the control must lose requests: \(r.detail)")
        expectSentAtTheReload(r)
        #expect(stack.listenerLog.contains("resync: app/app2 at unix://\(stack.adminSocket) is ready, want maint; repairing: HAProxy's new worker took it into rotation at its start"), "\(stack.listenerLog)")
    }

    enum Variant: String, CaseIterable {
        case wrappedStart = "wrapped, start", listenerAlone = "listener alone", wrappedRestart = "wrapped, restart"
    }

    /// With `--state-file`: wrapped and started again with supervisorctl; not wrapped (stopped
    /// with `supervisor-haproxy stop`); wrapped and started with `supervisor-haproxy restart`.
    @Test(arguments: Variant.allCases)
    func withTheStateFileNothingIsLost(_ v: Variant) throws {
        let stack = try stack(v == .listenerAlone ? .plain : .wrapped, stateFile: true)
        defer { stack.stop() }
        let r = try stopReloadStart(stack, restart: v == .wrappedRestart)
        print("stop, reload, start; \(v.rawValue); --state-file: \(r.failed) failed of \(r.failed + r.ok)")
        #expect(r.failed == 0 && r.ok > 100, "\(v.rawValue): \(r.detail)\n\(r.said)\n\(stack.listenerLog)")
        if v != .listenerAlone {
            // One readiness gate per server: a wrapped program's is its wrap's, and the
            // listener sends nothing at its start.
            let log = stack.listenerLog
            #expect(log.contains("app2 runs under 'supervisor-haproxy wrap': at unix://\(stack.adminSocket), app/app2 is admitted by its wrap"), "\(log)")
            #expect(log.contains("Received PROCESS_STATE_RUNNING (from STARTING) for app2, left to its wrap (ready once it serves: its readiness gate), nothing sent for app/app2."), "\(log)")
            #expect(!log.contains("health down until its check passes"), "the listener's own gate entered no wrapped server: \(log)")
        }
    }
}

/// A dozen planned operations in a random order, a few seconds apart, under load: restart,
/// rolling restart, stop + reload + start, listener restart, stop + start. `SH_WEEK_SEED=N`
/// replays one; a failure names its seed.
@Suite(.serialized, .timeLimit(.minutes(6))) struct AnOperatorsWeek {
    @Test func aDozenPlannedOperationsLoseNoRequest() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SH_WEEK_SEED"] ?? "") ?? UInt64.random(in: 1...999_999)
        var rng = SplitMix64(state: seed)
        let b = LoadStack.Backends(bindDelay: 2, checks: true, check: "inter 1s", redispatch: false)
        let stack = try LoadStack(.wrapped, apps: ["app1", "app2", "app3"], backends: b, stateFile: true, masterWorker: true)
        defer { stack.stop() }
        try stack.start()
        try stack.startLoad(clients: 8, maxSeconds: 240)
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        var done: [String] = []
        for _ in 0..<12 {
            let app = stack.apps[rng.below(3)]
            switch rng.below(5) {
            case 0:
                done.append("restart \(app)")
                let r = try run(Paths.binary, ["restart", "-c", stack.config(), app], environment: env, seconds: 60)
                #expect(r.status == 0, "seed \(seed): \(r.out)\(r.err)")
            case 1:
                done.append("restart --rolling")
                let r = try run(Paths.binary, ["restart", "--rolling", "-c", stack.config()] + stack.apps, environment: env, seconds: 120)
                #expect(r.status == 0, "seed \(seed): \(r.out)\(r.err)")
            case 2:
                done.append("stop \(app), reload, start")
                stack.ctl("stop", app)
                usleep(1_000_000)
                stack.haproxy?.signal(SIGUSR2)
                usleep(2_000_000)
                stack.ctl("start", app)
            case 3:
                done.append("restart listener")
                stack.ctl("restart", "haproxy")
            default:
                done.append("stop \(app), start")
                stack.ctl("stop", app)
                usleep(500_000)
                stack.ctl("start", app)
            }
            #expect(waitUntil(30) { stack.allUp() }, "seed \(seed), after \(done.last!): \(serverView(stack.adminSocket))")
            usleep(UInt32(1_000_000 + rng.next() % 2_000_000))
        }
        let load = try stack.stopLoad()
        print("an operator's week, seed \(seed): \(done.joined(separator: "; ")): \(load.failed) failed of \(load.failed + load.ok)")
        #expect(load.failed == 0 && load.ok > 500, "seed \(seed) (SH_WEEK_SEED=\(seed) replays it): \(done.joined(separator: "; ")): \(load.detail)\n\(stack.listenerLog)")
    }
}
