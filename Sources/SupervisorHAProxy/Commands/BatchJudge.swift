import Glibc

/// Whether a batch of a rolling restart serves as well as it should, from what HAProxy
/// counted for it and for the rest of its backend since it came back (`restart --rolling
/// --healthy-for`). Pure: the counters and the time are given, nothing is read here.
///
/// - Beyond doubt, at once: at least `leastFailures` failures and an error ratio whose
///   lower 99.9 % confidence bound (Wilson) is above `maxErrors`. One 500 in a thousand is
///   not that; 20 in 50 is, long before the window ends.
/// - At the end of the window: with at least `leastRequests` requests, the ratio itself.
/// - Against the rest of the backend: when the other servers fail as much over the same
///   window, the backend fails for everyone (a database down) and the batch is not blamed.
/// - A health check that took a server of the batch DOWN after it came UP: failing.
struct BatchJudge {
    struct Settings: Equatable {
        /// How long a batch is watched once UP and ready on every socket (0: not watched).
        var healthyForMs: Int64 = 0
        /// The error ratio a batch may show, 0...1.
        var maxErrors = 0.01
        /// How long a batch with too little traffic to judge is waited for, from the
        /// moment it came back.
        var progressDeadlineMs: Int64 = 60_000
        /// At that deadline: go on (true) or halt (false, the default).
        var acceptUnjudged = false

        var watching: Bool { healthyForMs > 0 }
    }

    enum Verdict: Equatable {
        /// Not yet: the window runs (`tooLittleTraffic`: it has ended, but with fewer
        /// requests than it takes to judge).
        case watching(tooLittleTraffic: Bool)
        case healthy
        /// Fails beyond what it may, where the rest of its backend does not.
        case broken
        /// Fails, and so does the rest of its backend: not the release.
        case backendFailing
        /// Its health check took it DOWN after it came UP.
        case checksFailing
        /// The progress deadline passed with too little traffic to judge.
        case unjudged
    }

    static let leastRequests = 20
    static let leastFailures = 3
    /// One-sided 99.9 %.
    static let z = 3.09

    let settings: Settings

    /// The verdict on one backend's servers of the batch (`batch`) against the others
    /// (`rest`), `watchedMs` into the window, `sinceUpMs` after the batch came back.
    func verdict(batch: ServerCounters, rest: ServerCounters, watchedMs: Int64, sinceUpMs: Int64) -> Verdict {
        if batch.checkDowns > 0 { return .checksFailing }
        if clearlyAbove(batch) { return clearlyAbove(rest) ? .backendFailing : .broken }
        guard watchedMs >= settings.healthyForMs else { return .watching(tooLittleTraffic: false) }
        if batch.tried >= BatchJudge.leastRequests {
            guard ratio(batch) > settings.maxErrors else { return .healthy }
            return rest.tried >= BatchJudge.leastRequests && ratio(rest) > settings.maxErrors ? .backendFailing : .broken
        }
        return sinceUpMs >= settings.progressDeadlineMs ? .unjudged : .watching(tooLittleTraffic: true)
    }

    /// Errors beyond doubt above the ratio allowed.
    func clearlyAbove(_ c: ServerCounters) -> Bool {
        c.failed >= BatchJudge.leastFailures && BatchJudge.lowerBound(failed: c.failed, of: c.tried) > settings.maxErrors
    }

    func ratio(_ c: ServerCounters) -> Double { c.tried > 0 ? Double(c.failed) / Double(c.tried) : 0 }

    /// The Wilson score interval's lower bound for `failed` of `n` at `z`.
    static func lowerBound(failed: Int, of n: Int) -> Double {
        guard n > 0 else { return 0 }
        let nd = Double(n), p = min(1, Double(failed) / nd), z2 = z * z
        let centre = p + z2 / (2 * nd)
        let spread = z * (p * (1 - p) / nd + z2 / (4 * nd * nd)).squareRoot()
        return max(0, (centre - spread) / (1 + z2 / nd))
    }
}
