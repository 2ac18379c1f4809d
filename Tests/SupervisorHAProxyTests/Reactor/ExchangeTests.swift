import Foundation
import CSocketShim
import Glibc
import Testing
@testable import SupervisorHAProxy

/// An exchange as a reactor member, recording what it got.
private final class OneExchange: Pollable {
    let exchange: Exchange
    var outcome = Exchange.Outcome.inProgress
    var answer: [UInt8] = []
    init(_ endpoint: Endpoint, display: String) { exchange = Exchange(peer: Peer(display: display, endpoint: endpoint)) }
    var pollFD: Int32 { exchange.pollFD }
    var pollEvents: Int16 { exchange.pollEvents }
    var wakeAt: Int64 { exchange.wakeAt }
    func turn(revents: Int16, now: Int64) {
        outcome = exchange.turn(revents: revents, now: now) { answer += $0 }
    }
}

private func exchange(_ path: String, _ request: String, timeoutMs: Int = 1000) -> OneExchange {
    let r = Reactor()
    let e = OneExchange(.unix(path: path), display: "unix://" + path)
    r.add(e)
    let bytes = Array(request.utf8)
    bytes.withBytes { b in
        e.outcome = e.exchange.start(b, now: shim_now_ms(), timeoutMs: timeoutMs)
        r.run(until: { e.outcome != .inProgress })
    }
    return e
}

@Suite(.serialized, .timeLimit(.minutes(1))) struct Exchanges {
    @Test func aRequestAndItsWholeAnswer() throws {
        let dir = TempDir()
        let s = try StandIn(unixPath: dir.file("h.sock"), mode: .recordAsHAProxy)
        defer { s.stop() }
        let e = exchange(s.path, "show servers state\n")
        #expect(e.outcome == .finished)
        #expect(String(decoding: e.answer, as: UTF8.self).hasPrefix("1\n"))
        #expect(waitUntil(2) { String(decoding: s.received, as: UTF8.self) == "show servers state\n" })
    }

    @Test func aPeerThatNeverAnswersFailsAtTheDeadline() throws {
        let dir = TempDir()
        let s = try StandIn(unixPath: dir.file("h.sock"), mode: .hang)
        defer { s.stop() }
        let e = exchange(s.path, "show info\n", timeoutMs: 100)
        #expect(e.outcome == .failed)
        #expect(e.exchange.peer.errorText == "read unix://\(s.path): timed out")
        #expect(!e.exchange.inFlight && e.exchange.pollFD == -1, "nothing left open")
    }

    @Test func noSocketFailsAtOnceNamingTheCall() {
        let dir = TempDir()
        let e = exchange(dir.file("none.sock"), "show info\n")
        #expect(e.outcome == .failed)
        #expect(e.exchange.peer.errorText == "connect unix://\(dir.file("none.sock")): No such file or directory")
    }
}
