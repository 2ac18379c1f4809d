// What supervisord's configuration says about HAProxy: `getAllConfigInfo` gives every
// process's command line, so the listener's (and every `wrap`'s) sockets and mappings are
// read from there, parsed by the very parsers that check them when they run (which is why
// this lives with the commands).

/// A command line split into words as supervisord does it (shlex, POSIX mode): spaces
/// separate, quotes group, a backslash escapes outside single quotes.
func commandWords(_ command: [UInt8]) -> [String] {
    var words: [String] = []
    var word: [UInt8] = []
    var inWord = false
    var quote: UInt8?
    var i = 0
    while i < command.count {
        let c = command[i]
        i += 1
        if let q = quote {
            if c == q {
                quote = nil
            } else if c == UInt8(ascii: "\\") && q == UInt8(ascii: "\"") && i < command.count {
                word.append(command[i])
                i += 1
            } else {
                word.append(c)
            }
            continue
        }
        switch c {
        case space, 0x09, newline, 0x0d:
            if inWord { words.append(word.string) }
            word = []
            inWord = false
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            quote = c
            inWord = true
        case UInt8(ascii: "\\"):
            if i < command.count {
                word.append(command[i])
                i += 1
            }
            inWord = true
        default:
            word.append(c)
            inWord = true
        }
    }
    if inWord { words.append(word.string) }
    return words
}

/// Which of this program's commands a supervisord command line runs, and that command's own
/// arguments; nil when it does not run supervisor-haproxy. The one rule for "is this command
/// line ours?", for discovery and for `check`'s priority warning: the program's file name
/// begins with `supervisor-haproxy` (the build's `supervisor-haproxy-static`, a versioned
/// name), run directly or through `env [NAME=VALUE...]`, `exec`, or `sh -c '...'` (and bash,
/// dash), as operators write them.
func ownCommand(_ words: [String]) -> (command: String, arguments: [String])? {
    var words = words[...]
    while let first = words.first {
        let base = basename(first)
        if base == "env" || base == "exec" {
            words = words.dropFirst()
            while let w = words.first, w.hasPrefix("-") || (base == "env" && w.contains("=")) { words = words.dropFirst() }
        } else if ["sh", "bash", "dash"].contains(base), words.count >= 3, words[words.startIndex + 1] == "-c" {
            return ownCommand(commandWords(Array(words[words.startIndex + 2].utf8)))
        } else {
            break
        }
    }
    guard let program = words.first, basename(program).hasPrefix("supervisor-haproxy") else { return nil }
    var rest = Array(words.dropFirst())
    switch rest.first {
    case "wrap", "check", "listen", "restart", "stop", "start":
        let command = rest.removeFirst()
        return (command, rest)
    default:
        return ("listen", rest)
    }
}

/// What a process's command implies: the sockets and mappings of a listener, or a `wrap`'s
/// servers for that very process; the agent ports either names (`--agent`), and whether it
/// is a wrap that drains through them itself. Nil when the command is not a
/// supervisor-haproxy listener or wrapper.
struct Discovered: Equatable {
    var sockets: [SocketSpec]
    var mappings: [Mapping]
    var agents: [Endpoint] = []
    var wrapsWithAgent = false
    /// A `wrap`: it admits its servers itself (its own readiness gate at RUNNING).
    var wrap = false
    /// A `wrap --notify`: the program says itself when it serves.
    var notify = false
}

func discoverMappings(command: [UInt8], group: String, name: String) -> Discovered? {
    guard let (kind, rest) = ownCommand(commandWords(command)) else { return nil }
    switch kind {
    case "wrap":
        guard case .run(let o) = parseWrap(rest) else { return nil }
        let programName = group == name ? name : group + ":" + name
        let mappings = o.targets.map { t in
            Mapping(program: programName.bytes, group: group == name ? nil : group.bytes, process: name.bytes, target: t)
        }
        return Discovered(sockets: o.sockets, mappings: mappings, agents: o.agents, wrapsWithAgent: !o.agents.isEmpty, wrap: true, notify: o.notify)
    case "listen":
        guard case .run(let o) = parseListen(rest), !o.check else { return nil }
        return Discovered(sockets: o.sockets, mappings: o.mappings, agents: o.agents)
    default:
        return nil
    }
}
