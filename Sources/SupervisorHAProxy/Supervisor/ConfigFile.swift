import CSocketShim
import Glibc

// supervisor's configuration files, read by the rules of its own parser (options.py:
// `UnhosedConfigParser`, a RawConfigParser with `inline_comment_prefixes=(';', '#')`, and
// `saneget`, which expands values with Python's `%`): docs/protocols.md, "supervisor's
// configuration files".
//   - `[section]` headers; `key = value` or `key: value` (the first of the two); keys are
//     case-insensitive, the last of a repeated key wins.
//   - a line whose first non-blank character is ';' or '#' is a comment; so is the rest of a
//     line from a ';' or '#' at its start or after a blank (`p;ss` keeps its ';').
//   - an indented line continues the value before it (joined by a newline).
//   - `%(here)s` is the file's folder (absolute), `%(ENV_NAME)s` a variable of the
//     environment, `%%` one '%'.

struct ConfigFile {
    let path: String
    /// `%(here)s`: the absolute folder of the file.
    let here: String
    private var entries: [(section: [UInt8], key: [UInt8], value: [UInt8])] = []

    /// Reads `path` (at most 1 MiB); a relative path is taken from `cwd` (the working folder
    /// of whoever named it). nil when it cannot be read.
    static func load(_ path: String, cwd: String? = nil) -> ConfigFile? {
        let absolute = path.hasPrefix("/") ? path : (cwd ?? currentDirectory()) + "/" + path
        guard let text = readFile(absolute, limit: 1 << 20) else { return nil }
        return parse(text, path: absolute)
    }

    /// The file's text, read as if it were at the absolute `path`.
    static func parse(_ text: [UInt8], path: String) -> ConfigFile {
        var file = ConfigFile(path: path, here: normalized(dirname(path)))
        var section: [UInt8]?
        for raw in text.split(separator: newline, omittingEmptySubsequences: false) {
            let line = stripComment(Array(raw))
            if line.isEmpty { continue }
            let indented = raw.first == space || raw.first == tab
            if indented, section != nil, !file.entries.isEmpty, file.entries[file.entries.count - 1].section == section! {
                file.entries[file.entries.count - 1].value += [newline] + line
                continue
            }
            if line.first == UInt8(ascii: "["), line.last == UInt8(ascii: "]") {
                section = Array(line[1..<(line.count - 1)])
                continue
            }
            guard let name = section,
                  let sep = line.firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == colon }) else { continue }
            let key = trim(Array(line[..<sep])).asciiLowercased
            file.entries.append((name, key, trim(Array(line[(sep + 1)...]))))
        }
        return file
    }

    /// The expanded value of `key` in `section`; nil when absent. `problem` tells of a
    /// `%(NAME)s` that cannot be expanded (the value is then nil too, as supervisor refuses it).
    func value(_ section: String, _ key: String, problem: inout String?) -> String? {
        let s = Array(section.utf8), k = Array(key.utf8)
        guard let raw = entries.last(where: { $0.section == s && $0.key == k })?.value else { return nil }
        switch expand(raw) {
        case .success(let v): return v
        case .failure(let p):
            problem = "\(path): [\(section)] \(key): \(p.text)"
            return nil
        }
    }

    func value(_ section: String, _ key: String) -> String? {
        var ignored: String?
        return value(section, key, problem: &ignored)
    }

    /// Python's `%` with `here` and `ENV_*`: `%(name)s` and `%%`.
    private func expand(_ b: [UInt8]) -> Result<String, Problem> {
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            guard b[i] == UInt8(ascii: "%") else {
                out.append(b[i])
                i += 1
                continue
            }
            if i + 1 < b.count, b[i + 1] == UInt8(ascii: "%") {
                out.append(b[i])
                i += 2
                continue
            }
            guard i + 1 < b.count, b[i + 1] == UInt8(ascii: "("),
                  let close = b[(i + 2)...].firstIndex(of: UInt8(ascii: ")")), close + 1 < b.count, b[close + 1] == UInt8(ascii: "s") else {
                return .failure(Problem("a '%' that is neither %% nor %(NAME)s"))
            }
            let name = Array(b[(i + 2)..<close]).string
            if name == "here" {
                out += here.utf8
            } else if name.hasPrefix("ENV_"), let v = getenv(String(name.dropFirst(4))) {
                out += String(cString: v).utf8
            } else {
                return .failure(Problem("%(\(name))s cannot be expanded (here and ENV_* are known)"))
            }
            i = close + 2
        }
        return .success(out.string)
    }

    /// The line without its comment, trimmed.
    private static func stripComment(_ line: [UInt8]) -> [UInt8] {
        let t = trim(line)
        if t.first == UInt8(ascii: ";") || t.first == UInt8(ascii: "#") { return [] }
        for (i, c) in line.enumerated() where c == UInt8(ascii: ";") || c == UInt8(ascii: "#") {
            if i == 0 || line[i - 1] == space || line[i - 1] == tab { return trim(Array(line[..<i])) }
        }
        return t
    }

    private static func trim(_ b: [UInt8]) -> [UInt8] {
        let isSpace = { (c: UInt8) in c == space || c == tab || c == 0x0d }
        guard let first = b.firstIndex(where: { !isSpace($0) }), let last = b.lastIndex(where: { !isSpace($0) }) else { return [] }
        return Array(b[first...last])
    }

    /// `a/./b/../c` as `a/c`, as os.path.abspath does.
    private static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/") where p != "." {
            if p == ".." { _ = parts.popLast() } else { parts.append(p) }
        }
        return "/" + parts.joined(separator: "/")
    }

    private static func currentDirectory() -> String {
        var buf = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let ok = buf.withUnsafeMutableBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { getcwd($0, p.count) != nil }
        }
        guard ok, let end = buf.firstIndex(of: 0) else { return "/" }
        return String(decoding: buf[..<end], as: UTF8.self)
    }
}

private let tab: UInt8 = 0x09
