// The executable: everything is in the SupervisorHAProxy library.
import Glibc
import SupervisorHAProxy

exit(runMain(Array(CommandLine.arguments.dropFirst())))
