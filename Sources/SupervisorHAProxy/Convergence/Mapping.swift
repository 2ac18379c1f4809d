// Which supervisord program is which HAProxy server: `PROGRAM:BACKEND/SERVER[@ADDR:PORT]` as
// given on the command line, and the table that finds them in constant time.

/// `PROGRAM:BACKEND/SERVER[@ADDR:PORT]` as given on the command line.
struct Mapping: Equatable {
    /// The program as written, for log lines.
    var program: [UInt8]
    /// Set when PROGRAM is `group:process`; otherwise the process matches in any group.
    var group: [UInt8]?
    var process: [UInt8]
    var target: Target
    /// Where the program serves (`@ADDR:PORT`): probed before the agent calls it ready.
    var address: Endpoint?

    /// PROGRAM:BACKEND/SERVER, for messages.
    var text: String { "\(program.string):\(target.name)" }

    func matches(process name: ByteView, group groupName: ByteView?) -> Bool {
        guard process.withBytes({ name.equals($0) }) else { return false }
        guard let group else { return true }
        guard let groupName else { return false }
        return group.withBytes { groupName.equals($0) }
    }

    /// Parse rule: SERVER is what follows the last `/`; PROGRAM and BACKEND split at the
    /// last `:` before it. PROGRAM may itself be `group:process`. An `@` after the last `/`
    /// (never in an HAProxy name) begins the address the program serves on.
    static func parse(_ text: String) -> Result<Mapping, Problem> {
        func fail(_ reason: String) -> Result<Mapping, Problem> { .failure(mappingProblem(text, reason)) }
        let bytes: [UInt8], address: Endpoint?
        switch splitServerAddress(text.bytes) {
        case .success(let split): (bytes, address) = split
        case .failure(let p): return fail(p.text)
        }
        guard let s = bytes.lastIndex(of: slash) else { return fail("no '/' between BACKEND and SERVER") }
        guard let colonAt = bytes[..<s].lastIndex(of: colon) else { return fail("no ':' between PROGRAM and BACKEND") }
        let program = Array(bytes[..<colonAt])
        if program.isEmpty { return fail("PROGRAM is empty") }
        if program.count > 255 { return fail("PROGRAM longer than 255 bytes") }
        // These would split a token in supervisord's event payloads.
        if let b = program.first(where: { $0 <= 0x20 || $0 == 0x7f || $0 == UInt8(ascii: ";") || $0 == slash }) {
            return fail("PROGRAM contains \(describe(byte: b))")
        }
        let target: Target
        switch Target.validated(Array(bytes[(colonAt + 1)..<s]), Array(bytes[(s + 1)...]), text: text,
                                expected: "PROGRAM:BACKEND/SERVER") {
        case .success(let t): target = t
        case .failure(let e): return .failure(e)
        }
        var group: [UInt8]?
        var process = program
        if let c = program.firstIndex(of: colon) {
            group = Array(program[..<c])
            process = Array(program[(c + 1)...])
            if group!.isEmpty || process.isEmpty || process.contains(colon) {
                return fail("PROGRAM must be 'process' or 'group:process'")
            }
        }
        return .success(Mapping(program: program, group: group, process: process, target: target, address: address))
    }
}


/// `…/SERVER@ADDR:PORT` split at an `@` after the last `/` (never in an HAProxy name): the
/// text before it and the address; the text whole and nil without one.
func splitServerAddress(_ bytes: [UInt8]) -> Result<([UInt8], Endpoint?), Problem> {
    guard let at = bytes.lastIndex(of: UInt8(ascii: "@")), at > (bytes.lastIndex(of: slash) ?? bytes.count) else {
        return .success((bytes, nil))
    }
    switch addressOrReason("tcp://" + Array(bytes[(at + 1)...]).string) {
    case .success(let a): return .success((Array(bytes[..<at]), a))
    case .failure(let e): return .failure(Problem("the address after '@' is not ADDR:PORT: \(e.text)"))
    }
}

/// The mappings with their servers numbered (`targetOf[m]` is mapping m's server in
/// `targets`) and indexed, so that an event, a line of `show servers state` or a process of
/// supervisord's list is matched in constant time, however many there are.
struct MappingTable {
    let mappings: [Mapping]
    private(set) var targets: [Target] = []
    private(set) var targetOf: [Int] = []
    /// Target -> the index of its backend among the distinct backends.
    private(set) var backendOf: [Int] = []
    private(set) var backendCount = 0
    private var targetIndex: ByteTable
    private var backendIndex: ByteTable
    /// process -> first mapping without a group; group:process -> first with one.
    private var byProcess: ByteTable
    private var byGroupProcess: ByteTable
    /// The next mapping of the same key, or -1.
    private var nextSame: [Int]
    /// The first mapping of each target, and the next mapping of the same target (or -1).
    private var firstOfTarget: [Int] = []
    private var nextOfTarget: [Int]

    init(_ mappings: [Mapping]) {
        self.mappings = mappings
        targetIndex = ByteTable(expected: mappings.count)
        backendIndex = ByteTable(expected: mappings.count)
        byProcess = ByteTable(expected: mappings.count)
        byGroupProcess = ByteTable(expected: mappings.count)
        nextSame = Array(repeating: -1, count: mappings.count)
        nextOfTarget = Array(repeating: -1, count: mappings.count)
        var lastOfTarget: [Int] = []
        for (m, mapping) in mappings.enumerated() {
            let t = targetIndex.insert(mapping.target.backend, sep: slash, mapping.target.server, value: targets.count)
            if t == targets.count {
                targets.append(mapping.target)
                backendOf.append(backendIndex.insert(mapping.target.backend, value: backendCount))
                if backendOf[t] == backendCount { backendCount += 1 }
                firstOfTarget.append(m)
                lastOfTarget.append(m)
            } else {
                nextOfTarget[lastOfTarget[t]] = m
                lastOfTarget[t] = m
            }
            targetOf.append(t)
            let first = mapping.group.map { byGroupProcess.insert($0, sep: colon, mapping.process, value: m) }
                ?? byProcess.insert(mapping.process, value: m)
            if first != m {
                var last = first
                while nextSame[last] >= 0 { last = nextSame[last] }
                nextSame[last] = m
            }
        }
    }

    /// Calls `body` with the index of every mapping that names this process, in the order
    /// given on the command line within each kind (plain, then group-qualified).
    func forEachMatch(process: ByteView, group: ByteView?, _ body: (Int) -> Void) {
        var m = byProcess.find(process) ?? -1
        while m >= 0 {
            body(m)
            m = nextSame[m]
        }
        guard let group else { return }
        m = byGroupProcess.find(group, colon, process) ?? -1
        while m >= 0 {
            body(m)
            m = nextSame[m]
        }
    }

    /// The target a `show servers state` / `show stat` line names, if mapped.
    func target(backend: ByteView, server: ByteView) -> Int? {
        targetIndex.find(backend, slash, server)
    }

    /// The index of a backend among the mapped ones, if mapped.
    func backend(_ name: ByteView) -> Int? {
        backendIndex.find(name)
    }

    /// Every mapping of target t, for messages.
    func mappingsText(of t: Int) -> String {
        var texts: [String] = []
        forEachMapping(ofTarget: t) { texts.append(mappings[$0].text) }
        return texts.joined(separator: ", ")
    }

    /// Calls `body` with every mapping of target t, in command-line order.
    func forEachMapping(ofTarget t: Int, _ body: (Int) -> Void) {
        var m = firstOfTarget[t]
        while m >= 0 {
            body(m)
            m = nextOfTarget[m]
        }
    }
}
