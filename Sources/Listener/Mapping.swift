// Which supervisord program is which HAProxy server, and what each process state means
// for that server.

/// A server's administrative state in HAProxy, as `set server ... state` sets it.
enum AdminState: UInt8, CaseIterable {
    case ready, drain, maint

    /// The word HAProxy's CLI takes.
    var word: StaticString {
        switch self {
        case .ready: "ready"
        case .drain: "drain"
        case .maint: "maint"
        }
    }

    /// The word in the original tool's log line.
    var logWord: StaticString {
        switch self {
        case .ready: "READY"
        case .drain: "DRAIN"
        case .maint: "MAINT"
        }
    }

    init?(word: [UInt8]) {
        guard let s = AdminState.allCases.first(where: { word.equals($0.word) }) else { return nil }
        self = s
    }

    /// The state HAProxy reports in `show servers state`'s srv_admin_state field: only the
    /// forced bits count, as those are the ones `set server` sets (REFERENCE.md).
    init(adminBits: Int) {
        if adminBits & 0x01 != 0 {
            self = .maint
        } else if adminBits & 0x08 != 0 {
            self = .drain
        } else {
            self = .ready
        }
    }
}

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

/// One HAProxy server, named once however many programs map to it.
struct Target: Equatable {
    var backend: [UInt8]
    var server: [UInt8]

    var name: String { "\(backend.string)/\(server.string)" }
}

/// `PROGRAM:BACKEND/SERVER` as given on the command line.
struct Mapping: Equatable {
    /// The program as written, for log lines.
    var program: [UInt8]
    /// Set when PROGRAM is `group:process`; otherwise the process matches in any group.
    var group: [UInt8]?
    var process: [UInt8]
    var target: Target

    /// PROGRAM:BACKEND/SERVER, for messages.
    var text: String { "\(program.string):\(target.name)" }

    func matches(process name: Bytes, group groupName: Bytes?) -> Bool {
        guard process.withBytes({ name.equals($0) }) else { return false }
        guard let group else { return true }
        guard let groupName else { return false }
        return group.withBytes { groupName.equals($0) }
    }

    /// Parse rule: SERVER is what follows the last `/`; PROGRAM and BACKEND split at the
    /// last `:` before it. PROGRAM may itself be `group:process`.
    static func parse(_ text: String) -> Result<Mapping, MappingError> {
        let bytes = Array(text.utf8)
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else {
            return .failure(MappingError(text: text, reason: "no '/' between BACKEND and SERVER"))
        }
        guard let colonAt = bytes[..<slash].lastIndex(of: colon) else {
            return .failure(MappingError(text: text, reason: "no ':' between PROGRAM and BACKEND"))
        }
        let program = Array(bytes[..<colonAt])
        let backend = Array(bytes[(colonAt + 1)..<slash])
        let server = Array(bytes[(slash + 1)...])
        for (part, what) in [(program, "PROGRAM"), (backend, "BACKEND"), (server, "SERVER")] {
            if part.isEmpty {
                return .failure(MappingError(text: text, reason: "\(what) is empty"))
            }
            // So that every command fits the listener's fixed request buffer.
            if part.count > 255 {
                return .failure(MappingError(text: text, reason: "\(what) longer than 255 bytes"))
            }
            // These would split or end a command on HAProxy's CLI, or a token in supervisord's.
            if part.contains(where: { $0 <= 0x20 || $0 == 0x7f || $0 == UInt8(ascii: ";") }) {
                return .failure(MappingError(text: text, reason: "\(what) contains a space, ';' or control character"))
            }
        }
        if backend.contains(UInt8(ascii: "/")) {
            return .failure(MappingError(text: text, reason: "BACKEND contains '/' (HAProxy names cannot)"))
        }
        var group: [UInt8]?
        var process = program
        if let c = program.firstIndex(of: colon) {
            group = Array(program[..<c])
            process = Array(program[(c + 1)...])
            if group!.isEmpty || process.isEmpty || process.contains(colon) {
                return .failure(MappingError(text: text, reason: "PROGRAM must be 'process' or 'group:process'"))
            }
        }
        return .success(Mapping(program: program, group: group, process: process,
                                target: Target(backend: backend, server: server)))
    }
}

struct MappingError: Error, Equatable {
    var text: String
    var reason: String

    var message: String { "invalid mapping '\(text)': \(reason) (expected PROGRAM:BACKEND/SERVER)" }
}

/// The mappings with their servers numbered: `targetOf[i]` is mapping i's server in `targets`.
struct MappingTable {
    var mappings: [Mapping]
    var targets: [Target] = []
    var targetOf: [Int] = []

    init(_ mappings: [Mapping]) {
        self.mappings = mappings
        for m in mappings {
            if let i = targets.firstIndex(of: m.target) {
                targetOf.append(i)
            } else {
                targetOf.append(targets.count)
                targets.append(m.target)
            }
        }
    }

    /// Calls `body` with the index of every mapping that names this process.
    func forEachMatch(process: Bytes, group: Bytes?, _ body: (Int) -> Void) {
        for m in mappings.indices where mappings[m].matches(process: process, group: group) {
            body(m)
        }
    }
}
