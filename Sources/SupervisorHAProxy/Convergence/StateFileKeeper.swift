/// HAProxy's `server-state-file` (`--state-file`), kept for one instance: rewritten whole
/// from each `show servers state` read (the raw answer, so it is always that version's own
/// format), and what happened to it said once per change of fortune.
final class StateFileKeeper {
    let file: ReplacedFile
    private let log: Logger
    private var failing = false

    init(path: String, log: Logger) {
        file = ReplacedFile(path: path)
        self.log = log
    }

    /// A read begins: a new version (nothing while the operator's removal is respected).
    func begin() { file.begin() }

    /// Bytes of the answer as they stream in.
    func write(_ bytes: ByteView) { file.write(bytes) }

    /// The read failed: the version under way is dropped.
    func abandon() { file.abandon() }

    /// The read is whole: the new version goes in place, and what that did is said.
    func keep(for peer: String) {
        guard !file.paused else { return }
        let ok = file.commit()
        if file.paused {
            log.log(.warning, "state file \(file.path) was removed since the listener wrote it: not written again until HAProxy at \(peer) is reloaded, so that reload starts from its configuration alone; kept again from then on")
            return
        }
        guard ok == failing else { return }
        failing = !ok
        if ok {
            log.log(.info, "state file \(file.path) written again")
        } else {
            log.log(.error, "state file: \(file.error): a reload of HAProxy at \(peer) starts from an older state")
        }
    }

    /// HAProxy was reloaded: a file the operator removed is kept again from this worker on.
    func reloaded() {
        guard file.paused else { return }
        file.resume()
        log.log(.info, "state file \(file.path) kept again from this worker's state")
    }
}
