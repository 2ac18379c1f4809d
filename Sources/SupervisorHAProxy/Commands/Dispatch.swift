import CSocketShim
import Glibc

// The entry point: which command, then that command. Sources/Listener/main.swift only
// calls this.

public let version = "2.1.0"

/// Runs the program with the arguments after its name; returns the exit status.
public func runMain(_ arguments: [String]) -> Int32 {
    shim_setup_signals()
    let env = Environment(supervisorURL: environment("SUPERVISOR_SERVER_URL"),
                          username: environment("SUPERVISOR_USERNAME"),
                          password: environment("SUPERVISOR_PASSWORD"),
                          groupName: environment("SUPERVISOR_GROUP_NAME"),
                          processName: environment("SUPERVISOR_PROCESS_NAME"))
    switch arguments.first {
    case "wrap":
        return runWrap(Array(arguments.dropFirst()), environment: env)
    case "restart", "stop", "start":
        return runControl(ControlAction(rawValue: arguments[0])!, Array(arguments.dropFirst()), environment: env,
                          executable: CommandLine.arguments.first ?? "supervisor-haproxy")
    case "check":
        return runListen(parseCommandLine(Array(arguments.dropFirst()), environment: env, check: true))
    case "listen":
        return runListen(parseCommandLine(Array(arguments.dropFirst()), environment: env))
    default:
        return runListen(parseCommandLine(arguments, environment: env))
    }
}

private func runListen(_ parsed: ParsedCommandLine) -> Int32 {
    switch parsed {
    case .help:
        writeOut(1, help + "\n")
        return 0
    case .version:
        writeOut(1, "supervisor-haproxy \(version)\n")
        return 0
    case .invalid(let problem):
        return invalidArguments(problem, usage: usage)
    case .run(let options):
        let log = Logger(threshold: options.logLevel)
        for w in options.startupWarnings { log.log(.warning, w) }
        if options.check { return runCheck(options) }
        return Listener(options: options, log: log).run()
    }
}

/// Exit status 2 and a line naming what is wrong, before anything is started; `command` is
/// the subcommand whose help says more.
func invalidArguments(_ problem: String, usage: String, command: String? = nil) -> Int32 {
    let help = command.map { "supervisor-haproxy \($0) --help" } ?? "supervisor-haproxy --help"
    writeOut(2, "supervisor-haproxy: \(problem.escaped)\n\(usage)\nTry '\(help)' for more.\n")
    return 2
}

private func environment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// Writes a whole String to a descriptor (help, version, usage errors, check's report).
func writeOut(_ fd: Int32, _ text: String) {
    var t = text
    t.withUTF8 { _ = shim_write_all(fd, $0.baseAddress, $0.count, "output", nil, 0) }
}
