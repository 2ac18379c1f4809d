import Foundation
import Glibc
import Testing

// Installs the way its users install: a Debian package, a wheel for pip, and the seed's own
// buildout snippet. Each is built from the static binary and then run as installed.

private let version = try! run(Paths.staticBinary, ["--version"]).out.split(separator: " ").last!.trimmingCharacters(in: .whitespacesAndNewlines)

private func build(_ script: [String], into folder: String) throws -> String {
    let r = try run(script[0], Array(script.dropFirst()) + [Paths.staticBinary, version, folder], seconds: 120)
    guard r.status == 0, let path = r.out.split(separator: "\n").last else { throw TestFailure("\(script): \(r.out)\(r.err)") }
    return String(path)
}

/// An HAProxy with backend plone01 (servers plone0101, plone0102) on a TCP and a unix socket;
/// plone0101 at `port`.
private func plone(port: Int = 9) throws -> Fleet {
    let fleet = try Fleet(backends: [("plone01", ["plone0101", "plone0102"])], programs: "", listener: nil,
                          addresses: ["plone0101": "127.0.0.1:\(port)"])
    try fleet.startHAProxy()
    return fleet
}

@Suite(.serialized, .timeLimit(.minutes(5))) struct Packaging {
    @Test func theDebianPackagePassesLintianAndRunsInAnEmptyRoot() throws {
        let out = TempDir()
        let deb = try build([Paths.root + "/packaging/make-deb"], into: out.path)
        let arch = try run(which("dpkg"), ["--print-architecture"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(deb.hasSuffix("/supervisor-haproxy_\(version)_\(arch).deb"), "\(deb)")
        let lint = try run(which("lintian"), ["--tag-display-limit", "0", deb], seconds: 120)
        #expect(lint.status == 0 && !lint.out.contains("E: "), "\(lint.out)\(lint.err)")
        let contents = try run(which("dpkg-deb"), ["-c", deb]).out
        for path in ["./usr/bin/supervisor-haproxy", "./usr/share/man/man1/supervisor-haproxy.1.gz",
                     "./usr/share/doc/supervisor-haproxy/copyright", "./usr/share/doc/supervisor-haproxy/changelog.gz"] {
            #expect(contents.contains(path), "\(path) in \(contents)")
        }
        // A root with nothing but dpkg's database: the package alone must run there.
        let root = TempDir()
        for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "run", "proc"] {
            try FileManager.default.createDirectory(atPath: root.file(d), withIntermediateDirectories: true)
        }
        #expect(FileManager.default.createFile(atPath: root.file("var/lib/dpkg/status"), contents: nil))
        let install = try run(which("dpkg"), ["--root=\(root.path)", "-i", deb], seconds: 60)
        #expect(install.status == 0, "\(install.out)\(install.err)")
        let chroot = [which("unshare"), "-m", "-p", "-f", "--mount-proc=\(root.file("proc"))", which("chroot"), root.path, "/usr/bin/supervisor-haproxy"]
        let v = try run(chroot[0], Array(chroot.dropFirst()) + ["--version"])
        #expect(v.status == 0 && v.out == "supervisor-haproxy \(version)\n", "\(v.out)\(v.err)")
        let fleet = try plone()
        defer { fleet.stop() }
        #expect(link(fleet.adminSocket, root.file("run/admin.sock")) == 0, "the stats socket, seen from the root")
        let check = try run(chroot[0], Array(chroot.dropFirst()) + ["check", "unix:///run/admin.sock", "instance1:plone01/plone0101"])
        #expect(check.status == 0 && check.out.contains("check passed"), "\(check.out)\(check.err)")
    }

    @Test func theWheelInstallsWithPipAndRunsTheStaticBinary() throws {
        let out = TempDir()
        let wheel = try build(["/usr/bin/python3", Paths.root + "/packaging/make-wheel.py"], into: out.path)
        let venv = out.file("venv")
        #expect(try run("/usr/bin/python3", ["-m", "venv", venv], seconds: 120).status == 0)
        let pip = try run(venv + "/bin/pip", ["install", "--no-index", wheel], seconds: 120)
        #expect(pip.status == 0, "\(pip.out)\(pip.err)")
        let v = try run(venv + "/bin/supervisor-haproxy", ["--version"])
        #expect(v.status == 0 && v.out == "supervisor-haproxy \(version)\n", "\(v.out)\(v.err)")
        // The console script execs the binary: the running program is the static Swift one.
        let installed = try run(which("find"), [venv, "-path", "*supervisor_haproxy/bin/supervisor-haproxy"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(FileManager.default.contentsEqual(atPath: installed, andPath: Paths.staticBinary))
    }

    /// The seed's buildout snippet, unchanged but for pointing buildout at the local wheel
    /// (find-links and a version pin) and for the stats socket's port: zc.buildout and
    /// collective.recipe.supervisor from PyPI generate bin/supervisord and
    /// bin/supervisor-haproxy, and HAProxy follows a stop and a start.
    @Test func theSeedsBuildoutSnippetRunsTheListener() throws {
        let out = TempDir()
        let wheels = out.file("wheels")
        _ = try build(["/usr/bin/python3", Paths.root + "/packaging/make-wheel.py"], into: wheels)
        let venv = out.file("venv")
        #expect(try run("/usr/bin/python3", ["-m", "venv", venv], seconds: 120).status == 0)
        let pip = try run(venv + "/bin/pip", ["install", "-q", "zc.buildout"], seconds: 240)
        try #require(pip.status == 0, "zc.buildout from PyPI: \(pip.out)\(pip.err)")
        let port = freePort()
        // instance1 serves where HAProxy's plone0101 points: the readiness gate sees it serve.
        let fleet = try plone(port: port)
        defer { fleet.stop() }
        let cfg = """
            [buildout]
            parts = supervisor
            find-links = \(wheels)
            versions = versions

            [versions]
            supervisor-haproxy = \(version)

            [supervisor]
            recipe = collective.recipe.supervisor
            port = 127.0.0.1:\(freePort())
            nodaemon = true
            plugins +=
                supervisor-haproxy
            eventlisteners +=
                HaProxy PROCESS_STATE ${buildout:bin-directory}/supervisor-haproxy [tcp://localhost:\(fleet.tcpPort) instance1:plone01/plone0101 instance2:plone01/plone0102]
            programs =
                10 instance1 /usr/bin/python3 [-m http.server \(port) --bind 127.0.0.1]
            """
        try cfg.write(toFile: out.file("buildout.cfg"), atomically: true, encoding: .utf8)
        let bo = try run(venv + "/bin/buildout", ["-c", out.file("buildout.cfg"), "buildout:directory=\(out.path)"], seconds: 240)
        try #require(bo.status == 0, "\(bo.out)\(bo.err)")
        #expect(bo.out.contains("Generated script '\(out.path)/bin/supervisor-haproxy'") || bo.err.contains("Generated script '\(out.path)/bin/supervisor-haproxy'"), "\(bo.out)\(bo.err)")
        // The generated scripts carry their configuration (parts/supervisor/supervisord.conf).
        let sup = try Child(out.file("bin/supervisord"), [], stdout: out.file("supervisord.out"), stderr: out.file("supervisord.err"))
        defer { sup.stop() }
        let ctl = { (args: [String]) in (try? run(out.file("bin/supervisorctl"), args, seconds: 30).out) ?? "" }
        #expect(waitUntil(20) { ctl(["status"]).contains("instance1                        RUNNING") && ctl(["status"]).contains("HaProxy") },
                "\(ctl(["status"]))\(out.read("supervisord.out"))")
        #expect(fleet.waitFor(["plone01/plone0101"], "ready"))
        _ = ctl(["stop", "instance1"])
        #expect(fleet.waitFor(["plone01/plone0101"], "maint"), "\(fleet.states())")
        _ = ctl(["start", "instance1"])
        #expect(fleet.waitFor(["plone01/plone0101"], "ready"), "\(fleet.states())")
    }
}
