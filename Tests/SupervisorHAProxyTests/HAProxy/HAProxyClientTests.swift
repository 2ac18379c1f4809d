import Foundation
import CSocketShim
import Glibc
import Testing
@testable import SupervisorHAProxy

/// What a user of the client heard.
private final class Heard: HAProxyAnswers {
    var states: [String] = []
    var stats: [String] = []
    var ended: (HAProxyClient.Command, Bool)?
    func serverState(_ line: ServerStateLine) {
        states.append("\(String(bytes: line.backend))/\(String(bytes: line.server)) \(line.adminBits)")
    }
    func stat(_ line: StatLine) {
        stats.append("\(String(bytes: line.backend))/\(String(bytes: line.server)) \(line.sessions) \(line.queued) \(String(bytes: line.status))")
    }
    func finished(_ client: HAProxyClient, _ command: HAProxyClient.Command, ok: Bool, now: Int64) { ended = (command, ok) }
}

/// A real HAProxy with backend web (web1, web2: no checks) and a client of its unix socket.
private func clientOfRealHAProxy() throws -> (Fleet, Reactor, HAProxyClient) {
    let fleet = try Fleet(backends: [("web", ["web1", "web2"])], programs: "", listener: nil)
    try fleet.startHAProxy()
    let r = Reactor()
    let c = HAProxyClient(SocketSpec(text: "unix://" + fleet.adminSocket, endpoint: .unix(path: fleet.adminSocket)), timeoutMs: 2000)
    r.add(c)
    return (fleet, r, c)
}

private func wait(_ r: Reactor, _ h: Heard) {
    r.run(until: { h.ended != nil }, deadline: shim_now_ms() + 5000)
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct HAProxyClients {
    @Test func setThenReadBackEveryAnswer() throws {
        let (fleet, r, c) = try clientOfRealHAProxy()
        defer { fleet.stop() }
        let h = Heard()
        let web1 = Target(backend: Array("web".utf8), server: Array("web1".utf8))
        let none = Target(backend: Array("web".utf8), server: Array("nope".utf8))
        let taken = c.set(now: shim_now_ms(), for: h) { add in _ = add(web1, .state(.maint)) && add(none, .state(.drain)) }
        #expect(taken == 2)
        wait(r, h)
        #expect(h.ended?.0 == .set && h.ended?.1 == true, "\(c.peer.errorText)")
        var answers: [String] = []
        c.forEachAnswer { _, body in answers.append(String(bytes: body)) }
        #expect(answers == ["", "No such server."])
        h.ended = nil
        c.showServersState(now: shim_now_ms(), for: h)
        wait(r, h)
        #expect(h.ended?.1 == true && h.states.contains("web/web1 1") && h.states.contains("web/web2 0"), "\(h.states)")
    }

    /// `show stat` is read by its header's names, on whatever HAProxy runs here.
    @Test func showStatFindsItsFieldsByName() throws {
        let (fleet, r, c) = try clientOfRealHAProxy()
        defer { fleet.stop() }
        let header = adminCommand(fleet.adminSocket, "show stat").split(separator: "\n").first.map(String.init) ?? ""
        let names = header.dropFirst(2).split(separator: ",", omittingEmptySubsequences: false)
        #expect(names.firstIndex(of: "status") == 17 && names.count > 40, "\(header)")
        let columns = try #require(Array(header.utf8).withBytes { StatLine.columns(firstLine: $0) })
        #expect(columns.pxname == 0 && columns.svname == 1 && columns.qcur == 2 && columns.scur == 4 && columns.status == 17)
        _ = adminCommand(fleet.adminSocket, "set server web/web2 state maint")
        let h = Heard()
        c.showStat(backends: [Array("web".utf8)], now: shim_now_ms(), for: h)
        wait(r, h)
        #expect(h.ended?.1 == true, "\(c.peer.errorText)")
        #expect(h.stats == ["web/web1 0 0 no check", "web/web2 0 0 MAINT"], "\(h.stats)")
    }

    @Test func aHeaderWithoutTheFieldsIsNotAShowStatAnswer() {
        #expect(Array("# pxname,svname,scur,status".utf8).withBytes { StatLine.columns(firstLine: $0) } == nil, "no qcur")
        let moved = Array("# svname,pxname,x,status,scur,qcur".utf8).withBytes { StatLine.columns(firstLine: $0) }
        #expect(moved?.pxname == 1 && moved?.svname == 0 && moved?.status == 3 && moved?.scur == 4 && moved?.qcur == 5)
    }

    @Test func showInfoNamesTheWorker() throws {
        let (fleet, r, c) = try clientOfRealHAProxy()
        defer { fleet.stop() }
        let h = Heard()
        c.showInfo(now: shim_now_ms(), for: h)
        wait(r, h)
        #expect(h.ended?.1 == true && c.info.pid == Int(fleet.haproxy!.pid) && (c.info.startTime ?? 0) > 0)
    }

    /// The one drain: idle servers (no session) and a server in maint end it at once.
    @Test func aDrainOfIdleServersEndsAtOnce() throws {
        let (fleet, r, c) = try clientOfRealHAProxy()
        defer { fleet.stop() }
        _ = adminCommand(fleet.adminSocket, "set server web/web2 state maint")
        let g = ServerGroup(client: c, targets: [Target(backend: Array("web".utf8), server: Array("web1".utf8)),
                                                 Target(backend: Array("web".utf8), server: Array("web2".utf8))])
        let d = Drain([g], reactor: r, pollEveryMs: 100)
        var firstCount: Int?
        d.onFirstCount = { firstCount = $0 }
        let members = r.memberCount
        let now = shim_now_ms()
        d.start(deadline: now + 10_000, now: now)
        r.run(until: { d.finished }, deadline: now + 10_000)
        #expect(d.finished && !d.timedOut && d.sessionsLeft == 0 && firstCount == 0)
        #expect(!d.setFailed.contains(true) && !d.readFailed.contains(true))
        #expect(fleet.states()["web/web1"] == "drain" && fleet.states()["web/web2"] == "drain")
        r.run(until: { true })
        #expect(r.memberCount == members, "the drain's timer left the reactor")
    }

    @Test func aDrainThatCannotSetSaysWhere() throws {
        let dir = TempDir()
        let r = Reactor()
        let path = dir.file("none.sock")
        let c = HAProxyClient(SocketSpec(text: "unix://" + path, endpoint: .unix(path: path)), timeoutMs: 500)
        r.add(c)
        let g = ServerGroup(client: c, targets: [Target(backend: Array("web".utf8), server: Array("web1".utf8))])
        let d = Drain([g], reactor: r, pollEveryMs: 100)
        let now = shim_now_ms()
        d.start(deadline: now + 5000, now: now)
        r.run(until: { d.finished }, deadline: now + 5000)
        #expect(d.finished && d.setFailed == [true] && !d.timedOut)
        #expect(c.peer.errorText == "connect unix://\(path): No such file or directory")
    }
}
