import CSocketShim
import Glibc

// The entry point: which command, then that command. Sources/Listener/main.swift only
// calls this.

public let version = "2.1.0"

/// Runs the program with the arguments after its name, and ends the process the way the
/// command ended (an exit status, or death by a signal).
public func runMain(_ arguments: [String]) -> Never {
    if let problem = invalidUTF8Argument() {
        writeOut(2, "supervisor-haproxy: \(problem)\n")
        Exit.status(2).end()
    }
    runCommand(arguments).end()
}

/// Swift's arguments replace bytes that are not UTF-8 (U+FFFD): such an argument could
/// never name a process, a server or a file as given, so it is refused, shown as its own
/// bytes escaped.
private func invalidUTF8Argument() -> String? {
    for i in 1..<Int(CommandLine.argc) {
        guard let p = CommandLine.unsafeArgv[i] else { continue }
        let raw = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
        if String(validating: raw, as: UTF8.self) == nil {
            let b = FixedBuffer(capacity: raw.count * 4 + 1)
            b.append(escaping: raw)
            return "argument \(i) is not valid UTF-8: '\(b.text)'"
        }
    }
    return nil
}

func runCommand(_ arguments: [String]) -> Exit {
    StopPolicy.everyStopSignal.withUnsafeBufferPointer { shim_setup_signals($0.baseAddress, Int32($0.count)) }
    let env = Environment.current()
    switch arguments.first {
    case "wrap":
        return runWrap(Array(arguments.dropFirst()), environment: env)
    case "restart", "stop", "start":
        return .status(runControl(ControlAction(rawValue: arguments[0])!, Array(arguments.dropFirst()), environment: env,
                                  executable: CommandLine.arguments.first ?? "supervisor-haproxy"))
    case "check":
        return runListen(parseListen(Array(arguments.dropFirst()), environment: env, check: true))
    case "listen":
        return runListen(parseListen(Array(arguments.dropFirst()), environment: env))
    default:
        return runListen(parseListen(arguments, environment: env))
    }
}

private func runListen(_ parsed: ParsedListen) -> Exit {
    switch parsed {
    case .help:
        writeOut(1, help + "\n")
        return .status(0)
    case .version:
        writeOut(1, "supervisor-haproxy \(version)\n")
        return .status(0)
    case .invalid(let problem):
        return .status(invalidArguments(problem, usage: usage))
    case .run(let options):
        let log = Logger(threshold: options.logLevel)
        for n in options.startupNotes { log.log(.info, n) }
        for w in options.startupWarnings { log.log(.warning, w) }
        if options.check { return .status(runCheck(options)) }
        return EventListener(options: options, log: log).run()
    }
}

/// Exit status 2 and a line naming what is wrong, before anything is started; `command` is
/// the subcommand whose help says more.
func invalidArguments(_ problem: String, usage: String, command: String? = nil) -> Int32 {
    let help = command.map { "supervisor-haproxy \($0) --help" } ?? "supervisor-haproxy --help"
    writeOut(2, "supervisor-haproxy: \(problem.escaped)\n\(usage)\nTry '\(help)' for more.\n")
    return 2
}

/// Writes a whole String to a descriptor (help, version, usage errors, what a command
/// reports), waiting at most `pipeWriteMs` for a reader.
func writeOut(_ fd: Int32, _ text: String) {
    var t = text
    _ = t.withUTF8 { Descriptor(raw: fd).writeAll($0, deadline: shim_now_ms() + pipeWriteMs, name: "output", error: nil) }
}
