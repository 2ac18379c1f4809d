import CSocketShim

// Level-triggered: the desired state of every mapped server, kept here, and each HAProxy
// made to match it. An event only changes the desired state; each instance sends it, retries
// with backoff until HAProxy takes it, and reads `show servers state` now and then to repair
// what HAProxy lost (restart, reload) or what a person changed by hand.

final class Convergence {
    let table: MappingTable
    let log: Logger
    let timing: Timing
    let dryRun: Bool
    let readyWhen: ReadyWhen
    let readyBoundMs: Int64
    unowned let reactor: Reactor
    private(set) var instances: [HAProxyInstance] = []
    /// What the agent ports answer (nil without `--agent`).
    let agent: AgentAnswers?
    /// nil: not known yet (no event, no sync); such a server is left alone.
    let desired: DesiredStates
    /// Set for a target when an event sets it while a sync with supervisord is under way:
    /// the event is newer than what the sync will report, so the sync leaves it alone.
    private var eventDuringSync: [Bool]

    init(table: MappingTable, sockets: [SocketSpec], timing: Timing, log: Logger, dryRun: Bool,
         readyWhen: ReadyWhen = .check, readyBoundMs: Int64 = 60_000, agent: Bool = false, agentPollers: [AddressRange] = [], stateFile: String? = nil, reactor: Reactor) {
        self.table = table
        self.readyWhen = readyWhen
        self.readyBoundMs = readyBoundMs
        self.reactor = reactor
        self.timing = timing
        self.log = log
        self.dryRun = dryRun
        let desired = DesiredStates(count: table.targets.count)
        self.desired = desired
        eventDuringSync = Array(repeating: false, count: table.targets.count)
        self.agent = agent ? AgentAnswers(table: table, readyWhen: readyWhen, boundMs: readyBoundMs, reactor: reactor, log: log, dryRun: dryRun,
                                          pollers: agentPollers, desired: desired) : nil
        instances = sockets.enumerated().map { i, s in
            HAProxyInstance(s, table: table, desired: desired, timing: timing, log: log, dryRun: dryRun, readyWhen: readyWhen,
                            readyBoundMs: readyBoundMs, reactor: reactor, stateFile: i == 0 ? stateFile : nil)
        }
        wrapAdmits = instances.map { _ in [] }
    }

    /// Records that `target` should be in `state` on every instance. `wrapsOwn`: the change
    /// is a start's (STARTING, RUNNING), which belongs to a `wrap` where one admits the
    /// target (`leaveAdmission`): nothing is sent there.
    func record(target: Int, state: AdminState, wrapsOwn: Bool = false) {
        let old = desired[target]
        desired[target] = state
        eventDuringSync[target] = true
        tell(target, from: old, to: state, wrapsOwn: wrapsOwn)
        agent?.changed(target, now: reactor.now)
    }

    /// Per instance, the targets whose admission belongs to a `wrap` on that instance's
    /// socket (`leaveAdmission`).
    private(set) var wrapAdmits: [Set<Int>] = []
    /// The targets whose wrap runs with `--notify` (ready once the program says READY=1).
    private(set) var wrapNotifies: Set<Int> = []

    /// t's start on instance i is its wrap's (maint from its start, ready through its own
    /// readiness gate, after READY=1 with `--notify`): at STARTING and RUNNING nothing is
    /// sent there. One gate per server: two (the listener's and the wrap's) would each force
    /// its health down when they saw the other's entry, and a resync between them would undo
    /// the wrap's.
    func leaveAdmission(instance i: Int, target t: Int, notify: Bool) {
        wrapAdmits[i].insert(t)
        if notify { wrapNotifies.insert(t) }
    }

    /// Whether every instance leaves t's admission to its wrap.
    func admissionLeft(_ t: Int) -> Bool {
        !instances.isEmpty && wrapAdmits.allSatisfy { $0.contains(t) }
    }

    private func tell(_ t: Int, from old: AdminState?, to state: AdminState, wrapsOwn: Bool) {
        for (k, i) in instances.enumerated() {
            if wrapsOwn && wrapAdmits[k].contains(t) {
                i.leave(t)
            } else {
                i.changed(t, from: old, to: state)
            }
        }
    }

    /// Whether every instance has nothing left it can send now, and every HAProxy that polls
    /// the agent has been told what it is to know.
    var settled: Bool { instances.allSatisfy(\.settled) && agent?.everyPollerTold(now: reactor.now) != false }

    /// A sync with supervisord begins: events from now on win over what it reports.
    func syncStarted() {
        for t in eventDuringSync.indices { eventDuringSync[t] = false }
    }

    /// What supervisord reported for a target; false when an event came meanwhile.
    @discardableResult
    func recordFromSync(target: Int, state: AdminState, wrapsOwn: Bool = false) -> Bool {
        guard !eventDuringSync[target] else { return false }
        if desired[target] != state {
            let old = desired[target]
            desired[target] = state
            tell(target, from: old, to: state, wrapsOwn: wrapsOwn)
            agent?.changed(target, now: reactor.now)
        }
        return true
    }
}
