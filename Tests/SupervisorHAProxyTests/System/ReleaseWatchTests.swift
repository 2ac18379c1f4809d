import Foundation
import Glibc
import Testing

// `restart --rolling --healthy-for --max-errors` with the real programs: three app servers
// behind a real HAProxy (option httpchk GET /health) under a closed-loop client, a new
// release on disk, and the roll judged from HAProxy's own per-server counters. Each load
// starts once every server is UP and ready; "after" is a fresh load once the command ended:
// what users get from what the roll left.

private let apps = ["app1", "app2", "app3"]
private let quick = LoadStack.Backends(check: "inter 300 fall 2 rise 2", delay: 0.05)
private let watch = ["--healthy-for", "5", "--max-errors", "2%"]

private func pids(_ stack: LoadStack) -> [String?] { apps.map { stack.pid($0) } }

/// The roll of every app under load: the command's result, the load during it and after it.
private func deployUnderLoad(_ stack: LoadStack, _ release: String, _ options: [String])
    throws -> (r: (status: Int32, out: String, err: String), during: (ok: Int, failed: Int, detail: String),
               after: (ok: Int, failed: Int, detail: String), restarted: [Bool]) {
    try stack.start()
    let before = pids(stack)
    try stack.deploy(release)
    try stack.startLoad()
    let r = try stack.control(["restart", "--rolling", "-c", stack.config()] + options + apps)
    let during = try stack.stopLoad()
    let after = try stack.load(seconds: 3)
    let now = pids(stack)
    print("restart --rolling \(options.joined(separator: " ")) of a \(release) release: exit \(r.status); during: \(during.detail); after: \(after.detail)\n\(r.out)\(r.err)")
    return (r, during, after, zip(before, now).map { $0 != $1 })
}

@Suite(.serialized, .timeLimit(.minutes(10))) struct ReleaseWatch {
    @Test func aBrokenReleaseIsStoppedAtItsFirstBatch() throws {
        let stack = try LoadStack(.plain, apps: apps, backends: quick)
        defer { stack.stop() }
        let d = try deployUnderLoad(stack, "broken", watch)
        #expect(d.r.status == 1, "\(d.r.err)")
        #expect(d.restarted == [true, false, false], "only the first batch restarted")
        #expect(serverView(stack.adminSocket)["app/app1"]?.admin == "maint", "the failing batch is out of rotation")
        #expect(d.after.failed == 0 && d.after.ok > 50, "nothing fails once the command ended: \(d.after.detail)")
        #expect(d.r.err.contains("app1 failing: app/app1: "), "\(d.r.err)")
        #expect(d.r.err.contains("5xx) in ") && d.r.err.contains("; the rest of backend app: 0 of "), "HAProxy's counts: \(d.r.err)")
        #expect(d.r.err.contains("halted at app1; not touched: app2, app3"), "\(d.r.err)")
        #expect(d.r.out.contains("app1 taken out of rotation (drain, then maint"), "\(d.r.out)")
    }

    @Test func withoutTheWatchTheBrokenReleaseReachesEveryProcess() throws {
        let stack = try LoadStack(.plain, apps: apps, backends: quick)
        defer { stack.stop() }
        let d = try deployUnderLoad(stack, "broken", [])
        #expect(d.r.status == 0)
        #expect(d.restarted == [true, true, true])
        #expect(d.after.failed > 0, "the control must fail: \(d.after.detail)")
    }

    /// A good release, and one twice as slow but correct: latency is not an error.
    @Test(arguments: ["good", "slow"])
    func aCorrectReleaseGoesThroughWithNothingLost(_ release: String) throws {
        let stack = try LoadStack(.plain, apps: apps, backends: quick)
        defer { stack.stop() }
        let d = try deployUnderLoad(stack, release, watch)
        #expect(d.r.status == 0, "\(d.r.err)")
        #expect(d.restarted == [true, true, true])
        #expect(d.during.failed == 0 && d.after.failed == 0, "during: \(d.during.detail); after: \(d.after.detail)")
        #expect(d.r.out.components(separatedBy: " healthy: ").count == 4, "each batch judged healthy: \(d.r.out)")
    }

    @Test func aBackendFailingForEveryServerIsNotBlamedOnTheRelease() throws {
        let stack = try LoadStack(.plain, apps: apps, backends: quick)
        defer { stack.stop() }
        _ = FileManager.default.createFile(atPath: stack.outageFlag, contents: nil)
        let d = try deployUnderLoad(stack, "good", watch)
        #expect(d.r.status == 1)
        #expect(d.restarted == [true, false, false], "the roll stops")
        #expect(d.r.err.contains("failing for every server, not only the restarted one(s)"), "\(d.r.err)")
        #expect(d.r.err.contains("app1 left in rotation"), "\(d.r.err)")
        #expect(serverView(stack.adminSocket)["app/app1"]?.admin == "ready", "not taken out")
    }

    /// Every real request answered, but its health check fails a second in three: the
    /// counters show `chkdown` growing after it came UP.
    @Test func aBatchWhoseCheckFlapsIsFailing() throws {
        let stack = try LoadStack(.plain, apps: apps, backends: quick)
        defer { stack.stop() }
        let d = try deployUnderLoad(stack, "flapping", ["--healthy-for", "8", "--max-errors", "2%"])
        #expect(d.r.status == 1)
        #expect(d.restarted == [true, false, false])
        #expect(d.r.err.contains("its health check took it DOWN"), "\(d.r.err)")
        #expect(serverView(stack.adminSocket)["app/app1"]?.admin == "maint")
    }

    @Test func aReloadOfHAProxyDuringTheWatchStartsItAgain() throws {
        let stack = try LoadStack(.plain, apps: apps, backends: quick, masterWorker: true)
        defer { stack.stop() }
        try stack.start()
        try stack.startLoad()
        let out = stack.dir.file("restart.out")
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let restart = try Child(Paths.binary, ["restart", "--rolling", "--healthy-for", "4", "-c", stack.config(), "app1"],
                                environment: env, stdout: out, stderr: stack.dir.file("restart.err"))
        #expect(waitUntil(60) { stack.dir.read("restart.out").contains("watching app1 for 4.0 s") }, "\(stack.dir.read("restart.out"))")
        stack.haproxy?.signal(SIGUSR2)
        let status = restart.waitExit(60)
        _ = try stack.stopLoad()
        let said = stack.dir.read("restart.out") + stack.dir.read("restart.err")
        #expect(status == 0, "\(said)")
        #expect(said.contains("has a new worker (pid "), "\(said)")
        #expect(said.contains("its counters started again; the watch starts again"), "\(said)")
    }

    @Test func tooLittleTrafficHaltsAtTheDeadlineOrGoesOnWhenAccepted() throws {
        let stack = try LoadStack(.plain, apps: apps, backends: quick)
        defer { stack.stop() }
        try stack.start()
        let options = ["restart", "--rolling", "--healthy-for", "1", "--progress-deadline", "2", "-c", stack.config()]
        let halted = try stack.control(options + ["app1", "app2"])
        #expect(halted.status == 1)
        #expect(halted.out.contains("too little traffic to judge yet: 0 request(s)"), "\(halted.out)")
        #expect(halted.err.contains("too little traffic to judge within --progress-deadline (2.0 s)"), "\(halted.err)")
        #expect(halted.err.contains("not touched: app2"), "\(halted.err)")
        let accepted = try stack.control(options + ["--accept-unjudged", "app1", "app2"])
        #expect(accepted.status == 0, "\(accepted.err)")
        #expect(accepted.out.components(separatedBy: "going on, not judged (--accept-unjudged)").count == 3, "\(accepted.out)")
    }

    @Test func withoutAStatsSocketTheWatchIsRefused() throws {
        let stack = try LoadStack(.wrapped, apps: apps, backends: quick, path: .agent)
        defer { stack.stop() }
        try stack.start()
        let before = pids(stack)
        let r = try stack.control(["restart", "--rolling", "--max-errors", "2%", "-c", stack.config(), "app1"])
        #expect(r.status == 2)
        #expect(r.err.contains("app1 is reached only through the agent check, which has no counters"), "\(r.err)")
        #expect(pids(stack) == before, "nothing restarted")
    }
}
