/// What HAProxy counted for a server (or several, summed) in `show stat`: the requests that
/// reached it and how many of them failed, and how often its health check took it DOWN.
/// HAProxy's counters start at zero with each worker: a difference is only meaningful
/// between two reads of one worker (docs/protocols.md, "show stat").
struct ServerCounters: Equatable {
    /// HTTP: answers of every class (`hrsp_1xx` ... `hrsp_other`) plus `eresp` and `econ`;
    /// TCP: sessions (`stot`).
    var tried = 0
    /// `hrsp_5xx`, `eresp` (no or a cut response, the server aborting), `econ` (no connection).
    var serverErrors = 0, responseErrors = 0, connectErrors = 0
    /// `chkdown`: UP to DOWN by the health check.
    var checkDowns = 0

    var failed: Int { serverErrors + responseErrors + connectErrors }

    static func + (a: ServerCounters, b: ServerCounters) -> ServerCounters {
        ServerCounters(tried: a.tried + b.tried, serverErrors: a.serverErrors + b.serverErrors,
                       responseErrors: a.responseErrors + b.responseErrors, connectErrors: a.connectErrors + b.connectErrors,
                       checkDowns: a.checkDowns + b.checkDowns)
    }

    /// What was counted since `earlier`, nil when a counter went back (a new worker).
    func since(_ earlier: ServerCounters) -> ServerCounters? {
        let d = ServerCounters(tried: tried - earlier.tried, serverErrors: serverErrors - earlier.serverErrors,
                               responseErrors: responseErrors - earlier.responseErrors,
                               connectErrors: connectErrors - earlier.connectErrors, checkDowns: checkDowns - earlier.checkDowns)
        let all = [d.tried, d.serverErrors, d.responseErrors, d.connectErrors, d.checkDowns]
        return all.allSatisfy { $0 >= 0 } ? d : nil
    }

    /// "212 of 530 failed (40 %: 200 5xx, 12 response errors)"; "0 of 1,060".
    var words: String {
        guard failed > 0 else { return "0 of \(grouped(tried)) failed" }
        var parts: [String] = []
        if serverErrors > 0 { parts.append("\(grouped(serverErrors)) 5xx") }
        if responseErrors > 0 { parts.append("\(grouped(responseErrors)) response error(s)") }
        if connectErrors > 0 { parts.append("\(grouped(connectErrors)) connection error(s)") }
        return "\(grouped(failed)) of \(grouped(tried)) failed (\(percentText(failed, of: tried)): \(parts.joined(separator: ", ")))"
    }
}

/// 1060 -> "1,060".
func grouped(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}

/// "40 %", "0.4 %", "100 %" (of a non-zero whole; "-" of none).
func percentText(_ part: Int, of whole: Int) -> String {
    guard whole > 0 else { return "- %" }
    let tenths = (part * 1000 + whole / 2) / whole
    return tenths % 10 == 0 || tenths >= 100 ? "\((tenths + 5) / 10) %" : "\(tenths / 10).\(tenths % 10) %"
}

/// A ratio (0...1) as the operator wrote it: "2 %", "0.5 %".
func percentWords(_ ratio: Double) -> String {
    let thousandths = Int((ratio * 100_000).rounded())
    var text = "\(thousandths / 1000)"
    var fraction = thousandths % 1000
    if fraction > 0 {
        var digits = ""
        for _ in 0..<3 { digits.append(Character(UnicodeScalar(UInt8(48 + fraction / 100)))); fraction = fraction % 100 * 10 }
        while digits.last == "0" { digits.removeLast() }
        text += "." + digits
    }
    return text + " %"
}
