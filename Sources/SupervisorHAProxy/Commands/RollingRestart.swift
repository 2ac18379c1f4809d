// `restart --rolling`: a batch at a time, each fully back before the next, never taking a
// backend's last server UP and ready (unless --force).

extension ProcessControl {
    /// A batch at a time (one process without --batch); halts at the first batch that does
    /// not come back healthy.
    func roll(_ steps: [Step]) throws -> Int32 {
        let size = options.batch.map { $0.size(of: steps.count) } ?? 1
        var k = 0
        while k < steps.count {
            let rest = steps[k...].map(\.display).joined(separator: ", ")
            if let sig = interrupted {
                fail("\(signalName(sig)): stopped before \(steps[k].display); not touched: \(rest)")
                return 1
            }
            let batch: [Step]
            switch try nextBatch(steps[k...], size: size) {
            case .success(let b): batch = b
            case .failure(let refusal):
                fail("refusing to take down \(steps[k].display): \(refusal.text) (--force to do it all the same); not touched: \(rest)")
                return 1
            }
            guard try stopPhase(batch), try startPhase(batch) else {
                let after = steps[(k + batch.count)...].map(\.display)
                fail("halted at \(names(batch))\(after.isEmpty ? "" : "; not touched: " + after.joined(separator: ", "))")
                return 1
            }
            membersAfterStep.append(reactor.memberCount)
            k += batch.count
        }
        return finish("restarted", steps.count)
    }

    /// The next batch: up to `size` of the next processes, in order, as long as every backend
    /// keeps a server UP and ready outside the batch on every socket (unless --force). A
    /// failure names the server that would be the last one taken.
    func nextBatch(_ rest: ArraySlice<Step>, size: Int) throws -> Result<[Step], Problem> {
        let candidates = Array(rest.prefix(size))
        if options.force { return .success(candidates) }
        let groups = serverGroups(candidates)
        guard !groups.isEmpty else { return .success(candidates) }
        guard try readAll(groups) else { return .failure(Problem("cannot read show stat to know whether it is the last server UP")) }
        // Per socket and backend: how many of its serving servers the batch takes so far.
        var taken: [String: Int] = [:]
        var batch: [Step] = []
        for s in candidates {
            var adds: [String: Int] = [:]
            for g in groups {
                let mine = s.targets(on: g.peer.display)
                for (k, t) in g.targets.enumerated() where mine.contains(t) && g.serving(k) {
                    let key = "\(g.peer.display) \(t.backend.string)"
                    adds[key, default: 0] += 1
                    // othersUp counts the backend's other servers UP and ready.
                    if taken[key, default: 0] + adds[key]! >= g.othersUp[k] + 1 {
                        if !batch.isEmpty { return .success(batch) }
                        return .failure(Problem("\(t.name) is the last server UP and ready in backend \(t.backend.string) on \(g.peer.display)"))
                    }
                }
            }
            taken.merge(adds, uniquingKeysWith: +)
            batch.append(s)
        }
        return .success(batch)
    }
}
