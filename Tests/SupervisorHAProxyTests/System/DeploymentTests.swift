import Foundation
import Testing
@testable import SupervisorHAProxy

// `make compose-test` (the last step of `make test`) runs docker-compose.yml for real, with
// images built locally. This suite checks in a second what must hold for it: it parses, every file it and the Dockerfile refer to exists, it runs
// exactly the config files the end-to-end tests run with every variable they read set, and
// it publishes nothing but HAProxy's frontend on the host's loopback.

private func composeJSON() throws -> [String: Any] {
    let r = try run("/usr/bin/python3", ["-c", "import sys, json, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
                                         Paths.root + "/docker-compose.yml"])
    guard r.status == 0 else { throw TestFailure("docker-compose.yml does not parse: \(r.err)") }
    return try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
}

private func variables(in file: String, pattern: Regex<(Substring, Substring)>) throws -> Set<String> {
    let text = try String(contentsOfFile: Paths.root + "/" + file, encoding: .utf8)
    // Comments name variables too; only the config lines count.
    let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasPrefix(";") }
    return Set(lines.flatMap { $0.matches(of: pattern).map { String($0.1) } })
}

@Suite struct Deployment {
    @Test func composeRunsTheTestedConfigFiles() throws {
        let compose = try composeJSON()
        let services = try #require(compose["services"] as? [String: [String: Any]])
        let haproxy = try #require(services["haproxy"]), supervisor = try #require(services["supervisor"])

        // Every host path it mounts exists, and HAProxy's config is the tested one.
        let mounts = (haproxy["volumes"] as? [String] ?? []) + (supervisor["volumes"] as? [String] ?? [])
        for m in mounts where m.hasPrefix("./") {
            let host = String(m.split(separator: ":")[0])
            #expect(FileManager.default.fileExists(atPath: Paths.root + "/" + host), "\(host)")
        }
        #expect(mounts.contains("./examples/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"))

        // The Dockerfile builds and copies what exists, and supervisord's config is the tested one.
        let build = try #require(supervisor["build"] as? [String: Any])
        #expect(build["context"] as? String == ".")
        let dockerfile = try String(contentsOfFile: Paths.root + "/Dockerfile", encoding: .utf8)
        for line in dockerfile.split(separator: "\n") where line.hasPrefix("COPY ") && !line.contains("--from") {
            for source in line.split(separator: " ").dropFirst().dropLast() {
                #expect(FileManager.default.fileExists(atPath: Paths.root + "/" + source), "\(line)")
            }
        }
        #expect(dockerfile.contains("COPY examples/supervisord.conf /etc/supervisor/supervisord.conf"))
        // The official Swift images have no make; the build is the package's own command.
        #expect(!dockerfile.split(separator: "\n").contains { !$0.hasPrefix("#") && $0.contains("make ") })
        #expect(dockerfile.contains("swift build -c release --static-swift-stdlib"))
        #expect(dockerfile.contains("\nUSER app\n"), "not root")

        // Only HAProxy's frontend is published, on the host's loopback; the admin socket's TCP
        // twin listens on HAProxy's own loopback.
        #expect(haproxy["ports"] as? [String] == ["127.0.0.1:8080:8080"])
        #expect(supervisor["ports"] == nil)
        #expect((haproxy["environment"] as? [String: Any])?["SH_STATS_TCP"] as? String == "ipv4@127.0.0.1:8800")

        // Every variable each config reads is set for the container that reads it.
        let haproxyEnv = Set((haproxy["environment"] as? [String: Any] ?? [:]).keys)
        let supervisorEnv = Set((supervisor["environment"] as? [String: Any] ?? [:]).keys)
        let haproxyVars = try variables(in: "examples/haproxy.cfg", pattern: #/\$\{([A-Z0-9_]+)[}-]/#)
        let supervisorVars = try variables(in: "examples/supervisord.conf", pattern: #/%\(ENV_([A-Z0-9_]+)\)s/#)
        #expect(haproxyVars.count >= 5 && supervisorVars.count >= 5)
        #expect(haproxyVars.subtracting(haproxyEnv).isEmpty, "unset for haproxy: \(haproxyVars.subtracting(haproxyEnv))")
        #expect(supervisorVars.subtracting(supervisorEnv).isEmpty, "unset for supervisor: \(supervisorVars.subtracting(supervisorEnv))")

        // The listener's arguments there are valid ones.
        let args = try #require((supervisor["environment"] as? [String: Any])?["SH_LISTENER_ARGS"] as? String)
        guard case .run(let o) = parseListen(args.split(separator: " ").map(String.init)) else {
            Issue.record("SH_LISTENER_ARGS rejected: \(args)")
            return
        }
        #expect(o.mappings.count == exampleMappings.count)
    }

    @Test func testsAndDemoRunTheSameFiles() throws {
        let demo = try String(contentsOfFile: Paths.root + "/scripts/stack.sh", encoding: .utf8)
        #expect(demo.contains("$TOP/examples/haproxy.cfg") && demo.contains("$TOP/examples/supervisord.conf"))
        #expect(Paths.haproxyConfig.hasSuffix("/examples/haproxy.cfg") && Paths.supervisordConfig.hasSuffix("/examples/supervisord.conf"))
    }
}
