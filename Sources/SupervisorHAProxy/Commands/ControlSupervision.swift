import CSocketShim

// What supervisord is asked and told by `restart`, `stop` and `start`: every process stopped or
// started at once and watched until it is as asked, and after a give-up, HAProxy put back
// as supervisord's own states explain.

extension ProcessControl {
    /// Asks supervisord to stop or start every process of `steps` at once (without waiting),
    /// then reads each host's `getAllProcessInfo` until every one is as asked: N programs cost
    /// one stop or one start-up, not N. False (said) at the first supervisord refused, or
    /// that did not get there (FATAL, or still not there at the bound).
    func supervise(_ steps: [Step], start: Bool) throws(Ended) -> Bool {
        let method = start ? "supervisor.startProcess" : "supervisor.stopProcess"
        let t0 = shim_now_ms()
        var waiting: [Int] = []
        for (i, s) in steps.enumerated() {
            guard let failure = try call(hosts[s.host], method, [.string(s.namespec), .bool(false)]) else {
                waiting.append(i)
                continue
            }
            // 60 ALREADY_STARTED, 70 NOT_RUNNING: it already is as asked.
            guard faultCode(hosts[s.host]) == (start ? 60 : 70) else {
                fail("\(s.display) \(start ? "did not start" : "did not stop"): \(failure)")
                return false
            }
            say("\(s.display) \(start ? "was already running" : "was not running")")
        }
        let deadline = t0 + Int64(start ? options.upTimeoutMs : ProcessControl.stopBoundMs)
        while !waiting.isEmpty {
            var states: [Int: [String: String]] = [:]
            for h in Set(waiting.map { steps[$0].host }) {
                guard let known = try processStates(h) else { return false }
                states[h] = known
            }
            var still: [Int] = []
            for i in waiting {
                let s = steps[i]
                let state = states[s.host]?[s.namespec] ?? "gone"
                switch (start, state) {
                case (true, "RUNNING"), (false, "STOPPED"), (false, "EXITED"), (false, "FATAL"):
                    say("\(start ? "started" : "stopped") \(s.display) after \(seconds(since: t0))")
                case (true, "FATAL"), (true, "STOPPED"), (true, "EXITED"), (_, "gone"):
                    fail("\(s.display) did not start: supervisord says \(state)")
                    return false
                default:
                    if shim_now_ms() >= deadline {
                        fail("\(s.display) did not \(start ? "start" : "stop") within \(seconds(since: t0)): supervisord says \(state)")
                        return false
                    }
                    still.append(i)
                }
            }
            waiting = still
            if !waiting.isEmpty { try wait(ms: ProcessControl.pollEveryMs) }
        }
        return true
    }

    /// Every process of host h, `group:process` -> its state name, from getAllProcessInfo;
    /// nil (said) when supervisord did not answer.
    func processStates(_ h: Int) throws(Ended) -> [String: String]? {
        var states: [String: String] = [:]
        if let failure = try call(hosts[h], "supervisor.getAllProcessInfo", onStruct: { s in
            guard let g = s.value(0), let n = s.value(1), let state = s.value(3) else { return }
            states["\(String(bytes: g)):\(String(bytes: n))"] = String(bytes: state)
        }) {
            fail("supervisord at \(hosts[h].url.display): \(failure)")
            return nil
        }
        return states
    }

    /// Before a stop touches HAProxy: each server's admin state on each socket, for a give-up
    /// to put back (`restore`). A socket that cannot be read leaves its servers unknown.
    func recordAdminStates(_ groups: [ServerGroup]) throws(Ended) {
        let now = shim_now_ms()
        for g in groups { g.readAdmin(now: now) }
        try wait { groups.allSatisfy { !$0.busy } }
        for g in groups {
            for (k, t) in g.targets.enumerated() {
                adminBefore[g.peer.display + " " + t.name] = g.outcome == .ok ? g.admin[k] : nil
            }
        }
    }

    /// After a give-up: every server of `steps` as it was when the command found it, unless
    /// its program is not running (then maint), from supervisord's own word: a server the
    /// operator had in maint or drain stays there, and one never seen is left as it is
    /// (said). False (each said) where that could not be done: what is left where.
    func restore(_ steps: [Step]) throws(Ended) -> Bool {
        var running: [Step] = [], down: [Step] = []
        for h in Set(steps.map(\.host)) {
            guard let states = try processStates(h) else {
                fail("cannot tell how to put back \(names(steps.filter { $0.host == h && $0.hasServers }))")
                return false
            }
            for s in steps where s.host == h && s.hasServers {
                if states[s.namespec] == "RUNNING" { running.append(s) } else { down.append(s) }
            }
        }
        var ok = true
        var unknown: [String] = []
        var parts: [(ServerGroup, AdminState, String)] = serverGroups(down).map { ($0, .maint, "supervisord says not running") }
        for g in serverGroups(running) {
            for state in AdminState.allCases {
                let targets = g.targets.filter { adminBefore[g.peer.display + " " + $0.name] == state }
                if !targets.isEmpty { parts.append((made(ServerGroup(client: g.client, targets: targets)), state, "as before the command; supervisord says RUNNING")) }
            }
            unknown += g.targets.filter { adminBefore[g.peer.display + " " + $0.name] == nil }.map { "\($0.name) at \(g.peer.display)" }
        }
        for (g, state, why) in parts {
            ok = try everywhere([g], { $0.set(state, now: $1) }) { g in
                "\(g.peer.errorText); left there as they are: \(g.targets.map(\.name).joined(separator: ", ")) (to put back: set server ... state \(state.word))"
            } && ok
            if g.outcome == .ok {
                say("put back: \(g.targets.map(\.name).joined(separator: ", ")) \(state.word) at \(g.peer.display) (\(why))")
            }
        }
        if !unknown.isEmpty {
            fail("left as they are: \(unknown.joined(separator: ", ")) (what they were before the command could not be read there)")
            ok = false
        }
        return ok
    }
}
