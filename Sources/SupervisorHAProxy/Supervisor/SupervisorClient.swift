import CSocketShim

/// Calls on supervisord's XML-RPC interface, one at a time, as a member of the reactor:
/// the answer is read as it streams in and each struct handed to the caller, within
/// `--timeout`, while events go on being acknowledged.
final class SupervisorClient: Pollable {
    let url: SupervisorURL
    let exchange: Exchange
    private(set) var reader: XMLRPCReader
    private let timeoutMs: Int
    private var request: [UInt8] = []
    private var onStruct: (XMLRPCReader) -> Void = { _ in }
    /// nil on success, else the failure in words.
    private var onDone: (String?) -> Void = { _ in }

    init(url: SupervisorURL, keys: [StaticString], timeoutMs: Int, valueCapacity: Int = 4096) {
        self.url = url
        exchange = Exchange(peer: Peer(display: url.display, endpoint: url.endpoint))
        reader = XMLRPCReader(keys: keys, valueCapacity: valueCapacity)
        self.timeoutMs = timeoutMs
    }

    var busy: Bool { exchange.inFlight }

    /// How the last call failed: supervisord refused its credentials (401).
    var unauthorized: Bool { reader.unauthorized }
    /// How the last call failed: nothing listens at the URL (supervisord is gone). Not a
    /// permission error, a timeout or a lack of descriptors: those say nothing of it.
    var nobodyListens: Bool { exchange.nobodyListens }

    /// Starts a call; `onStruct` gets every struct of the answer as it arrives, `onDone` the
    /// outcome. A call already under way is abandoned.
    func call(_ method: String, _ params: [XMLRPC.Param] = [], now: Int64,
              onStruct: @escaping (XMLRPCReader) -> Void = { _ in }, onDone: @escaping (String?) -> Void) {
        request = XMLRPC.request(url, method: method, params: params)
        reader.reset()
        self.onStruct = onStruct
        self.onDone = onDone
        let outcome = request.withBytes { exchange.start($0, now: now, timeoutMs: timeoutMs) }
        if outcome == .failed { done(exchange.peer.errorText) }
    }

    var pollFD: Int32 { exchange.pollFD }
    var pollEvents: Int16 { exchange.pollEvents }
    var wakeAt: Int64 { exchange.wakeAt }

    func turn(revents: Int16, now: Int64) {
        let outcome = exchange.turn(revents: revents, now: now) { chunk in
            reader.feed(chunk, onStruct)
        }
        switch outcome {
        case .inProgress: return
        case .failed: done(exchange.peer.errorText)
        case .finished: done(failureText)
        }
    }

    private var failureText: String? {
        switch reader.failure {
        case .none: return nil
        case .status:
            return reader.status.isEmpty ? "empty answer from supervisord" : "supervisord answered '\(reader.status.text)'"
        case .fault:
            return "supervisord answered a fault: \(reader.faultCode) \(reader.faultString.text)"
        case .notXMLRPC:
            return "not an XML-RPC answer from supervisord"
        }
    }

    private func done(_ failure: String?) {
        let callback = onDone
        onDone = { _ in }
        onStruct = { _ in }
        callback(failure)
    }
}
