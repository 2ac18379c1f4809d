import Testing
@testable import SupervisorHAProxy

// The resync rule without a socket: what is repaired, what is left alone, and when it is said.

@Suite struct ResyncRules {
    @Test func looserIsTightenedAndWhatHAProxyForgotIsRepaired() {
        var r = ResyncRule(count: 1)
        r.took(0, .maint)
        #expect(r.judge(0, actual: .ready, want: .maint) == .repair, "a reload put it back to ready")
        r.took(0, .ready)
        #expect(r.judge(0, actual: .ready, want: .ready) == .agrees)
        #expect(r.judge(0, actual: .drain, want: .maint) == .repair, "looser than wanted")
    }

    @Test func ourOwnOlderStateIsRepairedSomebodysIsLeftAloneAndSaidOnce() {
        var r = ResyncRule(count: 2)
        r.took(0, .maint)
        // Our `ready` was lost: HAProxy still shows our maint.
        #expect(r.judge(0, actual: .maint, want: .ready) == .repair)
        r.took(1, .ready)
        #expect(r.judge(1, actual: .maint, want: .ready) == .leaveAlone(say: true))
        #expect(r.judge(1, actual: .maint, want: .ready) == .leaveAlone(say: false))
        #expect(r.judge(1, actual: .drain, want: .ready) == .leaveAlone(say: true), "another state: said again")
        r.decided(1)
        #expect(r.judge(1, actual: .drain, want: .ready) == .leaveAlone(say: true), "after an event: said anew")
        #expect(r.judge(1, actual: .ready, want: .ready) == .agrees)
    }
}
