import Foundation
import Testing

// The folders of Sources/SupervisorHAProxy depend one way: Support <- Reactor <- HAProxy,
// Supervisor, Notify <- Convergence <- Commands. Checked by name: a file may use only the types and
// top-level functions declared in its own folder and the folders below it.

private let below: [String: Set<String>] = [
    "Support": [],
    "Reactor": ["Support"],
    "HAProxy": ["Support", "Reactor"],
    "Supervisor": ["Support", "Reactor"],
    "Notify": ["Support", "Reactor"],
    "Convergence": ["Support", "Reactor", "HAProxy", "Supervisor", "Notify"],
    "Commands": ["Support", "Reactor", "HAProxy", "Supervisor", "Notify", "Convergence"],
]

private func matches(_ pattern: String, _ text: String) -> [String] {
    let re = try! NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines])
    return re.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
        Range($0.range(at: 1), in: text).map { String(text[$0]) }
    }
}

@Suite struct Layers {
    @Test func eachFolderUsesOnlyTheFoldersBelowIt() throws {
        let root = Paths.root + "/Sources/SupervisorHAProxy"
        var files: [String: [(String, String)]] = [:]
        for folder in below.keys {
            for f in try FileManager.default.contentsOfDirectory(atPath: root + "/" + folder) where f.hasSuffix(".swift") {
                files[folder, default: []].append((f, try String(contentsOfFile: "\(root)/\(folder)/\(f)", encoding: .utf8)))
            }
        }
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: root)) == Set(below.keys), "a folder the rule does not know")
        // Where each top-level type and function is declared.
        var home: [String: String] = [:]
        for (folder, list) in files {
            for (_, text) in list {
                for name in matches(#"^(?:final class|class|struct|enum|protocol|typealias) ([A-Z][A-Za-z0-9]*)"#, text) { home[name] = folder }
                for name in matches(#"^(?:public |private |fileprivate )?func ([a-z][A-Za-z0-9]*)"#, text) { home[name] = folder }
            }
        }
        var wrong: [String] = []
        for (folder, list) in files {
            for (file, text) in list {
                let code = text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(separator: "\n")
                for (name, at) in home where at != folder && !below[folder]!.contains(at) {
                    let use = name.first!.isUppercase ? #"\b"# + name + #"\b"# : #"(?<![.\w])(?<!func )"# + name + #"\("#
                    if code.range(of: use, options: .regularExpression) != nil { wrong.append("\(folder)/\(file) uses \(name) from \(at)") }
                }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.sorted().joined(separator: "\n"))")
        #expect(home.count > 50, "the declarations were found: \(home.count)")
    }
}
