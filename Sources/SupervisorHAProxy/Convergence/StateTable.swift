// What each process state means for a program's HAProxy servers.

enum Action: Equatable {
    case set(AdminState)
    case ignore
}

/// Process state to action. The default is the original tool's table.
struct StateTable: Equatable {
    private var actions: [Action] = ProcessState.allCases.map { state in
        switch state {
        case .running: .set(.ready)
        case .stopping: .set(.drain)
        default: .set(.maint)
        }
    }

    subscript(state: ProcessState) -> Action {
        get { actions[state.rawValue] }
        set { actions[state.rawValue] = newValue }
    }

    /// Applies one `--on STATE=ACTION` override; nil and an error text when invalid.
    mutating func override(_ spec: String) -> String? {
        let b = spec.bytes
        guard let eq = b.firstIndex(of: UInt8(ascii: "=")) else {
            return "--on '\(spec)': expected STATE=ACTION, e.g. STOPPING=maint"
        }
        let name = Array(b[..<eq]), word = Array(b[(eq + 1)...]).asciiLowercased
        guard let state = name.asciiUppercased.withBytes({ ProcessState(name: $0) }) else {
            let states = ProcessState.allCases.map { "\($0.name)" }.joined(separator: ", ")
            return "--on '\(spec)': unknown state '\(name.string)' (one of \(states))"
        }
        if word.equals("ignore") {
            self[state] = .ignore
        } else if let admin = AdminState(word: word) {
            self[state] = .set(admin)
        } else {
            return "--on '\(spec)': unknown action '\(Array(b[(eq + 1)...]).string)' (one of ready, drain, maint, ignore)"
        }
        return nil
    }
}

