import Foundation
import CSocketShim
import Glibc
import Testing
@testable import SupervisorHAProxy

@Suite(.serialized, .timeLimit(.minutes(1))) struct SupervisorClients {
    @Test func callsARealSupervisord() throws {
        let fleet = try Fleet(backends: [], programs: "[program:p1]\ncommand=sleep 1000\n", listener: nil)
        try fleet.startSupervisord(running: 1)
        defer { fleet.stop() }
        let url = try SupervisorURL.parse("unix://" + fleet.supervisorSocket).get()
        let client = SupervisorClient(url: url, keys: ["name", "group", "statename"], timeoutMs: 2000)
        let r = Reactor()
        r.add(client)
        var seen: [String] = []
        var done: String?? = .none
        client.call("supervisor.getAllProcessInfo", now: shim_now_ms(), onStruct: { s in
            seen.append("\(String(bytes: s.value(1)!)):\(String(bytes: s.value(0)!)) \(String(bytes: s.value(2)!))")
        }, onDone: { done = .some($0) })
        r.run(until: { done != nil }, deadline: shim_now_ms() + 5000)
        #expect(done == .some(nil))
        #expect(seen == ["p1:p1 RUNNING"])
        done = .none
        client.call("supervisor.getProcessInfo", [.string("nope")], now: shim_now_ms(), onDone: { done = .some($0) })
        r.run(until: { done != nil }, deadline: shim_now_ms() + 5000)
        #expect(done == .some("supervisord answered a fault: 10 BAD_NAME: nope"))
    }

    @Test func garbageIsNotAnAnswer() throws {
        let dir = TempDir()
        let s = try StandIn(unixPath: dir.file("s.sock"), mode: .garbage)
        defer { s.stop() }
        let client = SupervisorClient(url: try SupervisorURL.parse("unix://" + s.path).get(), keys: ["name"], timeoutMs: 1000)
        let r = Reactor()
        r.add(client)
        var done: String?? = .none
        client.call("supervisor.getState", now: shim_now_ms(), onDone: { done = .some($0) })
        r.run(until: { done != nil }, deadline: shim_now_ms() + 5000)
        let failure = try #require(done ?? nil)
        #expect(failure.contains("supervisord"), "\(failure)")
    }
}
