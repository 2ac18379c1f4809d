import Foundation
import Glibc
import Testing
@testable import SupervisorHAProxy

// The state file is written by a root listener into a folder others may write to (Debian's
// /run/haproxy belongs to the `haproxy` user): what is planted there is never followed.

private func contents(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<none>" }

private func replace(_ file: ReplacedFile, with text: String) -> Bool {
    file.begin()
    text.utf8.withContiguousStorageIfAvailable { file.write(ByteView(start: $0.baseAddress!, count: $0.count)) }
    return file.commit()
}

@Suite struct ReplacedFiles {
    /// A link planted at PATH.tmp toward a root-only file: removed, never followed; the
    /// root-only file keeps its contents, PATH gets the new version.
    @Test func aLinkPlantedAtTheTemporaryNameIsNeverFollowed() throws {
        let dir = TempDir()
        let secret = dir.file("shadow")
        try "root's secret\n".write(toFile: secret, atomically: false, encoding: .utf8)
        chmod(secret, 0o600)
        let path = dir.file("state")
        #expect(symlink(secret, path + ".tmp") == 0)
        let file = ReplacedFile(path: path)
        #expect(replace(file, with: "1\n# be_id be_name\n"))
        #expect(contents(secret) == "root's secret\n", "the planted link was followed")
        #expect(contents(path) == "1\n# be_id be_name\n")
        #expect(PathKind(lstatOf: path + ".tmp") == .missing)
        #expect(PathKind(lstatOf: path) == .regularFile)
    }

    /// A link planted at PATH itself is not a file: refused at start, and never replaced.
    @Test func aPathThatIsNotAFileIsRefused() throws {
        let dir = TempDir()
        let target = dir.file("elsewhere")
        try "x\n".write(toFile: target, atomically: false, encoding: .utf8)
        #expect(symlink(target, dir.file("link")) == 0)
        mkdir(dir.file("folder"), 0o755)
        #expect(ReplacedFile.problem(dir.file("link"))?.contains("is a symbolic link") == true)
        #expect(ReplacedFile.problem(dir.file("folder"))?.contains("is a directory") == true)
        #expect(ReplacedFile.problem(dir.file("nofolder/state"))?.contains("its folder") == true)
        #expect(ReplacedFile.problem(dir.file("absent")) == nil)
        #expect(ReplacedFile.problem(target) == nil)
        let file = ReplacedFile(path: dir.file("link"))
        #expect(!replace(file, with: "new\n"))
        #expect(file.error.contains("is a symbolic link"), "\(file.error)")
        #expect(contents(target) == "x\n")
    }

    /// The operator removed the file (before a reload that changes a server's address): it is
    /// not written again until the caller resumes it (the next reload).
    @Test func aRemovedFileIsNotWrittenAgainUntilResumed() throws {
        let dir = TempDir()
        let path = dir.file("state")
        let file = ReplacedFile(path: path)
        #expect(replace(file, with: "v1\n"))
        unlink(path)
        #expect(!replace(file, with: "v2\n"))
        #expect(file.paused)
        #expect(PathKind(lstatOf: path) == .missing)
        #expect(!replace(file, with: "v3\n"))
        #expect(PathKind(lstatOf: path) == .missing && PathKind(lstatOf: path + ".tmp") == .missing)
        file.resume()
        #expect(replace(file, with: "v4\n"))
        #expect(contents(path) == "v4\n")
    }
}

/// The same through the real listener and a real HAProxy: the listener (root here, as under
/// supervisord) keeps --state-file in a folder where somebody planted a link at PATH.tmp.
@Suite(.serialized, .timeLimit(.minutes(2))) struct StateFileUnderTheListener {
    @Test func aPlantedLinkIsNeverFollowedByTheListener() throws {
        let dir = TempDir()
        let haproxy = try HAProxy(dir: dir, apps: AppPorts()).start()
        defer { haproxy.stop() }
        let secret = dir.file("shadow")
        try "root's secret\n".write(toFile: secret, atomically: false, encoding: .utf8)
        chmod(secret, 0o600)
        let path = dir.file("server-state")
        #expect(symlink(secret, path + ".tmp") == 0)
        let d = try Driver(["--resync", "1", "--state-file", path, haproxy.unixAddress, "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        try d.expectReady()
        try d.send(Driver.processState("STOPPED", "web1"))
        #expect(waitUntil(10) { contents(path).contains("web1") }, "the state file was written: \(d.log)")
        #expect(contents(secret) == "root's secret\n", "the planted link was followed")
        #expect(PathKind(lstatOf: path) == .regularFile)
    }

    /// A state file path that is a folder: refused at start, exit 2, nothing written.
    @Test func aPathThatIsAFolderIsRefusedAtStart() throws {
        let dir = TempDir()
        mkdir(dir.file("state"), 0o755)
        let d = try Driver(["--state-file", dir.file("state"), "unix://" + dir.file("none.sock"), "web1:web/web1"], dir: dir)
        defer { d.child.stop() }
        #expect(d.child.waitExit(10) == 2)
        #expect(d.log.contains("--state-file \(dir.file("state")) is a directory, not a file this program may replace"), "\(d.log)")
    }
}
