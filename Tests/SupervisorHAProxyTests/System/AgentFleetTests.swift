import Foundation
import Glibc
import Testing

// Load balancers that give the tool no admin socket: each HAProxy polls the listener's agent
// port (`agent-check`), from its own source address. The test reads every HAProxy's own
// admin socket to see what it shows; the listener and the wraps are never given one.

private func control(_ args: [String], seconds: Double = 120) throws -> (status: Int32, out: String, err: String) {
    var env = ProcessInfo.processInfo.environment
    env["SUPERVISOR_SERVER_URL"] = nil
    return try run(Paths.binary, args, environment: env, seconds: seconds)
}

/// What the listener's agent port answers to one line.
private func agentSays(_ stack: LoadStack, _ line: String) -> String {
    (try? run(which("socat"), ["-t", "2", "-", "TCP:127.0.0.1:\(stack.agentPorts[0])"], input: line + "\n", seconds: 5).out) ?? ""
}

/// Each balancer's admin state of one server.
private func adminOnEvery(_ stack: LoadStack, _ server: String) -> [String] {
    (0..<stack.balancers).map { adminStates(adminCommand(stack.adminSocket($0), "show servers state app"))[server] ?? "?" }
}

@Suite(.serialized, .timeLimit(.minutes(6))) struct AgentFleet {
    @Test func threeBalancersWithAgentChecksOnlyFollowStopStartAndCrash() throws {
        let inter = 500
        let stack = try LoadStack(.plain, balancers: 3, path: .agent, agentInterMs: inter)
        defer { stack.stop() }
        try stack.start()
        let listenerCommand = stack.dir.read("supervisord.conf").split(separator: "\n").first { $0.contains("--agent") } ?? ""
        #expect(!listenerCommand.contains("sock"), "the listener has no admin socket: \(listenerCommand)")
        let settle = useconds_t(2 * inter * 1000)

        #expect(stack.ctl("stop", "app1").contains("app1: stopped"))
        usleep(settle)
        #expect(adminOnEvery(stack, "app/app1") == ["maint", "maint", "maint"], "2 × agent-inter after the stop")
        #expect(adminOnEvery(stack, "app/app2") == ["ready", "ready", "ready"])

        #expect(stack.ctl("start", "app1").contains("app1: started"))
        // RUNNING; the agent probes its address (every 200 ms) before it says ready.
        usleep(settle + 300_000)
        #expect(adminOnEvery(stack, "app/app1") == ["ready", "ready", "ready"], "2 × agent-inter after it serves")

        // A crash: supervisord sees it exit (within its 1 s loop) and restarts it
        // (startsecs=1): maint meanwhile, from the moment the listener hears of it.
        let pid = try #require(stack.pid("app1").flatMap { Int32($0) })
        kill(pid, SIGKILL)
        let killed = Date()
        var heard: Double?, allMaint: Double?
        var samples: [String] = []
        while Date().timeIntervalSince(killed) < 4 && allMaint == nil {
            if heard == nil && !agentSays(stack, "app/app1 seen").hasPrefix("ready") { heard = Date().timeIntervalSince(killed) }
            let a = adminOnEvery(stack, "app/app1")
            samples.append(String(format: "%.3f ", Date().timeIntervalSince(killed)) + a.joined(separator: ","))
            if heard != nil && a == ["maint", "maint", "maint"] { allMaint = Date().timeIntervalSince(killed) }
            usleep(10_000)
        }
        let latency = zip(heard.map { [$0] } ?? [], allMaint.map { [$0] } ?? []).map { $1 - $0 }.first
        print("crash: heard by the listener \(heard.map { String(format: "%.0f ms", $0 * 1000) } ?? "never") after the kill; maint on every balancer \(latency.map { String(format: "%.0f ms", $0 * 1000) } ?? "never") after that")
        #expect(latency != nil && latency! <= Double(2 * inter) / 1000 + 0.1, "every balancer showed maint within 2 × agent-inter of the event: \(samples)\n\(stack.listenerLog)")
        #expect(waitUntil(15) { adminOnEvery(stack, "app/app1") == ["ready", "ready", "ready"] }, "back after the restart")

        let seen = agentSays(stack, "app/app1 seen")
        #expect(seen == "ready 3/3\n", "three HAProxy instances poll it, and all were told: '\(seen)'")
    }

    /// Push and pull together: the listener pushes to the first balancer's socket and answers
    /// both balancers' agent checks. A stop reaches the first at once and the other at its
    /// next poll; the pushed state and the agent's word agree, so neither undoes the other.
    @Test func pushToTheLocalBalancerAndPullForTheRest() throws {
        let stack = try LoadStack(.plain, balancers: 2, path: .both, agentInterMs: 500)
        defer { stack.stop() }
        try stack.start()
        #expect(stack.ctl("stop", "app1").contains("app1: stopped"))
        #expect(waitUntil(5) { adminOnEvery(stack, "app/app1") == ["maint", "maint"] }, "\(stack.listenerLog)")
        #expect(stack.listenerLog.contains("answering HAProxy's agent checks at tcp://127.0.0.1:\(stack.agentPorts[0])"))
        #expect(stack.ctl("start", "app1").contains("app1: started"))
        #expect(waitUntil(10) { stack.allUp() }, "\(stack.listenerLog)")
        usleep(1_200_000)
        #expect(adminOnEvery(stack, "app/app1") == ["ready", "ready"], "still ready after two agent intervals")
        #expect(!stack.listenerLog.contains("repairing"), "the agent and the push never disagreed: \(stack.listenerLog)")
    }

    /// `supervisorctl restart` of each wrapped program, then `restart --rolling`, under load
    /// on both balancers; the programs bind a second after they start.
    private func restartsUnderLoad(_ stack: LoadStack, rolling: Bool) throws -> (ok: Int, failed: Int, detail: String, out: String) {
        try stack.start()
        try stack.startLoad(clients: 4)
        usleep(500_000)
        for app in stack.apps {
            #expect(stack.ctl("restart", app).contains("\(app): started"))
            #expect(waitUntil(30) { stack.allUp() && adminOnEvery(stack, "app/\(app)").allSatisfy { $0 == "ready" } }, "\(app) back")
            usleep(1_500_000)
        }
        var out = ""
        if rolling {
            let r = try control(["restart", "--rolling", "-c", stack.config(), "app1", "app2"])
            out = r.out + r.err
            #expect(r.status == 0, "\(out)")
            usleep(1_000_000)
        }
        let load = try stack.stopLoad()
        return (load.ok, load.failed, load.detail, out)
    }

    @Test func restartsOfWrappedProgramsBehindTwoAgentBalancersLoseNoRequest() throws {
        var b = LoadStack.Backends()
        b.bindDelay = 1
        let stack = try LoadStack(.wrapped, backends: b, balancers: 2, path: .agent)
        defer { stack.stop() }
        let r = try restartsUnderLoad(stack, rolling: true)
        print("agent, wrapped, supervisorctl restart and restart --rolling behind 2 balancers: \(r.detail)\n\(r.out)")
        let wrapLog = stack.dir.read("app1.err") + stack.dir.read("app2.err")
        #expect(r.failed == 0, "\(r.detail)\n\(r.out)\n\(wrapLog)\n\(stack.listenerLog)")
        #expect(r.ok > 100, "the load ran: \(r.detail)")
        #expect(wrapLog.contains("every HAProxy polling the agent told drain: 2/2"), "\(wrapLog)")
        #expect(r.out.contains("ready through the agent") && r.out.contains("told: 2/2"), "\(r.out)")
        for line in wrapLog.split(separator: "\n") where line.contains("drained after") { print("  \(line)") }
    }

    @Test func withoutTheDrainTheSameRestartsFail() throws {
        var b = LoadStack.Backends()
        b.bindDelay = 1
        let stack = try LoadStack(.plain, backends: b, balancers: 2, path: .agent)
        defer { stack.stop() }
        let r = try restartsUnderLoad(stack, rolling: false)
        print("control: agent, not wrapped, supervisorctl restart behind 2 balancers: \(r.detail)")
        #expect(r.failed > 0, "the control must lose requests: \(r.detail)")
    }

    /// `supervisorctl start` of a stopped program that binds 8 s after RUNNING, under load on both
    /// balancers, with agent checks and no health check, no `option redispatch`: HAProxy
    /// retries a refused connect 3 times a second apart, then answers 503. (With a health
    /// check, whether HAProxy's first check after leaving maint comes before the first
    /// requests decides between none and thousands of failures: no control to rely on.)
    private func startUnderLoad(_ stack: LoadStack) throws -> (ok: Int, failed: Int, detail: String) {
        try stack.start()
        #expect(stack.ctl("stop", "app1").contains("app1: stopped"))
        #expect(waitUntil(10) { adminOnEvery(stack, "app/app1").allSatisfy { $0 == "maint" } })
        try stack.startLoad(clients: 8)
        usleep(500_000)
        #expect(stack.ctl("start", "app1").contains("app1: started"))
        #expect(waitUntil(30) { stack.allUp() }, "app1 back")
        usleep(1_500_000)
        return try stack.stopLoad()
    }

    @Test func aStartedProgramIsCalledReadyOnlyOnceItServes() throws {
        let b = LoadStack.Backends(bindDelay: 8, checks: false, redispatch: false)
        let stack = try LoadStack(.plain, backends: b, balancers: 2, path: .agent)
        defer { stack.stop() }
        let r = try startUnderLoad(stack)
        print("agent, start of a program binding 8 s late behind 2 balancers: \(r.detail)")
        #expect(r.failed == 0, "\(r.detail)\n\(stack.listenerLog)")
        #expect(stack.listenerLog.contains("app/app1 serves at tcp://127.0.0.1:"), "\(stack.listenerLog)")
    }

    @Test func withoutItsAddressTheAgentCallsItReadyAtRunningAndRequestsFail() throws {
        let b = LoadStack.Backends(bindDelay: 8, checks: false, redispatch: false)
        let stack = try LoadStack(.plain, backends: b, balancers: 2, path: .agent, agentAddresses: false)
        defer { stack.stop() }
        let r = try startUnderLoad(stack)
        print("control: agent without @ADDR:PORT, start of a program binding 8 s late: \(r.detail)")
        #expect(r.failed > 0, "the control must lose requests: \(r.detail)")
        #expect(stack.listenerLog.contains("no @ADDR:PORT in the mapping of app/app1, app/app2"), "\(stack.listenerLog)")
    }

    /// supervisord shuts down: the listener's last events never come, so it answers maint for
    /// every server until each polling HAProxy was told, then ends; an agent nobody answers
    /// changes nothing, so the balancers keep maint.
    @Test func aShutdownLeavesEveryBalancerInMaint() throws {
        let stack = try LoadStack(.plain, balancers: 2, path: .agent)
        defer { stack.stop() }
        try stack.start()
        #expect(stack.shutDownSupervisord() != nil)
        usleep(1_500_000)
        for app in stack.apps {
            #expect(adminOnEvery(stack, "app/\(app)") == ["maint", "maint"], "\(app) after the shutdown\n\(stack.listenerLog)")
        }
        #expect(stack.listenerLog.contains("every mapped server to maint before exiting"), "\(stack.listenerLog)")
    }

    @Test func restartRefusesAProgramNothingCanDrainThroughTheAgent() throws {
        let stack = try LoadStack(.plain, path: .agent)
        defer { stack.stop() }
        try stack.start()
        let r = try control(["restart", "-c", stack.config(), "app1"])
        #expect(r.status == 2, "\(r.out)\(r.err)")
        #expect(r.err.contains("only through the agent") && r.err.contains("not touching anything"), "\(r.err)")
        #expect(stack.status()["app1"] == "RUNNING", "untouched")
    }
}

/// A master-worker HAProxy reloaded (`kill -USR2`) again and again under load, with one
/// program stopped and no `option redispatch`: a new worker starts from its config, where
/// every server is ready, until something tells it otherwise. HAProxy's own first check of
/// the stopped server comes a share of `inter` into the worker's life (its checks are spread:
/// the second of two servers at half of it), with HAProxy's default `inter 2s`.
@Suite(.serialized, .timeLimit(.minutes(6))) struct ReloadsUnderLoad {
    /// `dump`: the load balancer's own reload hook first writes `show servers state` into
    /// its state file (HAProxy's documented way), as a fleet's balancers do.
    private func reloadsUnderLoad(_ stack: LoadStack, reloads: Int = 6, dump: Bool = false) throws -> (ok: Int, failed: Int, detail: String) {
        try stack.start()
        #expect(stack.ctl("stop", "app2").contains("app2: stopped"))
        #expect(waitUntil(10) { adminOnEvery(stack, "app/app2") == ["maint"] })
        usleep(300_000)
        try stack.startLoad(clients: 8)
        usleep(500_000)
        for _ in 0..<reloads {
            if dump, let file = stack.stateFile {
                try adminCommand(stack.adminSocket, "show servers state").write(toFile: file, atomically: true, encoding: .utf8)
            }
            stack.haproxy?.signal(SIGUSR2)
            usleep(1_200_000)
        }
        return try stack.stopLoad()
    }

    private var noRedispatch: LoadStack.Backends {
        var b = LoadStack.Backends()
        b.redispatch = false
        b.check = "inter 2s fall 2 rise 2"
        return b
    }

    @Test func withTheStateFileNoReloadRoutesToTheStoppedProgram() throws {
        let stack = try LoadStack(.plain, backends: noRedispatch, stateFile: true, masterWorker: true)
        defer { stack.stop() }
        let r = try reloadsUnderLoad(stack)
        print("reloads, push with --state-file: \(r.detail)")
        #expect(r.failed == 0, "\(r.detail)\n\(stack.listenerLog)")
        #expect(r.ok > 100, "the load ran: \(r.detail)")
        let file = stack.dir.read("server-state")
        #expect(file.hasPrefix("1\n# be_id") && file.contains(" app2 127.0.0.1 0 1 "), "HAProxy's own format, app2 in maint: \(file)")
    }

    @Test func withoutItReloadsRouteToTheStoppedProgram() throws {
        let stack = try LoadStack(.plain, backends: noRedispatch, masterWorker: true)
        defer { stack.stop() }
        let r = try reloadsUnderLoad(stack)
        print("control: reloads, push with show info (today's default): \(r.detail)")
        #expect(r.failed > 0, "the control must lose requests: \(r.detail)")
    }

    @Test func throughTheAgentAloneAReloadRoutesToItUntilTheFirstAgentCheck() throws {
        let stack = try LoadStack(.plain, backends: noRedispatch, path: .agent, masterWorker: true)
        defer { stack.stop() }
        let r = try reloadsUnderLoad(stack)
        print("measured: reloads, agent alone (agent-inter 500 ms): \(r.detail)")
        #expect(r.failed > 0, "a new worker sends requests until its first agent check: \(r.detail)")
    }

    @Test func throughTheAgentWithTheBalancersOwnStateDumpNoReloadRoutesToIt() throws {
        let stack = try LoadStack(.plain, backends: noRedispatch, path: .agent, stateFile: true, masterWorker: true)
        defer { stack.stop() }
        let r = try reloadsUnderLoad(stack, dump: true)
        print("reloads, agent with the balancer's state dump before each: \(r.detail)")
        #expect(r.failed == 0, "\(r.detail)\n\(stack.listenerLog)")
        #expect(r.ok > 100, "the load ran: \(r.detail)")
    }
}

/// Strangers on the agent port: clients that poll like a load balancer from other addresses.
/// One balancer polls from 127.0.0.1 every 2 s, without `option redispatch`; each wrapped
/// program binds 1 s late.
@Suite(.serialized, .timeLimit(.minutes(4))) struct AgentStrangers {
    private static let strangers = (2...9).map { "127.0.0.\($0)" }

    private func stack(_ listenerOptions: [String]) throws -> LoadStack {
        let b = LoadStack.Backends(bindDelay: 1, redispatch: false)
        return try LoadStack(.wrapped, backends: b, listenerOptions: listenerOptions, path: .agent, agentInterMs: 2000)
    }

    /// `supervisorctl restart app1` under load while strangers poll app/app1 from eight
    /// other addresses every 200 ms (started once the balancer polls).
    private func restartWithStrangers(_ stack: LoadStack) throws -> (failed: Int, ok: Int, detail: String, wrapLog: String, said: String) {
        try stack.start()
        try stack.startLoad(clients: 4)
        usleep(500_000)
        let pollers = try Child("/usr/bin/python3", [Programs.agentPollers, "\(stack.agentPorts[0])", "app/app1", "0.2", "12"] + AgentStrangers.strangers,
                                stdout: stack.dir.file("pollers.out"))
        defer { pollers.stop() }
        usleep(1_000_000)
        #expect(stack.ctl("restart", "app1").contains("app1: started"))
        #expect(waitUntil(30) { stack.allUp() }, "app1 back")
        usleep(1_500_000)
        let load = try stack.stopLoad()
        _ = pollers.waitExit(20)
        return (load.failed, load.ok, load.detail, stack.dir.read("app1.err"), stack.dir.read("pollers.out"))
    }

    /// Without --agent-pollers: the balancer, still polling, keeps its place; the strangers
    /// only add pollers that are told at their next poll. (On the previous version they
    /// pushed it out: `seen` said 8/8 and TERM reached app1 with HAProxy still sending.)
    @Test func strangersFromEightAddressesCannotCutADrainShort() throws {
        let stack = try stack([])
        defer { stack.stop() }
        let r = try restartWithStrangers(stack)
        print("strangers on the agent port, supervisorctl restart app1: \(r.detail)")
        for line in r.wrapLog.split(separator: "\n") where line.contains("drain") { print("  \(line)") }
        #expect(r.failed == 0 && r.ok > 50, "\(r.detail)\n\(r.wrapLog)\n\(stack.listenerLog)")
        #expect(r.wrapLog.contains("told drain: 8/8"), "the balancer and seven strangers: \(r.wrapLog)")
        #expect(stack.listenerLog.contains("more than 8 addresses poll app/app1"), "\(stack.listenerLog)")
    }

    /// With --agent-pollers naming the balancer: strangers are told nothing and count for
    /// nothing.
    @Test func withAgentPollersOnlyTheBalancerCounts() throws {
        let stack = try stack(["--agent-pollers", "127.0.0.1"])
        defer { stack.stop() }
        let r = try restartWithStrangers(stack)
        print("strangers, --agent-pollers 127.0.0.1, supervisorctl restart app1: \(r.detail)")
        #expect(r.failed == 0 && r.ok > 50, "\(r.detail)\n\(r.wrapLog)")
        #expect(r.wrapLog.contains("told drain: 1/1"), "\(r.wrapLog)")
        #expect(r.said.contains("unlisted-poller") && !r.said.contains("'ready") && !r.said.contains("drain"), "\(r.said)")
        #expect(stack.listenerLog.contains("127.0.0.2 polled 'app/app1' but is not in --agent-pollers"), "\(stack.listenerLog)")
    }

    /// A stranger that polls twice 6 s apart and stops looks like a balancer that stays current
    /// for three of its intervals and is never told: a rolling restart right after.
    private func rollAfterAStrangersTwoPolls(_ stack: LoadStack) throws -> (status: Int32, out: String, wrapLog: String) {
        try stack.start()
        let pollers = try Child("/usr/bin/python3", [Programs.agentPollers, "\(stack.agentPorts[0])", "app/app1", "0", "0", "127.0.0.2"],
                                stdout: stack.dir.file("pollers.out"))
        #expect(pollers.waitExit(15) == 0)
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let t0 = Date()
        let r = try run(Paths.binary, ["restart", "--rolling", "-c", stack.config(), "app1", "app2"], environment: env, seconds: 120)
        print("rolling restart right after a stranger's two polls: \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
        return (r.status, r.out + r.err, stack.dir.read("app1.err"))
    }

    /// With --agent-pollers it counts for nothing: the roll goes through without waiting.
    @Test func aStrangerThatStopsPollingCannotBlockADeploy() throws {
        let stack = try stack(["--agent-pollers", "127.0.0.1"])
        defer { stack.stop() }
        let r = try rollAfterAStrangersTwoPolls(stack)
        #expect(r.status == 0, "\(r.out)")
        #expect(!r.wrapLog.contains("drain timeout"), "\(r.wrapLog)")
        #expect(r.out.contains("told: 1/1"), "\(r.out)")
    }

    /// The control, without --agent-pollers: the stranger counts as a balancer that was never
    /// told, and app1's wrap waits out its whole drain timeout (why the README says to name
    /// the balancers).
    @Test func withoutAgentPollersTheSameStrangerHoldsADrain() throws {
        let stack = try stack([])
        defer { stack.stop() }
        let r = try rollAfterAStrangersTwoPolls(stack)
        #expect(r.wrapLog.contains("drain timeout") && r.wrapLog.contains("told 1 of 2"), "\(r.wrapLog)")
    }
}

/// A listener restarted while HAProxy's `agent-inter` (15 s) is longer than the 10 s the
/// previous version gave itself to learn who polls: 11 s after the restart, before HAProxy's
/// next poll, `supervisorctl restart app1` of a wrapped program under load. The wrap must
/// wait for HAProxy's poll (`seen` says 0/1, not 0/0) before TERM reaches the program.
@Suite(.serialized, .timeLimit(.minutes(3))) struct AgentYoungListener {
    @Test func aRestartedListenerNeverSaysEveryBalancerWasToldOfNobody() throws {
        let b = LoadStack.Backends(redispatch: false)
        let stack = try LoadStack(.wrapped, backends: b, path: .agent, agentInterMs: 15_000)
        defer { stack.stop() }
        try stack.start()
        let port = stack.agentPorts[0]
        func seen() -> String {
            (try? run(which("socat"), ["-t", "2", "-", "TCP:127.0.0.1:\(port)"], input: "app/app1 seen\n", seconds: 5).out) ?? ""
        }
        // A new listener counts HAProxy from its first poll on: restart it, wait for that
        // poll, and restart it again right then, so that HAProxy's next poll is ~15 s away.
        #expect(stack.ctl("restart", "haproxy").contains("haproxy: started"))
        #expect(waitUntil(20) { seen().hasSuffix(" 1/1\n") }, "HAProxy polled the new listener: \(seen())")
        #expect(stack.ctl("restart", "haproxy").contains("haproxy: started"))
        let restarted = Date()
        #expect(waitUntil(5) { seen().hasPrefix("ready 0/1") }, "a young listener: \(seen())")
        try stack.startLoad(clients: 4)
        while Date().timeIntervalSince(restarted) < 11 { usleep(100_000) }
        let said = seen()
        #expect(said == "ready 0/1\n", "no poller known 11 s after the restart: one unseen, never 0/0 (\(said))")
        #expect(stack.ctl("restart", "app1").contains("app1: started"))
        #expect(waitUntil(30) { stack.allUp() })
        usleep(1_000_000)
        let load = try stack.stopLoad()
        print("restart of a wrapped program 11 s after a listener restart, agent-inter 15 s: \(load.detail)")
        let wrapLog = stack.dir.read("app1.err")
        #expect(load.failed == 0 && load.ok > 20, "\(load.detail)\n\(wrapLog)")
        #expect(wrapLog.contains("every HAProxy polling the agent told drain: 1/1"), "the wrap waited for HAProxy's poll: \(wrapLog)")
    }
}
