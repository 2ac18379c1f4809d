import Testing
@testable import SupervisorHAProxy

@Suite struct Seconds {
    @Test func wholeAndFractionalSeconds() {
        #expect(parseSeconds("2", allowZero: false) == 2000)
        #expect(parseSeconds("0.5", allowZero: false) == 500)
        #expect(parseSeconds(".25", allowZero: false) == 250)
        #expect(parseSeconds("1.2345", allowZero: false) == 1234, "past milliseconds is cut")
        #expect(parseSeconds("86400", allowZero: false) == 86_400_000)
        #expect(parseSeconds("0", allowZero: true) == 0)
    }

    @Test func notSeconds() {
        for v in ["", "0", "-1", "1.", "1e3", "86401", "1,5", "abc", " 1", "1234567"] {
            #expect(parseSeconds(v, allowZero: false) == nil, "\(v)")
        }
        #expect(secondsText(1234) == "1.2 s")
    }
}
