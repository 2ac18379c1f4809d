// What `restart`, `stop` and `start` work on: the supervisord hosts (from --supervisor,
// $SUPERVISOR_SERVER_URL or supervisorctl's configuration), every process each runs and the
// stats sockets and mappings its configuration implies, and the NAMEs resolved into steps.

/// One supervisord and what it says.
final class ControlHost {
    let url: SupervisorURL
    let client: SupervisorClient
    var processes: [(group: String, name: String)] = []
    var sockets: [SocketSpec] = []
    var mappings: [Mapping] = []
    /// Per mapping: the sockets of the listener or wrap that declared it, and only those;
    /// and the agent ports that answer for it.
    var mappingSockets: [[SocketSpec]] = []
    var mappingAgents: [[Endpoint]] = []
    /// `group:name` of the processes that are wraps draining through the agent themselves.
    var drainsItself: Set<String> = []
    /// How many supervisor-haproxy listeners and wraps its configuration runs.
    var ownCommands = 0
    var table = MappingTable([])

    init(url: SupervisorURL, client: SupervisorClient) {
        self.url = url
        self.client = client
    }
}

/// One process of one host, and its servers: on each socket, the ones mapped there.
struct ControlStep {
    var host: Int
    var group: String
    var name: String
    var servers: [(socket: SocketSpec, targets: [Target])]
    /// Its servers as the agent ports answer for them; and whether it is a wrap that drains
    /// itself through them when supervisord stops it.
    var agentServers: [(agent: Endpoint, targets: [Target])] = []
    var drainsItself = false

    var display: String { group == name ? name : "\(group):\(name)" }
    var namespec: String { "\(group):\(name)" }
    var hasServers: Bool { !servers.isEmpty || !agentServers.isEmpty }

    /// Its servers on the socket named `text` (none when it has none there).
    func targets(on text: String) -> [Target] { servers.first { $0.socket.text == text }?.targets ?? [] }
}

extension ProcessControl {
    typealias Host = ControlHost
    typealias Step = ControlStep

    /// --supervisor, else $SUPERVISOR_SERVER_URL, else supervisorctl's configuration.
    func supervisorURLs() -> [SupervisorURL]? {
        if !options.supervisors.isEmpty { return options.supervisors }
        switch SupervisorURL.fromEnvironment(environment) {
        case .success(let url): return [url]
        case .failure(let e):
            fail("$SUPERVISOR_SERVER_URL: \(e.text)")
            return nil
        case nil: break
        }
        let searched = ClientConfig.searchPaths(executable: executable).joined(separator: ", ")
        guard let path = options.configFile ?? ClientConfig.find(executable: executable) else {
            fail("no supervisord to ask: give --supervisor URL or -c FILE (no supervisorctl configuration found: searched \(searched))")
            return nil
        }
        guard let config = ClientConfig.load(path) else {
            fail("cannot read supervisorctl's configuration \(path)")
            return nil
        }
        switch SupervisorURL.parse(config.serverURL, username: config.username, password: config.password) {
        case .success(let url):
            urlOrigin = options.configFile != nil ? "serverurl of -c \(path)"
                : "serverurl of \(path), the first supervisorctl configuration found (searched \(searched)); -c FILE names another"
            return [url]
        case .failure(let e):
            fail("\(path): serverurl: \(e.text)")
            return nil
        }
    }

    /// Every process of a host, and the sockets and mappings its configuration implies.
    func learn(_ h: Host) throws(Ended) -> Bool {
        if let failure = try call(h, "supervisor.getAllConfigInfo", onStruct: { [unowned h] s in
            guard let group = s.value(0), let name = s.value(1) else { return }
            let g = String(bytes: group), n = String(bytes: name)
            h.processes.append((g, n))
            guard let command = s.value(2), let found = discoverMappings(command: Array(command), group: g, name: n) else { return }
            h.ownCommands += 1
            if found.wrapsWithAgent { h.drainsItself.insert("\(g):\(n)") }
            for sock in found.sockets where !h.sockets.contains(where: { $0.text == sock.text }) { h.sockets.append(sock) }
            for m in found.mappings {
                // A wrap's server and a listener's mapping of it are one (the wrap has no address).
                if let k = h.mappings.firstIndex(where: { $0.program == m.program && $0.target == m.target }) {
                    for sock in found.sockets where !h.mappingSockets[k].contains(sock) { h.mappingSockets[k].append(sock) }
                    for a in found.agents where !h.mappingAgents[k].contains(a) { h.mappingAgents[k].append(a) }
                } else {
                    h.mappings.append(m)
                    h.mappingSockets.append(found.sockets)
                    h.mappingAgents.append(found.agents)
                }
            }
        }) {
            fail("supervisord at \(h.url.display): \(failure)\(urlOrigin.map { " (\($0))" } ?? "")")
            return false
        }
        if !options.sockets.isEmpty { h.sockets = options.sockets }
        if !options.mappings.isEmpty { h.mappings = options.mappings }
        // Given sockets or mappings: every mapping on every socket.
        if !options.sockets.isEmpty || !options.mappings.isEmpty {
            h.mappingSockets = h.mappings.map { _ in h.sockets }
            h.mappingAgents = h.mappings.map { _ in [] }
        }
        h.table = MappingTable(h.mappings)
        let agents = Set(h.mappingAgents.joined().map(\.display)).count
        say("supervisord at \(h.url.display): \(h.processes.count) process(es); \(h.mappings.count) mapping(s) on \(h.sockets.count) socket(s)\(agents > 0 ? " and \(agents) agent port(s)" : "")")
        return true
    }

    /// NAMEs as supervisorctl splits them: `name` is group name and process name,
    /// `group:process`, `group:*` every process of the group.
    func resolveNames() -> [Step]? {
        var steps: [Step] = []
        for n in options.names {
            let parts = n.bytes.split(separator: colon, maxSplits: 1, omittingEmptySubsequences: false).map { Array($0).string }
            let group = parts[0]
            let process: String? = parts.count == 1 ? parts[0] : (parts[1].isEmpty || parts[1] == "*" ? nil : parts[1])
            var found = false
            for (k, h) in hosts.enumerated() {
                for p in h.processes where p.group == group && (process == nil || p.name == process) {
                    found = true
                    var servers: [(socket: SocketSpec, targets: [Target])] = []
                    var agentServers: [(agent: Endpoint, targets: [Target])] = []
                    p.name.bytes.withBytes { name in
                        p.group.bytes.withBytes { g in
                            h.table.forEachMatch(process: name, group: g) { m in
                                let t = h.table.mappings[m].target
                                for sock in h.mappingSockets[m] {
                                    if let i = servers.firstIndex(where: { $0.socket.text == sock.text }) {
                                        if !servers[i].targets.contains(t) { servers[i].targets.append(t) }
                                    } else {
                                        servers.append((sock, [t]))
                                    }
                                }
                                for a in h.mappingAgents[m] {
                                    if let i = agentServers.firstIndex(where: { $0.agent == a }) {
                                        if !agentServers[i].targets.contains(t) { agentServers[i].targets.append(t) }
                                    } else {
                                        agentServers.append((a, [t]))
                                    }
                                }
                            }
                        }
                    }
                    let step = Step(host: k, group: p.group, name: p.name, servers: servers, agentServers: agentServers,
                                    drainsItself: h.drainsItself.contains("\(p.group):\(p.name)"))
                    if !steps.contains(where: { $0.host == k && $0.namespec == step.namespec }) { steps.append(step) }
                }
            }
            if !found {
                fail("no such process '\(n)' in \(hosts.map { $0.url.display }.joined(separator: ", "))")
                return nil
            }
        }
        let unmapped = steps.filter { !$0.hasServers }
        if !unmapped.isEmpty && !options.noHAProxy {
            let looked = hosts.map { "\($0.url.display) (\($0.ownCommands) supervisor-haproxy listener(s) and wrap(s) among \($0.processes.count) process(es))" }
            fail("no HAProxy server is mapped to \(unmapped.map(\.display).joined(separator: ", ")): looked at the command lines of \(looked.joined(separator: ", ")); not touching anything (--no-haproxy to go on without HAProxy, or --map PROGRAM:BACKEND/SERVER)")
            return nil
        }
        for s in unmapped {
            say("\(s.display): no HAProxy server is mapped to it (--no-haproxy); HAProxy will not be consulted")
        }
        // Reached only through the agent, and not a wrap: nothing can drain it before
        // supervisord's TERM (the agent port takes no orders; the listener drains on STOPPING).
        let undrainable = steps.filter { $0.servers.isEmpty && !$0.agentServers.isEmpty && !$0.drainsItself }
        if options.action != .start && !undrainable.isEmpty && !options.noHAProxy && !options.force {
            fail("\(undrainable.map(\.display).joined(separator: ", ")): HAProxy reaches \(undrainable.count == 1 ? "it" : "them") only through the agent, and \(undrainable.count == 1 ? "it is" : "they are") not wrapped, so nothing can drain \(undrainable.count == 1 ? "it" : "them") before supervisord's TERM; not touching anything (run the program under 'supervisor-haproxy wrap --agent ...', give the listener a stats socket, or --force to stop without a drain)")
            return nil
        }
        return steps
    }
}
