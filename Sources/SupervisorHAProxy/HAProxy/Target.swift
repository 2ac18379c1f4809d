// HAProxy's names for what this program changes: a server, and its administrative state.

/// One HAProxy server, named once however many programs map to it.
struct Target: Equatable {
    var backend: [UInt8]
    var server: [UInt8]

    var name: String { "\(backend.string)/\(server.string)" }

    /// HAProxy's own rule for proxy and server names: letters, digits, `-`, `_`, `.`, `:`.
    /// Anything else could be read by HAProxy's CLI as something else (`\` is its escape,
    /// `;` ends a command, a space ends a word), so only such names reach a command.
    static func invalidByte(in name: [UInt8]) -> UInt8? {
        name.first { b in
            !((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".") || b == colon)
        }
    }

    /// `BACKEND/SERVER` (as `wrap` takes them): SERVER is what follows the last `/`.
    static func parse(_ text: String) -> Result<Target, Problem> {
        let bytes = text.bytes
        guard let s = bytes.lastIndex(of: slash) else {
            return .failure(mappingProblem(text, "no '/' between BACKEND and SERVER", expected: "BACKEND/SERVER"))
        }
        return validated(Array(bytes[..<s]), Array(bytes[(s + 1)...]), text: text, expected: "BACKEND/SERVER")
    }

    static func validated(_ backend: [UInt8], _ server: [UInt8], text: String, expected: String) -> Result<Target, Problem> {
        for (part, what) in [(backend, "BACKEND"), (server, "SERVER")] {
            if part.isEmpty { return .failure(mappingProblem(text, "\(what) is empty", expected: expected)) }
            if part.count > 255 {
                return .failure(mappingProblem(text, "\(what) longer than 255 bytes", expected: expected))
            }
            if let b = invalidByte(in: part) {
                return .failure(mappingProblem(text, "\(what) contains \(describe(byte: b)); HAProxy names hold only letters, digits, '-', '_', '.' and ':'", expected: expected))
            }
        }
        return .success(Target(backend: backend, server: server))
    }
}

/// A name that is not one HAProxy can take, or a mapping that does not parse: `text`, why,
/// and what was expected.
func mappingProblem(_ text: String, _ reason: String, expected: String = "PROGRAM:BACKEND/SERVER") -> Problem {
    Problem("invalid mapping '\(text)': \(reason) (expected \(expected))")
}

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
    /// forced bits count, as those are the ones `set server` sets
    /// (docs/protocols.md, "show servers state").
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

/// An HAProxy stats socket as the operator gave it.
struct SocketSpec: Equatable {
    var text: String
    var endpoint: Endpoint
}
