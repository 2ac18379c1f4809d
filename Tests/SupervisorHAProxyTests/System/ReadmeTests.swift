import Foundation
import Glibc
import Testing
@testable import SupervisorHAProxy

// Every snippet in README.md, run as copied: only the paths and ports are changed to the
// test's own (a temp folder, free ports, this build). The quick start's HAProxy and
// supervisord blocks run for real, its commands and its log lines are checked against what
// the listener wrote; the zero-loss block and its deploy line run under load; the fleet's
// blocks run with a real HAProxy polling the agent; make targets are dry-run.

private struct Snippet {
    var language: String
    var text: String
}

/// The fenced blocks of README.md, in order.
private func snippets() throws -> [Snippet] {
    let readme = try String(contentsOfFile: Paths.root + "/README.md", encoding: .utf8)
    var out: [Snippet] = [], current: Snippet?
    for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("```") {
            if let c = current {
                out.append(c)
                current = nil
            } else {
                current = Snippet(language: String(line.dropFirst(3)), text: "")
            }
        } else if current != nil {
            current!.text += line + "\n"
        }
    }
    return out
}

/// The README's addresses and paths, mapped to the test's.
private final class Site {
    let dir = TempDir()
    let tens: Int
    let frontend = freePort()
    let agentPort = freePort()
    var haproxy: Child?
    var supervisord: Child?

    init() { tens = freeTens() }

    var socket: String { dir.file("admin.sock") }
    var config: String { dir.file("supervisord.conf") }
    var log: String { dir.read("listener.log") }

    func sub(_ text: String) -> String {
        var t = text
        for (from, to) in [("/run/haproxy/admin.sock", socket), ("/usr/local/bin/supervisor-haproxy", Paths.binary),
                           ("/var/log/supervisor/haproxy-listener.log", dir.file("listener.log")),
                           ("/etc/supervisor/supervisord.conf", config), ("800%(process_num)d", "\(tens / 10)%(process_num)d"),
                           ("8001", "\(tens + 1)"), ("8002", "\(tens + 2)"), ("8080", "\(frontend)"), ("9700", "\(agentPort)"),
                           ("10.0.0.21,10.0.0.22", "127.0.0.1"), ("10.0.0.5", "127.0.0.1")] {
            t = t.replacingOccurrences(of: from, with: to)
        }
        return t
    }

    /// HAProxy from README text (already complete, or the quick start's global, defaults
    /// and frontend before `backend`).
    func startHAProxy(_ text: String) throws {
        try (sub(text) + "\n").write(toFile: dir.file("haproxy.cfg"), atomically: true, encoding: .utf8)
        haproxy = try launchHAProxy(config: dir.file("haproxy.cfg"), socket: socket, stdout: dir.file("haproxy.log"), stderr: dir.file("haproxy.err"))
    }

    func startSupervisord(_ sections: String) throws {
        try (supervisordBase(dir: dir.path) + sub(sections)).write(toFile: config, atomically: true, encoding: .utf8)
        supervisord = try Child(Real.supervisord, ["-c", config], stdout: dir.file("supervisord.out"), stderr: dir.file("supervisord.err"))
    }

    func view() -> [String: (admin: String, status: String)] { serverView(socket) }

    func up(_ servers: [String]) -> Bool {
        let v = view()
        return servers.allSatisfy { v[$0]?.admin == "ready" && v[$0]?.status == "UP" }
    }

    /// A README command line, split as a shell would, run with the test's paths.
    func run(_ line: String) throws -> (status: Int32, out: String, err: String) {
        var words = commandWords(Array(sub(line).utf8))
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        switch words.first {
        case "supervisor-haproxy": words[0] = Paths.binary
        case "supervisorctl": words = [Real.supervisorctl, "-c", config] + words.dropFirst()
        default: break
        }
        return try SupervisorHAProxyTests.run(words[0], Array(words.dropFirst()), environment: env, seconds: 120)
    }

    deinit {
        supervisord?.stop()
        haproxy?.stop()
    }
}

/// A multiple of ten, B, with B+1 ... B+9 free: the README's ports 8001, 8002 and its
/// `800%(process_num)d` become B+1, B+2 and the same two.
private func freeTens() -> Int {
    // Twenty ports of this job's own range, none handed out again: a ten lies within.
    if let p = freePortBlock(20) { return (p / 10 + 1) * 10 }
    while true {
        let b = 20000 + 10 * Int.random(in: 0..<1000)
        if (1...9).allSatisfy({ freeToBind(b + $0) }) { return b }
    }
}

/// A README shell block's command lines, comments and blank lines dropped.
private func commands(_ s: Snippet) -> [String] {
    s.text.split(separator: "\n").map { String($0.split(separator: "#", maxSplits: 1)[0]).trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }
}

@Suite(.serialized, .timeLimit(.minutes(4))) struct ReadmeSnippets {
    /// The README's blocks, by kind and order: a new one must be run here too.
    @Test func everySnippetIsOneThisSuiteRuns() throws {
        #expect(try snippets().map(\.language) == ["haproxy", "ini", "sh", "", "sh", "ini", "sh", "ini", "haproxy", "sh"])
    }

    /// examples/quickstart/ holds the quick start's two blocks as files to copy: the same text.
    @Test func theQuickStartFilesAreTheReadmesBlocks() throws {
        let s = try snippets()
        for (name, block) in [("haproxy.cfg", s[0].text), ("supervisord.conf", s[1].text)] {
            let file = try String(contentsOfFile: Paths.root + "/examples/quickstart/" + name, encoding: .utf8)
            #expect(file.hasSuffix(block), "examples/quickstart/\(name) is not the README's block")
        }
    }

    @Test func theQuickStartRunsAsCopiedAndLogsWhatItSays() throws {
        let s = try snippets(), site = Site()
        try site.startHAProxy(s[0].text)
        try site.startSupervisord(s[1].text)
        #expect(waitUntil(20) { site.up(["web/web1", "web/web2"]) }, "\(site.view())\n\(site.log)")
        let lines = commands(s[2])
        #expect(lines.count == 3)
        let check = try site.run(lines[0])
        #expect(check.status == 0, "\(check.out)\(check.err)")
        _ = try site.run(lines[1])
        #expect(waitUntil(10) { site.view()["web/web1"]?.admin == "maint" })
        _ = try site.run(lines[2])
        #expect(waitUntil(15) { site.up(["web/web1"]) }, "\(site.view())")
        // The log block, line by line, as the listener wrote it (timestamps aside).
        for line in s[3].text.split(separator: "\n") {
            let said = site.sub(String(line.split(separator: " ", maxSplits: 1)[1]))
            #expect(waitUntil(5) { site.log.contains(said) }, "the README's line '\(said)' is not in the log:\n\(site.log)")
        }
    }

    /// The wrapped group and the listener, and the deploy line, under a closed-loop load:
    /// every batch judged healthy, nothing lost.
    @Test func theZeroLossSetupAndTheDeployRunAsCopied() throws {
        let s = try snippets(), site = Site()
        try site.startHAProxy(s[0].text)
        try site.startSupervisord(s[5].text)
        #expect(waitUntil(20) { site.up(["web/web1", "web/web2"]) }, "\(site.view())\n\(site.log)")
        let stop = site.dir.file("stop-load")
        let load = try Child("/usr/bin/python3", [Programs.client, "http://127.0.0.1:\(site.frontend)/", "4", stop, "90"],
                             stdout: site.dir.file("load.json"), stderr: site.dir.file("load.err"))
        let deploy = commands(s[6])
        #expect(deploy.count == 1)
        let r = try site.run(deploy[0])
        _ = FileManager.default.createFile(atPath: stop, contents: nil)
        #expect(load.waitExit(30) == 0)
        let counts = site.dir.read("load.json")
        print("the README's deploy under load: \(counts)\n\(r.out)\(r.err)")
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.components(separatedBy: " healthy: ").count == 3, "both batches judged: \(r.out)")
        #expect(counts.contains("\"failed\": 0,") && !counts.contains("\"ok\": 0,"), "\(counts)")
    }

    /// The listener as the fleet's agent and a real HAProxy polling it (no admin socket
    /// used for the states), then the README's `seen` line.
    @Test func theFleetSnippetsRunAsCopied() throws {
        let s = try snippets(), site = Site()
        let quick = s[0].text.components(separatedBy: "\nbackend web")[0] + "\n"
        try site.startHAProxy(quick + s[8].text)
        let programs = s[1].text.components(separatedBy: "[eventlistener:haproxy]")[0]
        try site.startSupervisord(programs + s[7].text)
        #expect(waitUntil(20) { site.up(["web/web1", "web/web2"]) }, "\(site.view())\n\(site.log)")
        // The README's inline `seen` line.
        let readme = try String(contentsOfFile: Paths.root + "/README.md", encoding: .utf8)
        let seen = try #require(readme.split(separator: "`").first { $0.hasPrefix("echo web/web1 seen | socat") }.map(String.init))
        let r = try SupervisorHAProxyTests.run("/bin/sh", ["-c", site.sub(seen)], seconds: 10)
        #expect(r.out == "ready 1/1\n", "\(r.out)\(r.err)")
        _ = supervisorctl(site.config, ["stop", "web1"])
        #expect(waitUntil(10) { site.view()["web/web1"]?.status == "MAINT" }, "the agent's maint: \(site.view())")
    }

    /// `make X` lines: each target exists (a dry run).
    @Test func theMakeLinesNameRealTargets() throws {
        let s = try snippets()
        for line in commands(s[4]) + commands(s[9]) {
            let words = line.split(separator: " ").map(String.init)
            #expect(words.first == "make")
            let r = try run(which("make"), ["-n", "-C", Paths.root, words[1]], seconds: 30)
            #expect(r.status == 0, "make -n \(words[1]): \(r.err)")
        }
    }
}
