import CSocketShim
import Glibc

// Where supervisorctl finds supervisord: `-c FILE`, else the first of its default files that
// exists (supervisor's options.py), and in its [supervisorctl] section `serverurl`
// (default http://localhost:9001), `username`, `password`. Read once at start.

struct ClientConfig: Equatable {
    var path: String
    var serverURL = "http://localhost:9001"
    var username: String?
    var password: String?

    /// supervisorctl's search, `here` being the folder above the executable's folder.
    static func searchPaths(executable: String) -> [String] {
        let here = dirname(dirname(executable))
        return [here + "/etc/supervisord.conf", here + "/supervisord.conf", "supervisord.conf",
                "etc/supervisord.conf", "/etc/supervisord.conf", "/etc/supervisor/supervisord.conf"]
    }

    static func find(executable: String) -> String? {
        searchPaths(executable: executable).first { access($0, R_OK) == 0 }
    }

    /// Reads FILE's [supervisorctl] section; `%(here)s` and `%(ENV_X)s` are expanded as
    /// supervisord does.
    static func load(_ path: String) -> ClientConfig? {
        guard let text = readFile(path, limit: 1 << 20) else { return nil }
        var config = ClientConfig(path: path)
        var inSection = false
        for raw in text.split(separator: newline, omittingEmptySubsequences: false) {
            let line = trim(Array(raw))
            if line.isEmpty || line.first == UInt8(ascii: ";") || line.first == UInt8(ascii: "#") { continue }
            if line.first == UInt8(ascii: "[") {
                inSection = line.equals("[supervisorctl]")
                continue
            }
            guard inSection, raw.first != space, raw.first != 0x09,
                  let sep = line.firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == colon }) else { continue }
            let key = trim(Array(line[..<sep])).asciiLowercased.string
            let value = expand(trim(Array(line[(sep + 1)...])), here: dirname(path))
            switch key {
            case "serverurl": config.serverURL = value
            case "username": config.username = value
            case "password": config.password = value
            default: break
            }
        }
        return config
    }

    private static func trim(_ b: [UInt8]) -> [UInt8] {
        let isSpace = { (c: UInt8) in c == space || c == 0x09 || c == 0x0d }
        guard let first = b.firstIndex(where: { !isSpace($0) }), let last = b.lastIndex(where: { !isSpace($0) }) else { return [] }
        return Array(b[first...last])
    }

    /// `%(here)s` and `%(ENV_NAME)s`.
    private static func expand(_ b: [UInt8], here: String) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "("),
               let close = b[(i + 2)...].firstIndex(of: UInt8(ascii: ")")), close + 1 < b.count, b[close + 1] == UInt8(ascii: "s") {
                let name = Array(b[(i + 2)..<close]).string
                if name == "here" {
                    out += here.utf8
                } else if name.starts(with: "ENV_"), let v = getenv(String(name.dropFirst(4))) {
                    out += String(cString: v).utf8
                }
                i = close + 2
                continue
            }
            out.append(b[i])
            i += 1
        }
        return out.string
    }
}
