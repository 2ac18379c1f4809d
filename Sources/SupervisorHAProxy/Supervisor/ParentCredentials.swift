import Glibc

// A child of supervisord is given `SUPERVISOR_SERVER_URL` but never the credentials that
// server wants (docs/protocols.md, "supervisord's XML-RPC interface"). It finds them where
// supervisord read them: the file of supervisord's `-c`/`--configuration` (its command line
// in /proc, a relative path from its working folder), else the first of supervisord's default
// files, and there `username` and `password` of `[unix_http_server]` (a unix:// URL) or
// `[inet_http_server]` (http://).

enum ParentCredentials {
    enum Found: Equatable {
        /// "username:password".
        case credentials(String, from: String)
        /// That server asks for none.
        case notRequired
        /// Why they cannot be had, in words (never the password).
        case unavailable(String)
    }

    /// What the config of supervisord (process `pid`) gives for `url`.
    static func find(for url: SupervisorURL, supervisordPid pid: Int32) -> Found {
        // Not run by supervisord (a shell with the variable set): nothing to say.
        guard let (path, cwd) = configPath(ofProcess: pid) else { return .notRequired }
        guard let file = ConfigFile.load(path, cwd: cwd) else {
            return .unavailable("supervisord's config file \(path) cannot be read by this user")
        }
        let section: String
        switch url.endpoint {
        case .unix: section = "unix_http_server"
        case .tcp: section = "inet_http_server"
        }
        var problem: String?
        guard let user = file.value(section, "username", problem: &problem), !user.isEmpty else {
            return problem.map { .unavailable($0) } ?? .notRequired
        }
        let password = file.value(section, "password", problem: &problem) ?? ""
        if let problem { return .unavailable(problem) }
        if password.hasPrefix("{SHA}") {
            return .unavailable("\(file.path) keeps [\(section)] password as a {SHA} hash")
        }
        return .credentials(user + ":" + password, from: "\(file.path) [\(section)]")
    }

    /// supervisord's config file and working folder, from /proc/PID.
    static func configPath(ofProcess pid: Int32) -> (String, String?)? {
        guard let raw = readFile("/proc/\(pid)/cmdline", limit: 1 << 16) else { return nil }
        let argv = raw.split(separator: 0, omittingEmptySubsequences: false).map { Array($0).string }
        // `supervisord ...` or `python3 /usr/bin/supervisord ...`.
        guard let script = argv.firstIndex(where: { basename($0).hasPrefix("supervisord") }) else { return nil }
        let cwd = readLink("/proc/\(pid)/cwd")
        var i = script + 1
        while i < argv.count {
            let a = argv[i]
            if (a == "-c" || a == "--configuration"), i + 1 < argv.count { return (argv[i + 1], cwd) }
            if a.hasPrefix("--configuration=") { return (String(a.dropFirst("--configuration=".count)), cwd) }
            if a.hasPrefix("-c"), a.count > 2, !a.hasPrefix("--") { return (String(a.dropFirst(2)), cwd) }
            i += 1
        }
        for p in ClientConfig.searchPaths(executable: argv[script]) {
            let absolute = p.hasPrefix("/") ? p : (cwd ?? "") + "/" + p
            if access(absolute, F_OK) == 0 { return (absolute, cwd) }
        }
        return nil
    }

    private static func readLink(_ path: String) -> String? {
        var buf = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buf.withUnsafeMutableBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { readlink(path, $0, p.count - 1) }
        }
        return n > 0 ? Array(buf[..<n]).string : nil
    }
}

extension SupervisorURL {
    /// This URL with the credentials of supervisord's config when it has none and this
    /// process is supervisord's child; `found` says where they came from, `missing` why they
    /// cannot be had.
    func withParentCredentials(_ env: Environment, found: inout [String], missing: inout [String]) -> SupervisorURL {
        guard credentials == nil, let pid = env.supervisordPid else { return self }
        switch ParentCredentials.find(for: self, supervisordPid: pid) {
        case .notRequired:
            return self
        case .credentials(let c, let from):
            var url = self
            url.credentials = c
            found.append("credentials for supervisord at \(display) from \(from)")
            return url
        case .unavailable(let why):
            missing.append("no credentials for supervisord at \(display) (none in the URL, no $SUPERVISOR_USERNAME, and \(why)): if it asks for a password, every call is refused (401); set SUPERVISOR_USERNAME and SUPERVISOR_PASSWORD in this program's environment=")
            return self
        }
    }
}
