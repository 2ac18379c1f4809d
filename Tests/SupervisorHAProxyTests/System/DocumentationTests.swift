import Foundation
import Testing
@testable import SupervisorHAProxy

// --help, the man page and the README must agree: every option, the state table, the
// mapping rule.

private func file(_ name: String) throws -> String {
    try String(contentsOfFile: Paths.root + "/" + name, encoding: .utf8)
}

/// The operator's documentation: README.md and what it links in docs/ (the design, the
/// reference), without the development notes.
private func operatorDocs() throws -> String {
    try ["README.md", "docs/design.md", "docs/reference.md"].map(file).joined(separator: "\n")
}

@Suite struct Documentation {
    static func options(_ text: String) -> [String] {
        Array(Set(text.matches(of: #/--[a-z][a-z-]+/#).map { String($0.0) })).sorted()
    }

    /// Each command's help, and whether its parser takes an option (not "unknown option").
    static let commands: [(name: String, help: String, takes: (String) -> Bool)] = [
        ("listen", help, { o in parseListen([o]) != .invalid("unknown option '\(o)'") }),
        ("wrap", wrapHelp, { o in parseWrap([o, "--"]) != .invalid("unknown option '\(o)'") }),
        ("restart", controlHelp, { o in parseControl(.restart, [o]) != .invalid("unknown option '\(o)'") }),
    ]

    /// The version is said in one place (Dispatch.swift); every version the README and the man
    /// page name is that one.
    @Test func everyVersionNamedIsTheVersion() throws {
        for name in ["README.md", "man/supervisor-haproxy.1"] {
            let text = try file(name)
            let named = text.matches(of: #/(?:supervisor-haproxy[ =_-]+)([0-9]+\.[0-9]+\.[0-9]+)/#).map { String($0.1) }
            #expect(!named.isEmpty || name == "README.md", "\(name) names no version")
            for v in named { #expect(v == version, "\(name) names \(v), the version is \(version)") }
        }
    }

    @Test func everyOptionOfEveryCommandIsDocumentedEverywhere() throws {
        let man = try file("man/supervisor-haproxy.1").replacingOccurrences(of: "\\-", with: "-")
        let readme = try operatorDocs()
        var all = Set<String>()
        for c in Self.commands {
            let options = Self.options(c.help)
            #expect(options.count >= 6, "\(c.name): \(options)")
            for o in options {
                all.insert(o)
                #expect(man.contains(o), "man page lacks \(o)")
                #expect(readme.contains("`\(o)"), "README and docs/ lack \(o)")
                // --help and --version are everyone's; --rolling is named in the shared usage.
                if o != "--version" && !(c.name == "listen" && (o == "--rolling" || o == "--help")) {
                    #expect(c.takes(o), "\(c.name): \(o) documented but not accepted")
                }
            }
        }
        // And nothing documented that no command takes.
        for o in Set(readme.matches(of: #/`(--[a-z][a-z-]+)/#).map { String($0.1) }) {
            #expect(all.contains(o), "README or docs/ document \(o), which no --help does")
        }
        for o in Set(man.matches(of: #/(--[a-z][a-z-]+)/#).map { String($0.1) }) {
            #expect(all.contains(o), "the man page documents \(o), which no --help does")
        }
    }

    @Test func everyCommandIsDocumentedEverywhere() throws {
        let man = try file("man/supervisor-haproxy.1")
        let readme = try operatorDocs()
        for c in ["listen", "check", "wrap", "restart", "stop", "start"] {
            #expect(help.contains("\n  \(c) "), "--help lacks \(c)")
            #expect(man.contains(".B \(c)") || man.contains("\\fB\(c)\\fR"), "man page lacks \(c)")
            #expect(readme.contains("`\(c)`"), "README lacks \(c)")
        }
    }

    /// Prose as a reader sees it: the words, whatever the line breaks, the table cells and
    /// the markup (groff's font escapes, Markdown's code quotes and pipes).
    private func words(_ text: String) -> String {
        var t = text
        for markup in ["\\fI", "\\fR", "\\fB", "`", "|", "'"] { t = t.replacingOccurrences(of: markup, with: " ") }
        return t.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).joined(separator: " ")
    }

    @Test func theStateTableAndMappingRuleAgree() throws {
        let man = words(try file("man/supervisor-haproxy.1"))
        let readme = words(try file("docs/reference.md"))
        let helpText = words(help)
        for (state, word) in [("RUNNING", "ready"), ("STOPPING", "drain"), ("STARTING, BACKOFF, EXITED, STOPPED, FATAL, UNKNOWN", "maint")] {
            #expect(helpText.contains("\(state) -> \(word)"), "--help: \(state) -> \(word)")
            #expect(readme.contains("\(state) \(word)"), "README: \(state) \(word)")
            #expect(man.contains("\(state) \(word)"), "man page: \(state) \(word)")
        }
        let rule = "SERVER is what follows the last / ; PROGRAM and BACKEND split at the last : before it"
        for (name, text) in [("--help", helpText), ("README", readme), ("man page", man)] {
            #expect(text.replacingOccurrences(of: "/;", with: "/ ;").replacingOccurrences(of: ":", with: " : ")
                .split(separator: " ").joined(separator: " ").contains(rule.replacingOccurrences(of: ":", with: " : ").split(separator: " ").joined(separator: " ")),
                    "\(name) states the mapping rule")
        }
    }

    /// `agent-send "BACKEND/SERVER\n"` is shown as it is typed, not as a line break.
    @Test func theHelpShowsAgentSendAsTyped() {
        #expect(help.contains("agent-send\n    \"BACKEND/SERVER\\n\")") || help.contains("\"BACKEND/SERVER\\n\""), "\(help)")
        #expect(!help.contains("\"BACKEND/SERVER\n\""))
    }

    @Test func theManPageRendersCleanly() throws {
        let r = try run(which("groff"), ["-man", "-t", "-ww", "-z", Paths.root + "/man/supervisor-haproxy.1"])
        #expect(r.status == 0 && r.err.isEmpty, "\(r.err)")
    }

    /// An operator's README: at most 350 lines, the listener's whole block within the first
    /// 80, every docs/ file it links there.
    @Test func theReadmeIsShortAndStartsWithTheQuickStart() throws {
        let lines = try file("README.md").split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count <= 350, "README.md has \(lines.count) lines")
        let block = try #require(lines.firstIndex { $0.hasPrefix("[eventlistener:haproxy]") })
        #expect(lines[block...].prefix(5).contains { $0.hasPrefix("events = PROCESS_STATE") } && block + 4 < 80, "the eventlistener block ends by line 80")
        for link in try file("README.md").matches(of: #/\]\((docs/[a-z]+\.md)\)/#).map({ String($0.1) }) {
            #expect(FileManager.default.fileExists(atPath: Paths.root + "/" + link), "README links \(link)")
        }
    }

    @Test func readmeGivesTheTwoCommands() throws {
        let readme = try file("README.md")
        #expect(readme.contains("make demo") && readme.contains("make test"))
        let makefile = try file("Makefile")
        #expect(makefile.contains("\ndemo:") && makefile.contains("\ntest:"))
    }
}

@Suite(.timeLimit(.minutes(4))) struct Demo {
    /// `make demo` is the README's main command: it must run to the end, show HAProxy
    /// following every step, and end with the side-by-side table of a restart under load,
    /// where the tool's two ways lose nothing.
    @Test func theDemoRunsToTheEnd() throws {
        let r = try run("/bin/bash", [Paths.root + "/scripts/demo", Paths.binary], seconds: 200)
        let table = r.out.components(separatedBy: "== a restart under load, side by side").last ?? ""
        func failed(_ row: String) -> Int? {
            guard let line = table.split(separator: "\n").first(where: { $0.contains(row) }) else { return nil }
            let fields = line.split(separator: " ")
            return fields.count >= 3 ? Int(fields[fields.count - 2]) : nil
        }
        #expect(failed("listener as 1.x (ready at RUNNING)") != nil, "\(table)")
        #expect(failed("wrap + readiness gate") == 0, "\(table)")
        #expect(failed("supervisor-haproxy restart --rolling app1 app2") == 0, "\(table)")
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(!r.out.contains("did not show"), "\(r.out)")
        for line in ["Received PROCESS_STATE_EXITED (from RUNNING) for web2, sending MAINT for web/web2.",
                     "Received PROCESS_STATE_BACKOFF (from STARTING) for web2, sending MAINT for web/web2.",
                     "Received PROCESS_STATE_STOPPING (from RUNNING) for web1, sending DRAIN for static/web1.",
                     "start-up sync: supervisord reports 5 process(es)",
                     "web/web1 at unix://", "is maint, want ready: left alone, as somebody else set it",
                     "api:api_00 UP on every socket", "api:api_01 UP on every socket", "restarted 2 process(es)"] {
            #expect(r.out.contains(line), "\(line)\n\(r.out)")
        }
    }
}
