import CSocketShim
import Glibc

shim_setup_signals()
let arguments = Array(CommandLine.arguments.dropFirst())
let supervisorURL = getenv("SUPERVISOR_SERVER_URL").map { String(cString: $0) }

switch parseCommandLine(arguments, supervisorURL: supervisorURL) {
case .help:
    writeOut(1, help + "\n")
    exit(0)
case .version:
    writeOut(1, "supervisor-haproxy \(version)\n")
    exit(0)
case .invalid(let problem):
    writeOut(2, "supervisor-haproxy: \(problem)\n\(usage)\nTry 'supervisor-haproxy --help' for more.\n")
    exit(2)
case .run(let options):
    if options.check { exit(runCheck(options)) }
    exit(EventLoop(options: options, log: Logger(threshold: options.logLevel)).run())
}
