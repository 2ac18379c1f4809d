import Foundation
import Testing
@testable import SupervisorHAProxy

// --help, the man page and the README must agree: every option, the state table, the
// mapping rule.

private func file(_ name: String) throws -> String {
    try String(contentsOfFile: Paths.root + "/" + name, encoding: .utf8)
}

@Suite struct Documentation {
    static var helpOptions: [String] {
        Array(Set(help.matches(of: #/--[a-z][a-z-]+/#).map { String($0.0) })).sorted()
    }

    @Test func everyOptionIsDocumentedEverywhere() throws {
        let options = Self.helpOptions
        #expect(options.count == 12, "\(options)")
        let man = try file("man/supervisor-haproxy.1").replacingOccurrences(of: "\\-", with: "-")
        let readme = try file("README.md")
        for o in options {
            #expect(man.contains(o), "man page lacks \(o)")
            #expect(readme.contains("`\(o)"), "README lacks \(o)")
            if o != "--help" && o != "--version" {
                #expect(parseCommandLine([o]) != .invalid("unknown option '\(o)'"), "\(o) documented but not accepted")
            }
        }
        // And nothing documented that the listener does not take.
        let operatorPart = readme.components(separatedBy: "## Development")[0]
        for o in Set(operatorPart.matches(of: #/`(--[a-z][a-z-]+)/#).map { String($0.1) }) {
            #expect(options.contains(o), "README documents \(o), which --help does not")
        }
    }

    @Test func theStateTableAndMappingRuleAgree() throws {
        let man = try file("man/supervisor-haproxy.1")
        let readme = try file("README.md")
        #expect(help.contains("RUNNING -> ready; STOPPING -> drain; STARTING, BACKOFF, EXITED,\nSTOPPED, FATAL, UNKNOWN -> maint"))
        #expect(readme.contains("| RUNNING | ready |") && readme.contains("| STOPPING | drain |")
            && readme.contains("| STARTING, BACKOFF, EXITED, STOPPED, FATAL, UNKNOWN | maint |"))
        #expect(man.contains("RUNNING\tready") && man.contains("STOPPING\tdrain") && man.contains("STARTING, BACKOFF, EXITED, STOPPED, FATAL, UNKNOWN\tmaint"))
        #expect(help.contains("SERVER is what follows the last '/'; PROGRAM and BACKEND split at the last"))
        #expect(readme.contains("SERVER is what follows the last `/`;\n  PROGRAM and BACKEND split at the last `:` before it"))
        #expect(man.contains("\\fISERVER\\fR is what follows the last\n\\fB/\\fR; \\fIPROGRAM\\fR and \\fIBACKEND\\fR split at the last \\fB:\\fR before it."))
    }

    @Test func theManPageRendersCleanly() throws {
        let r = try run(which("groff"), ["-man", "-t", "-ww", "-z", Paths.root + "/man/supervisor-haproxy.1"])
        #expect(r.status == 0 && r.err.isEmpty, "\(r.err)")
    }

    @Test func readmeGivesTheTwoCommands() throws {
        let readme = try file("README.md")
        #expect(readme.contains("make demo") && readme.contains("make test"))
        let makefile = try file("Makefile")
        #expect(makefile.contains("\ndemo:") && makefile.contains("\ntest:"))
    }
}

@Suite(.timeLimit(.minutes(2))) struct Demo {
    /// `make demo` is the README's main command: it must run to the end and show HAProxy
    /// following every step.
    @Test func theDemoRunsToTheEnd() throws {
        let r = try run("/bin/bash", [Paths.root + "/scripts/demo", Paths.binary], seconds: 100)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(!r.out.contains("did not show"), "\(r.out)")
        for line in ["Received PROCESS_STATE_EXITED (from RUNNING) for web2, sending MAINT for web/web2.",
                     "Received PROCESS_STATE_BACKOFF (from STARTING) for web2, sending MAINT for web/web2.",
                     "Received PROCESS_STATE_STOPPING (from RUNNING) for web1, sending DRAIN for static/web1.",
                     "start-up sync: supervisord reports 5 process(es)"] {
            #expect(r.out.contains(line), "\(line)\n\(r.out)")
        }
    }
}
