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
