import CSocketShim
import Glibc

// Where supervisorctl finds supervisord: `-c FILE`, else the first of its default files that
// exists (supervisor's options.py), and in its [supervisorctl] section `serverurl`
// (default http://localhost:9001), `username`, `password`, read by supervisor's own rules
// (ConfigFile). Read once at start.

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

    /// Reads FILE's [supervisorctl] section by supervisor's own rules (ConfigFile); a
    /// relative FILE is taken from the working folder.
    static func load(_ path: String) -> ClientConfig? {
        guard let file = ConfigFile.load(path) else { return nil }
        var config = ClientConfig(path: file.path)
        if let v = file.value("supervisorctl", "serverurl") { config.serverURL = v }
        config.username = file.value("supervisorctl", "username")
        config.password = file.value("supervisorctl", "password")
        return config
    }
}
