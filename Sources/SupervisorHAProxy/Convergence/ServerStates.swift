/// What one HAProxy knows of a mapped server, from its last `show servers state`.
enum Presence: Equatable {
    case unknown, present, missingServer, missingBackend
}

/// What one HAProxy's last whole `show servers state` showed of the mapped servers: for the
/// listener's resync and for `check`.
struct ServerStates {
    private(set) var presence: [Presence]
    /// srv_admin_state and srv_op_state from the last read; -1 when not seen.
    private(set) var adminBits: [Int]
    private(set) var opState: [Int]
    private var backendSeen: [Bool]

    init(_ table: MappingTable) {
        let n = table.targets.count
        presence = Array(repeating: .unknown, count: n)
        adminBits = Array(repeating: -1, count: n)
        opState = Array(repeating: -1, count: n)
        backendSeen = Array(repeating: false, count: table.backendCount)
    }

    /// A read begins: what the last one saw is forgotten.
    mutating func begin() {
        for t in adminBits.indices {
            adminBits[t] = -1
            opState[t] = -1
        }
        for b in backendSeen.indices { backendSeen[b] = false }
    }

    mutating func take(_ line: ServerStateLine, _ table: MappingTable) {
        if let b = table.backend(line.backend) { backendSeen[b] = true }
        if let t = table.target(backend: line.backend, server: line.server) {
            adminBits[t] = line.adminBits
            opState[t] = line.opState
        }
    }

    /// The read was whole: every target's presence, with `missing` told of each that has
    /// just gone missing (or was missing at the first read).
    mutating func conclude(_ table: MappingTable, missing: (Int, Presence) -> Void) {
        for t in table.targets.indices {
            let found: Presence = adminBits[t] >= 0 ? .present : backendSeen[table.backendOf[t]] ? .missingServer : .missingBackend
            if found != presence[t] && found != .present { missing(t, found) }
            presence[t] = found
        }
    }

    /// HAProxy said it has no such server.
    mutating func markMissing(_ t: Int) { presence[t] = .missingServer }

    /// The forced admin state of a present target.
    func admin(_ t: Int) -> AdminState { AdminState(adminBits: adminBits[t]) }
}
