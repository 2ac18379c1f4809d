// The executable: everything is in the SupervisorHAProxy library.
import SupervisorHAProxy

runMain(Array(CommandLine.arguments.dropFirst()))
