// The command line, walked by hand for every command (an argument-parsing package would
// double the binary): `--name value` and `--name=value`, flags that take no value, and
// positional arguments; `--` ends the options. Each command says what each option means.

struct ArgumentWalker {
    enum Item: Equatable {
        case flag(String)
        case option(String, String)
        case positional(String)
    }

    private let arguments: [String]
    private let flags: Set<String>
    private let valued: Set<String>
    /// Short spellings: `-c` for `--configuration`.
    private let aliases: [String: String]
    private var i = 0
    private var optionsEnded = false

    init(_ arguments: [String], flags: Set<String>, valued: Set<String>, aliases: [String: String] = [:]) {
        self.arguments = arguments
        self.flags = flags
        self.valued = valued
        self.aliases = aliases
    }

    /// The next item, a problem in words, or nil at the end.
    mutating func next() -> Result<Item, Problem>? {
        guard i < arguments.count else { return nil }
        var arg = arguments[i]
        i += 1
        if let long = aliases[arg] { arg = long }
        if optionsEnded || !arg.starts(with: "--") || arg == "--" {
            if arg == "--" && !optionsEnded {
                optionsEnded = true
                return next()
            }
            return .success(.positional(arg))
        }
        var inline: String?
        let b = arg.bytes
        if let eq = b.firstIndex(of: UInt8(ascii: "=")) {
            inline = Array(b[(eq + 1)...]).string
            arg = Array(b[..<eq]).string
        }
        if flags.contains(arg) {
            return inline == nil ? .success(.flag(arg)) : .failure(Problem("\(arg) takes no value"))
        }
        guard valued.contains(arg) else { return .failure(Problem("unknown option '\(arg)'")) }
        if let inline { return .success(.option(arg, inline)) }
        guard i < arguments.count else { return .failure(Problem("\(arg) needs a value")) }
        i += 1
        return .success(.option(arg, arguments[i - 1]))
    }
}

/// An option the walker knows and the command's switch does not: a programming error, said
/// as such rather than taken for another option.
func unhandled(_ option: String) -> String { "internal error: option '\(option)' is not handled" }

// Values every command parses the same way.

func socketSpec(_ value: String) -> Result<SocketSpec, Problem> {
    parseAddress(value).map { SocketSpec(text: value, endpoint: $0) }
}

/// A supervisord URL for --supervisor; `none` is nil.
func supervisorOption(_ value: String, _ env: Environment) -> Result<SupervisorURL?, Problem> {
    if value == "none" { return .success(nil) }
    return SupervisorURL.parse(value, username: env.username, password: env.password)
        .map { Optional($0) }.mapError { Problem("--supervisor: " + $0.text) }
}

/// Milliseconds for an option in seconds, from `least` ("0" or "0.001") to a day.
func secondsOption(_ option: String, _ value: String, allowZero: Bool) -> Result<Int, Problem> {
    guard let ms = parseSeconds(value, allowZero: allowZero) else {
        return .failure(Problem("\(option) '\(value)': expected a number of seconds from \(allowZero ? "0" : "0.001") to 86400"))
    }
    return .success(ms)
}

/// `--ready-when check|connect|running`.
func readyWhenOption(_ value: String) -> Result<ReadyWhen, Problem> {
    guard let r = ReadyWhen(rawValue: value) else {
        return .failure(Problem("--ready-when '\(value)': expected check, connect or running"))
    }
    return .success(r)
}
