import Testing
@testable import SupervisorHAProxy

// The roll's batch planner against a scripted stats socket in the test process: a batch
// never takes a backend's last server UP and ready (unless --force). No supervisord, no
// HAProxy, no sleep.

private struct Planner {
    let dir = TempDir()
    let control: ProcessControl
    let peer: ScriptedPeer
    let steps: [ControlStep]

    /// app1... with `status` each in backend app, as `show stat` says.
    init(_ status: [String], force: Bool = false, batch: Int) throws {
        let names = status.indices.map { "app\($0 + 1)" }
        let socket = "unix://" + dir.file("scripted.sock")
        guard case .run(let options) = parseControl(.restart, ["--rolling", "--batch", "\(batch)", "--socket", socket]
                                                    + (force ? ["--force"] : []) + names.flatMap { ["--map", "\($0):app/\($0)"] } + names) else {
            throw TestFailure("options not taken")
        }
        control = ProcessControl(options: options, environment: Environment(), executable: "supervisor-haproxy")
        peer = ScriptedPeer(in: dir, reactor: control.reactor)
        peer.answer = { _, _ in statAnswer(zip(names, status).map { ("app", $0, 0, $1) }) }
        let spec = try socketSpec(socket).get()
        control.open(spec)
        steps = try names.map { ControlStep(host: 0, group: $0, name: $0, servers: [(spec, [try Target.parse("app/" + $0).get()])]) }
    }

    func next(size: Int) throws -> Result<[String], Problem> {
        try control.nextBatch(steps[...], size: size).map { $0.map(\.name) }
    }
}

@Suite struct RollPlanning {
    @Test func aBatchLeavesEachBackendAServerUp() throws {
        let p = try Planner(["UP", "UP"], batch: 2)
        #expect(try p.next(size: 2) == .success(["app1"]), "both would leave none: one at a time")
        let q = try Planner(["UP", "UP", "UP"], batch: 2)
        #expect(try q.next(size: 2) == .success(["app1", "app2"]))
    }

    @Test func theLastServerUpIsRefusedAndNamed() throws {
        let p = try Planner(["UP", "DOWN"], batch: 1)
        guard case .failure(let why) = try p.next(size: 1) else { Issue.record("app1 is the last one UP"); return }
        #expect(why.text.hasPrefix("app/app1 is the last server UP and ready in backend app on unix://"), "\(why.text)")
    }

    /// A server already out (DOWN, MAINT) costs its backend nothing.
    @Test func aServerAlreadyOutIsTakenFreely() throws {
        let p = try Planner(["MAINT", "UP"], batch: 1)
        #expect(try p.next(size: 1) == .success(["app1"]))
    }

    @Test func forceTakesTheBatchAsAsked() throws {
        let p = try Planner(["UP", "DOWN"], force: true, batch: 2)
        #expect(try p.next(size: 2) == .success(["app1", "app2"]))
        #expect(p.peer.requests.isEmpty, "nothing read")
    }
}
