import Foundation
import Glibc
import Testing

// The readiness gate under load: backends that bind their port 6 s after they start (as an
// application server does while it loads), HAProxy with checks and without
// `option redispatch` (its default), 8 closed-loop clients. Each path that starts a program
// loses no request; each control, the same path with the gate off (`--ready-when running`,
// the original tool's behaviour), must lose some.

/// 6 s: longer than HAProxy's retries of a refused connect (3, a second apart) after
/// RUNNING (startsecs=1), so a request sent to the program before it binds fails; with 4 s,
/// one CI run of the control on 3.0 had every such request retried into the bind (8 hung,
/// none failed).
private let lateBinders = LoadStack.Backends(bindDelay: 6, checks: true, check: "inter 1s fall 2 rise 2", redispatch: false)
/// Without a check HAProxy retries a refused connect (3 times, a second apart) before it
/// answers 503: the program loads for longer than that, as a Zope or a JVM does.
private let lateBindersUnchecked = LoadStack.Backends(bindDelay: 8, checks: false, redispatch: false)
private let gateOff = ["--ready-when", "running"]

/// `supervisorctl start` of a stopped program, the listener beside it, under load.
private func startUnderLoad(_ stack: LoadStack) throws -> (ok: Int, failed: Int, detail: String) {
    try stack.start()
    stack.ctl("stop", "app1")
    #expect(waitUntil(10) { serverView(stack.adminSocket)["app/app1"]?.admin == "maint" })
    try stack.startLoad(clients: 8)
    usleep(500_000)
    #expect(stack.ctl("start", "app1").contains("app1: started"))
    #expect(waitUntil(30) { stack.allUp() }, "app1 back: \(serverView(stack.adminSocket))")
    // Until it serves (the servers without a check are "up" at once when ungated).
    #expect(waitUntil(30) { acceptsConnections(stack.appPorts[0][0]) })
    usleep(1_500_000)
    return try stack.stopLoad()
}

/// `supervisorctl restart` of each wrapped program in turn, under load.
private func restartWrappedUnderLoad(_ stack: LoadStack) throws -> (ok: Int, failed: Int, detail: String) {
    try stack.start()
    try stack.startLoad(clients: 8)
    usleep(500_000)
    for app in stack.apps {
        #expect(stack.ctl("restart", app).contains("\(app): started"))
        #expect(waitUntil(30) { stack.allUp() }, "\(app) back: \(serverView(stack.adminSocket))")
        usleep(1_000_000)
    }
    return try stack.stopLoad()
}

/// `restart --rolling app1 app2` under load.
private func rollUnderLoad(_ stack: LoadStack, _ options: [String]) throws -> (load: (ok: Int, failed: Int, detail: String), out: String, status: Int32) {
    try stack.start()
    try stack.startLoad(clients: 8)
    usleep(500_000)
    let r = try stack.control(["restart", "--rolling", "-c", stack.config()] + options + ["app1", "app2"])
    usleep(1_000_000)
    return (try stack.stopLoad(), r.out + r.err, r.status)
}

@Suite(.serialized, .timeLimit(.minutes(10))) struct StartUpsUnderLoad {
    @Test func theListenerLetsAStartedProgramInOnlyOnceItServes() throws {
        let stack = try LoadStack(.plain, backends: lateBinders)
        defer { stack.stop() }
        let r = try startUnderLoad(stack)
        print("start, listener with the gate: \(r.detail)")
        #expect(r.failed == 0, "\(r.detail)\n\(stack.listenerLog)")
        #expect(r.ok > 50, "the load ran: \(r.detail)")
        #expect(stack.listenerLog.contains("app/app1 at unix://\(stack.adminSocket): drain, health down until its check passes (readiness gate)"), "\(stack.listenerLog)")
        #expect(stack.listenerLog.contains("app/app1 serves at unix://\(stack.adminSocket): sending READY"), "\(stack.listenerLog)")
    }

    @Test func withoutTheGateTheSameStartLosesRequests() throws {
        let stack = try LoadStack(.plain, backends: lateBinders, listenerOptions: gateOff)
        defer { stack.stop() }
        let r = try startUnderLoad(stack)
        print("start, listener without the gate: \(r.detail)")
        #expect(r.failed > 0, "\(r.detail)")
    }

    @Test func withoutAHealthCheckTheAddressIsProbed() throws {
        let stack = try LoadStack(.plain, backends: lateBindersUnchecked)
        defer { stack.stop() }
        let r = try startUnderLoad(stack)
        print("start, no check, listener with the gate: \(r.detail)")
        #expect(r.failed == 0, "\(r.detail)\n\(stack.listenerLog)")
        #expect(r.ok > 50, "the load ran: \(r.detail)")
    }

    @Test func withoutAHealthCheckOrTheGateTheStartLosesRequests() throws {
        let stack = try LoadStack(.plain, backends: lateBindersUnchecked, listenerOptions: gateOff)
        defer { stack.stop() }
        let r = try startUnderLoad(stack)
        print("start, no check, without the gate: \(r.detail)")
        #expect(r.failed > 0, "\(r.detail)")
    }

    @Test func wrappedProgramsRestartedBySupervisorctlLoseNothing() throws {
        let stack = try LoadStack(.wrapped, backends: lateBinders)
        defer { stack.stop() }
        let r = try restartWrappedUnderLoad(stack)
        print("wrapped restarts with the gate: \(r.detail)")
        #expect(r.failed == 0, "\(r.detail)\n\(stack.dir.read("app1.err"))")
        #expect(r.ok > 50, "the load ran: \(r.detail)")
        #expect(stack.dir.read("app1.err").contains("RUNNING: app/app1 ready once it serves"), "\(stack.dir.read("app1.err"))")
    }

    @Test func wrappedProgramsWithoutTheGateLoseRequests() throws {
        let stack = try LoadStack(.wrapped, backends: lateBinders, listenerOptions: gateOff, wrapOptions: gateOff)
        defer { stack.stop() }
        let r = try restartWrappedUnderLoad(stack)
        print("wrapped restarts without the gate: \(r.detail)")
        #expect(r.failed > 0, "\(r.detail)")
    }

    @Test func aRollingRestartWaitsForEachToServe() throws {
        let stack = try LoadStack(.plain, backends: lateBinders)
        defer { stack.stop() }
        let r = try rollUnderLoad(stack, [])
        print("restart --rolling with the gate: \(r.load.detail)\n\(r.out)")
        #expect(r.status == 0, "\(r.out)")
        #expect(r.load.failed == 0, "\(r.load.detail)\n\(r.out)")
        #expect(r.load.ok > 50, "the load ran: \(r.load.detail)")
    }

    /// The control. Without the gate, whether requests meet a program that does not listen
    /// yet depends on whether HAProxy's first check after maint comes before them (one run
    /// in four here lost none): the load goes on through three rolls, and must lose requests.
    @Test func aRollingRestartWithoutTheGateLosesRequests() throws {
        let stack = try LoadStack(.plain, backends: lateBinders, listenerOptions: gateOff)
        defer { stack.stop() }
        try stack.start()
        try stack.startLoad(clients: 8)
        usleep(500_000)
        for _ in 0..<3 {
            let r = try stack.control(["restart", "--rolling", "-c", stack.config()] + gateOff + ["app1", "app2"])
            #expect(r.status == 0, "\(r.out)\(r.err)")
            usleep(1_000_000)
        }
        let load = try stack.stopLoad()
        print("restart --rolling without the gate, three rolls: \(load.detail)")
        #expect(load.failed > 0, "\(load.detail)")
    }
}

@Suite(.serialized, .timeLimit(.minutes(3))) struct ProgramsThatNeverServe {
    /// app2 runs but never listens: the roll halts there, app2 never enters rotation, and
    /// the listener says so once its bound has passed.
    @Test func neverEntersRotationAndTheRollHaltsThere() throws {
        let stack = try LoadStack(.plain, apps: ["app1", "app2"], backends: LoadStack.Backends(redispatch: false),
                                  listenerOptions: ["--ready-timeout", "2"])
        defer { stack.stop() }
        try stack.start()
        _ = FileManager.default.createFile(atPath: stack.brokenFlag("app2"), contents: nil)
        try stack.startLoad(clients: 4)
        let r = try stack.control(["restart", "--rolling", "--up-timeout", "5", "-c", stack.config(), "app1", "app2"])
        let load = try stack.stopLoad()
        #expect(r.status == 1, "\(r.out)\(r.err)")
        #expect(r.err.contains("app2 did not come back healthy within"), "\(r.err)")
        #expect(r.err.contains("left out of rotation"), "\(r.err)")
        let view = serverView(stack.adminSocket)["app/app2"]
        #expect(view?.admin == "drain" && view?.status.hasPrefix("DOWN") == true, "out of rotation: \(String(describing: view))")
        #expect(load.failed == 0, "\(load.detail)")
        #expect(waitUntil(10) { stack.listenerLog.contains("app/app2 at unix://\(stack.adminSocket): not serving 2 s after RUNNING (show stat: DOWN") },
                "\(stack.listenerLog)")
        usleep(1_000_000)
        #expect(serverView(stack.adminSocket)["app/app2"]?.admin == "drain", "still out")
    }
}

/// Samples HAProxy until stopped: the fewest servers UP and ready it saw in the backend.
private final class RotationSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var fewest = Int.max
    private var samples = 0
    /// What HAProxy showed at the sample with the fewest in rotation.
    private(set) var fewestView = ""
    private var stopped = false

    init(_ socket: String) {
        Thread.detachNewThread { [self] in
            while true {
                lock.lock()
                let done = stopped
                lock.unlock()
                if done { return }
                let view = serverView(socket)
                let serving = view.values.filter { $0.admin == "ready" && ($0.status.hasPrefix("UP") || $0.status == "no check") }.count
                lock.lock()
                if !view.isEmpty {
                    if serving < fewest { fewestView = "\(view)" }
                    fewest = min(fewest, serving)
                    samples += 1
                }
                lock.unlock()
                usleep(50_000)
            }
        }
    }

    func stop() -> (fewest: Int, samples: Int) {
        lock.lock()
        defer { lock.unlock() }
        stopped = true
        return (fewest, samples)
    }
}

@Suite(.serialized, .timeLimit(.minutes(5))) struct BatchedRolls {
    /// 20 processes, 5 at a time: four batches of five stopped and started together, and the
    /// backend always keeps servers in rotation.
    @Test func twentyProcessesFiveAtATime() throws {
        let apps = (1...20).map { "app\($0)" }
        let stack = try LoadStack(.plain, apps: apps)
        defer { stack.stop() }
        try stack.start()
        let sampler = RotationSampler(stack.adminSocket)
        let r = try stack.control(["restart", "--rolling", "--batch", "5", "-c", stack.config()] + apps)
        let seen = sampler.stop()
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let batches = r.out.split(separator: "\n").filter { $0.contains(" draining ") }
        #expect(batches.count == 4, "\(r.out)")
        for b in batches { #expect(b.components(separatedBy: ", ").count == 5, "\(b)") }
        #expect(seen.samples > 5 && seen.fewest >= 15 - 5, "fewest in rotation: \(seen.fewest) in \(seen.samples) samples")
        // The listener gates the same servers on the same RUNNING events: one whose entry
        // lands after the roll set it ready waits in drain for its check once more.
        #expect(waitUntil(20) { stack.allUp() }, "\(serverView(stack.adminSocket))")
    }

    /// Two servers and --batch 2: the batch ends before the backend's last server, so they
    /// go one at a time and one is always in rotation.
    @Test func aBatchNeverTakesABackendsLastServer() throws {
        let stack = try LoadStack(.plain, apps: ["app1", "app2"])
        defer { stack.stop() }
        try stack.start()
        let sampler = RotationSampler(stack.adminSocket)
        let r = try stack.control(["restart", "--rolling", "--batch", "2", "-c", stack.config(), "app1", "app2"])
        let seen = sampler.stop()
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let batches = r.out.split(separator: "\n").filter { $0.contains(" draining ") }
        #expect(batches.count == 2 && batches.allSatisfy { !$0.contains(",") }, "\(r.out)")
        #expect(seen.samples > 5 && seen.fewest >= 1, "fewest in rotation: \(seen.fewest) in \(seen.samples) samples: \(sampler.fewestView)\n\(r.out)\n\(stack.dir.read("listener.log"))")
    }

    /// Without --rolling every NAME is started together: supervisord spawns both before
    /// either is RUNNING (startsecs=1), so two programs cost one start-up.
    @Test func aPlainRestartStartsEveryProgramTogether() throws {
        let stack = try LoadStack(.plain, apps: ["app1", "app2"])
        defer { stack.stop() }
        try stack.start()
        let before = stack.dir.read("supervisord.log").count
        let r = try stack.control(["restart", "-c", stack.config(), "app1", "app2"])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let log = String(stack.dir.read("supervisord.log").dropFirst(before)).split(separator: "\n")
        let spawned = log.lastIndex { $0.contains("spawned: 'app2'") }
        let running = log.firstIndex { $0.contains("entered RUNNING state") }
        #expect(spawned != nil && running != nil && spawned! < running!, "\(log.joined(separator: "\n"))")
    }
}
