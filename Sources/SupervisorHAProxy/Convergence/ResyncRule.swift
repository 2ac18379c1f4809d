// What a resync does with a server whose forced admin state differs from the desired one.
// An event is a decision and is always applied; resync re-applies the listener's own last
// decision where HAProxy forgot it (a reload or restart puts servers back at their
// configured, looser state; a command of ours that was lost leaves our own older state), and
// tightens where HAProxy lets more traffic through than wanted, but it does not loosen a
// drain or maint somebody else set since (an operator, `stop`, `wrap`): said once, kept
// until the next event decides.

struct ResyncRule {
    enum Verdict: Equatable {
        case agrees
        case repair
        /// Somebody's stricter state; `say` the first time it is seen.
        case leaveAlone(say: Bool)
    }

    /// Per target: the admin state HAProxy last took from this instance.
    private var applied: [AdminState?]
    /// Per target: the state resync last said it leaves alone.
    private var leftAlone: [AdminState?]

    init(count: Int) {
        applied = Array(repeating: nil, count: count)
        leftAlone = applied
    }

    /// HAProxy took `state` for t from us.
    mutating func took(_ t: Int, _ state: AdminState) { applied[t] = state }

    /// t's admission is somebody else's now (its `wrap`): what HAProxy shows of it is
    /// not ours, and a stricter state there is left alone.
    mutating func forget(_ t: Int) {
        applied[t] = nil
        leftAlone[t] = nil
    }

    /// An event (or a sync) decided t anew: whatever was left alone is decided over.
    mutating func decided(_ t: Int) { leftAlone[t] = nil }

    mutating func judge(_ t: Int, actual: AdminState, want: AdminState) -> Verdict {
        if actual == want {
            leftAlone[t] = nil
            return .agrees
        }
        guard actual.rawValue > want.rawValue && applied[t] != actual else { return .repair }
        defer { leftAlone[t] = actual }
        return .leaveAlone(say: leftAlone[t] != actual)
    }
}
