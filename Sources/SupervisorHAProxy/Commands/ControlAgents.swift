import CSocketShim

// `restart`, `stop`, `start` through the agent: the listener's agent port takes no orders, so
// a program reached only through it drains itself (`wrap --agent`, on supervisord's TERM) and
// the command only asks the port what every HAProxy polling it has been told: after a start,
// the next step waits until every one of them was told ready.

extension ProcessControl {
    /// One watch per agent port over the servers of `steps` it answers for.
    func agentWatches(_ steps: [Step]) -> [AgentWatch] {
        var byAgent: [(Endpoint, [Target])] = []
        for s in steps {
            for (agent, targets) in s.agentServers {
                if let k = byAgent.firstIndex(where: { $0.0 == agent }) {
                    for t in targets where !byAgent[k].1.contains(t) { byAgent[k].1.append(t) }
                } else {
                    byAgent.append((agent, targets))
                }
            }
        }
        return byAgent.map { agent, targets in
            let w = agentWatchers[agent.display] ?? {
                let w = AgentWatch(agent, targets: [], timeoutMs: options.timing.timeoutMs)
                agentWatchers[agent.display] = w
                reactor.add(w)
                return w
            }()
            w.watch(targets)
            return w
        }
    }

    /// Asks every agent port of the steps' servers until each was told ready by every HAProxy
    /// polling it, within --up-timeout; false (said) when not.
    func agentsTellReady(_ steps: [Step]) throws(Ended) -> Bool {
        let watches = agentWatches(steps)
        guard !watches.isEmpty else { return true }
        let what = names(steps.filter { !$0.agentServers.isEmpty })
        let t0 = shim_now_ms()
        while true {
            let now = shim_now_ms()
            for w in watches { w.round(now: now) }
            try wait { watches.allSatisfy { !$0.busy } }
            if watches.allSatisfy({ w in !w.failed && w.seen.allSatisfy { $0?.ready == true } }) {
                let told = watches.flatMap { $0.seen.compactMap { $0 }.map { "\($0.told)/\($0.pollers)" } }
                say("\(what) ready through the agent after \(seconds(since: t0)) (HAProxy instances told: \(told.joined(separator: ", ")))")
                return true
            }
            if shim_now_ms() - t0 >= Int64(options.upTimeoutMs) {
                var seen: [String] = []
                for w in watches {
                    if w.failed { seen.append("agent \(w.peer.display): \(w.peer.errorText)"); continue }
                    for (k, t) in w.targets.enumerated() {
                        guard let s = w.seen[k], !s.ready else { continue }
                        seen.append("\(t.name) is \(s.word.string), told to \(s.told) of \(s.pollers) HAProxy instance(s)")
                    }
                }
                fail("\(what) not ready through the agent within \(seconds(since: t0)): \(seen.joined(separator: "; "))")
                return false
            }
            try wait(ms: ProcessControl.pollEveryMs)
        }
    }
}
