/// The desired admin state of every mapped server (index t of the mapping table), nil while
/// not known (no event, no sync yet: such a server is left alone). Owned by `Convergence`,
/// which alone changes it; each HAProxy instance reads it.
final class DesiredStates {
    private var states: [AdminState?]

    init(count: Int) { states = Array(repeating: nil, count: count) }

    subscript(t: Int) -> AdminState? {
        get { states[t] }
        set { states[t] = newValue }
    }
}
