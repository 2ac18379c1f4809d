// libFuzzer target: supervisor's configuration files (supervisorctl's, and supervisord's own
// for its credentials), read by its parser's rules.
public func fuzzConfigFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = Array(ByteView(start: data, count: size))
    let file = ConfigFile.parse(text, path: "/etc/supervisor/supervisord.conf")
    // Without expansions, a value is exactly what its lines hold.
    let expands = text.indices.contains { text[$0] == UInt8(ascii: "%") }
    for (section, key) in [("supervisorctl", "serverurl"), ("supervisorctl", "password"), ("inet_http_server", "username"),
                           ("unix_http_server", "password")] {
        var problem: String?
        if let v = Array(file.value(section, key, problem: &problem) ?? "").nonEmpty, !expands {
            // Never a comment: no ';' or '#' after a blank, no blank at either end.
            precondition(problem == nil)
            for i in 1..<max(1, v.count) where v[i] == ";" || v[i] == "#" { precondition(v[i - 1] != " " && v[i - 1] != "\t") }
            precondition(v.first != " " && v.last != " ")
        }
    }
    return 0
}

private extension Array {
    var nonEmpty: Self? { isEmpty ? nil : self }
}
