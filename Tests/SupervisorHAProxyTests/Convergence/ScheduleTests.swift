import Testing
@testable import SupervisorHAProxy

// What is due when, without a socket.

@Suite struct Scheduling {
    @Test func theStartUpReadIsDueAtOnceThenEveryResync() {
        var s = Schedule(timing: Timing(timeoutMs: 2000, retryMaxMs: 30000, resyncMs: 30000, reloadCheckMs: 0))
        #expect(s.readDue(now: 1000) && s.wakeAt(hasPending: false) == 0)
        s.readDone(now: 1000)
        #expect(!s.readDue(now: 1000) && s.wakeAt(hasPending: false) == 31000)
        #expect(s.wakeAt(hasPending: true) == 0, "pending work is due at once")
        #expect(s.readDue(now: 31000))
        s.readNow()
        #expect(s.readDue(now: 1001))
    }

    @Test func retriesDoubleFromHalfASecondUpToTheMaximum() {
        var s = Schedule(timing: Timing(timeoutMs: 2000, retryMaxMs: 5000, resyncMs: 0, reloadCheckMs: 0))
        s.readDone(now: 0)
        #expect(s.wakeAt(hasPending: false) == Int64.max, "--resync 0: no periodic read")
        var waits: [Int] = []
        for k in 0..<6 { waits.append(s.failed(now: Int64(k * 10000))!) }
        #expect(waits == [500, 1000, 2000, 4000, 5000, 5000])
        #expect(s.wakeAt(hasPending: true) == 50000 + 5000, "after a failure, pending work waits for the retry")
        #expect(s.readDue(now: 0), "a retry starts with a read")
        #expect(s.succeeded() == 6 && s.failures == 0)
    }

    /// A retry begins with a read; once it went through, the retried command goes at once, and
    /// the back-off keeps counting until that command goes through.
    @Test func aReadAfterAFailureLetsTheRetriedCommandGoAndKeepsTheCount() {
        var s = Schedule(timing: Timing(timeoutMs: 2000, retryMaxMs: 30000, resyncMs: 0, reloadCheckMs: 0))
        s.readDone(now: 0)
        #expect(s.failed(now: 0) == 500)
        #expect(s.readDue(now: 500) && s.wakeAt(hasPending: true) == 500)
        s.readDone(now: 500)
        #expect(!s.readDue(now: 500) && s.wakeAt(hasPending: true) == 0, "the command follows its read at once")
        #expect(s.failed(now: 500) == 1000 && s.failures == 2, "the count went on")
        #expect(s.readDue(now: 1500))
    }

    @Test func retriesOffDropAndWaitForTheNextResync() {
        var s = Schedule(timing: Timing(timeoutMs: 2000, retryMaxMs: 0, resyncMs: 30000))
        #expect(s.failed(now: 100) == nil)
        #expect(s.failures == 0 && s.wakeAt(hasPending: false) == 30100, "not even show info before then")
    }

    @Test func showInfoComesRightAfterTheStartUpReadThenEverySecond() {
        var s = Schedule(timing: Timing())
        s.readDone(now: 1000)
        #expect(s.infoDue(now: 1000), "the first names the worker to watch")
        s.infoDone(now: 1000)
        #expect(!s.infoDue(now: 1999) && s.infoDue(now: 2000) && s.wakeAt(hasPending: false) == 2000)
        var off = Schedule(timing: Timing(timeoutMs: 2000, retryMaxMs: 30000, resyncMs: 30000, reloadCheckMs: 0))
        off.readDone(now: 1000)
        #expect(!off.infoDue(now: 1_000_000) && off.wakeAt(hasPending: false) == 31000)
    }

    @Test func backoffNeverOverflows() {
        var s = Schedule(timing: Timing(timeoutMs: 2000, retryMaxMs: 86_400_000, resyncMs: 0))
        var last = 0
        for _ in 0..<100 { last = s.failed(now: 0)! }
        #expect(last == 86_400_000)
    }
}
