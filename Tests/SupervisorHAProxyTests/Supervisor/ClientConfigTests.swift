import Foundation
import Glibc
import Testing
@testable import SupervisorHAProxy

@Suite struct ClientConfigs {
    @Test func readsTheSupervisorctlSectionWithHereAndEnvironment() throws {
        let dir = TempDir()
        setenv("SH_TEST_USER", "operator", 1)
        try """
            [unix_http_server]
            file=/ignored.sock
            ; a comment
            [supervisorctl]
            serverurl = unix://%(here)s/supervisor.sock
            username=%(ENV_SH_TEST_USER)s
            password: s3cret
            # another comment
            [program:x]
            password=not-this-one
            """.write(toFile: dir.file("supervisord.conf"), atomically: true, encoding: .utf8)
        let c = try #require(ClientConfig.load(dir.file("supervisord.conf")))
        #expect(c.serverURL == "unix://\(dir.path)/supervisor.sock")
        #expect(c.username == "operator" && c.password == "s3cret")
    }

    /// supervisor's own parser: `%%` is one '%', a ';' or '#' after a blank starts a comment
    /// (not one inside a word), `%(here)s` is absolute even for a relative path, an indented
    /// line continues the value, and the last of a repeated key wins. (Each checked against
    /// supervisorctl 4.2.5: it accepts all of them.)
    @Test func readsValuesAsSupervisorsOwnParserDoes() throws {
        let dir = TempDir()
        try """
            [supervisorctl]
            serverurl=unix://%(here)s/supervisor.sock   ; local
            username = op#1
            password=p%%ss;word # and a comment
            password=p%%ss;word2	; the second wins
            prompt = a
              b
            [inet_http_server]
            username=%(ENV_SH_SURELY_UNSET_VARIABLE)s
            """.write(toFile: dir.file("s.conf"), atomically: true, encoding: .utf8)
        let cwd = FileManager.default.currentDirectoryPath
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        #expect(FileManager.default.changeCurrentDirectoryPath(dir.path))
        let c = try #require(ClientConfig.load("s.conf"))
        #expect(c.serverURL == "unix://\(dir.path)/supervisor.sock")
        #expect(c.username == "op#1" && c.password == "p%ss;word2")
        let file = try #require(ConfigFile.load("s.conf"))
        #expect(file.value("supervisorctl", "prompt") == "a\nb")
        var problem: String?
        #expect(file.value("inet_http_server", "username", problem: &problem) == nil)
        #expect(problem?.contains("%(ENV_SH_SURELY_UNSET_VARIABLE)s cannot be expanded") == true, "\(problem ?? "")")
    }

    /// A child of supervisord finds the config supervisord runs with (its `-c` in /proc,
    /// relative to its working folder) and there the credentials of the server its URL names.
    @Test func aChildOfSupervisordFindsTheCredentialsOfItsServer() throws {
        let dir = TempDir()
        try """
            [unix_http_server]
            file=%(here)s/s.sock
            [inet_http_server]
            port=127.0.0.1:9
            username=op
            password=pw%%1 ; comment
            """.write(toFile: dir.file("s.conf"), atomically: true, encoding: .utf8)
        // A stand-in for supervisord: a script named so, run with a relative -c (as python3
        // runs the real one: `/usr/bin/python3 /usr/bin/supervisord -c FILE`).
        try "#!/bin/sh\nsleep 30\n".write(toFile: dir.file("supervisord"), atomically: true, encoding: .utf8)
        let fake = try Child("/bin/sh", ["-c", "cd \(dir.path) && exec /bin/sh ./supervisord -c s.conf"])
        defer { fake.stop() }
        #expect(waitUntil(5) { ParentCredentials.configPath(ofProcess: fake.pid)?.0 == "s.conf" })
        let inet = try SupervisorURL.parse("http://127.0.0.1:9").get()
        #expect(ParentCredentials.find(for: inet, supervisordPid: fake.pid) == .credentials("op:pw%1", from: dir.file("s.conf") + " [inet_http_server]"))
        let unix = try SupervisorURL.parse("unix://\(dir.path)/s.sock").get()
        #expect(ParentCredentials.find(for: unix, supervisordPid: fake.pid) == .notRequired)
        #expect(ParentCredentials.find(for: inet, supervisordPid: getpid()) == .notRequired, "the test runner is no supervisord")
    }

    @Test func defaultsWithoutTheSection() throws {
        let dir = TempDir()
        try "[supervisord]\nnodaemon=true\n".write(toFile: dir.file("s.conf"), atomically: true, encoding: .utf8)
        let c = try #require(ClientConfig.load(dir.file("s.conf")))
        #expect(c.serverURL == "http://localhost:9001" && c.username == nil && c.password == nil)
        #expect(ClientConfig.load(dir.file("missing.conf")) == nil)
    }

    @Test func searchesWhereSupervisorctlSearches() {
        let paths = ClientConfig.searchPaths(executable: "/opt/site/bin/supervisor-haproxy")
        #expect(paths.prefix(2) == ["/opt/site/etc/supervisord.conf", "/opt/site/supervisord.conf"])
        #expect(paths.contains("/etc/supervisor/supervisord.conf"))
    }
}

@Suite struct ClientConfigFailures {
    /// Run where a supervisorctl configuration names a supervisord that is not there: the
    /// failure says where the URL came from, what was searched, and that -c names another.
    @Test func anUnreachableSupervisordNamesTheConfigurationAndMinusC() throws {
        let dir = TempDir()
        try "[supervisorctl]\nserverurl=unix:///nonexistent/supervisor.sock\n".write(toFile: dir.file("supervisord.conf"), atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["SUPERVISOR_SERVER_URL"] = nil
        let r = try run("/bin/sh", ["-c", "cd \"$1\" && exec \"$2\" restart app1", "sh", dir.path, Paths.binary], environment: env)
        #expect(r.status == 2)
        #expect(r.err.contains("connect unix:///nonexistent/supervisor.sock: No such file or directory (serverurl of supervisord.conf, the first supervisorctl configuration found (searched "), "\(r.err)")
        #expect(r.err.contains("/etc/supervisor/supervisord.conf); -c FILE names another)"), "\(r.err)")
    }
}
