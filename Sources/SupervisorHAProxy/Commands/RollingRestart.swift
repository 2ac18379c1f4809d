import CSocketShim

// `restart --rolling`: a batch at a time, each fully back before the next, never taking a
// backend's last server UP and ready (unless --force).

extension ProcessControl {
    /// A batch at a time (one process without --batch); halts at the first batch that does
    /// not come back healthy.
    func roll(_ steps: [Step]) throws(Ended) -> Int32 {
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
            guard try stopPhase(batch), try startPhase(batch), try watched(batch) else {
                let after = steps[(k + batch.count)...].map(\.display)
                fail("halted at \(names(batch))\(after.isEmpty ? "" : "; not touched: " + after.joined(separator: ", "))")
                return 1
            }
            membersAfterStep.append(reactor.memberCount)
            k += batch.count
        }
        return finish("restarted", steps.count)
    }

    /// With --healthy-for: the batch, back, watched until judged (`BatchWatch`). True when
    /// it is healthy (or unjudged with --accept-unjudged, or not watched); a broken batch
    /// is taken out of rotation (drain, then maint) and left running; a backend failing
    /// for every server, or too little traffic, leaves it as it is. Said either way.
    func watched(_ batch: [Step]) throws(Ended) -> Bool {
        guard options.watch.watching else { return true }
        let groups = serverGroups(batch)
        let what = names(batch.filter(\.hasServers))
        guard !groups.isEmpty else { return true }
        let settings = options.watch
        say("watching \(what) for \(secondsText(settings.healthyForMs)): at most \(percentWords(settings.maxErrors)) errors, judged by HAProxy's counters against the rest of its backend")
        let watch = BatchWatch(groups.map { ($0.client, $0.targets) }, settings: settings, reactor: reactor, now: reactor.now)
        watch.onNote = { [unowned self] in say("\(what): \($0)") }
        try wait { watch.finished || interrupted != nil }
        let now = reactor.now
        guard watch.finished else {
            watch.end()
            say("\(what): the watch was interrupted; not judged")
            return true
        }
        let evidence = watch.evidence(now: now)
        switch watch.verdict {
        case .healthy, .watching:
            say("\(what) healthy: \(evidence)")
            return true
        case .broken, .checksFailing:
            fail("\(what) failing: \(evidence)")
            try takeOut(batch, what)
            return false
        case .backendFailing:
            fail("backend(s) of \(what) failing for every server, not only the restarted one(s): \(evidence); not blamed on the release: \(what) left in rotation; the roll stops")
            return false
        case .unjudged:
            let said = "\(what): too little traffic to judge within --progress-deadline (\(secondsText(settings.progressDeadlineMs))): \(evidence)"
            if settings.acceptUnjudged {
                say("\(said); going on, not judged (--accept-unjudged)")
                return true
            }
            fail("\(said); left in rotation, not judged (--accept-unjudged to go on without a verdict)")
            return false
        }
    }

    /// A failing batch out of rotation: drained (bounded by --drain-timeout), then maint.
    /// Its programs go on running under supervisord, for the operator to look at.
    private func takeOut(_ batch: [Step], _ what: String) throws(Ended) {
        let groups = serverGroups(batch)
        let drain = Drain(groups, reactor: reactor, pollEveryMs: ProcessControl.pollEveryMs)
        let t0 = shim_now_ms()
        drain.start(deadline: t0 + Int64(options.drainTimeoutMs), now: t0)
        try wait { drain.finished }
        if try setAll(groups, .maint, what) {
            say("\(what) taken out of rotation (drain, then maint after \(seconds(since: t0))); still running under supervisord")
        }
    }

    /// The next batch: up to `size` of the next processes, in order, as long as every backend
    /// keeps a server UP and ready outside the batch on every socket (unless --force). A
    /// failure names the server that would be the last one taken.
    func nextBatch(_ rest: ArraySlice<Step>, size: Int) throws(Ended) -> Result<[Step], Problem> {
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
