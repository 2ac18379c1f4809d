import Glibc

/// What this program reads from its environment (supervisord sets these for its children),
/// read once at start.
struct Environment: Equatable {
    var supervisorURL: String?
    var username: String?
    var password: String?
    var groupName: String?
    var processName: String?
    /// The parent process when supervisord runs this one (SUPERVISOR_SERVER_URL is set): where
    /// its config file, and the credentials it wants, are found.
    var supervisordPid: Int32?

    /// The process's own environment.
    static func current() -> Environment {
        let url = variable("SUPERVISOR_SERVER_URL")
        return Environment(supervisorURL: url, username: variable("SUPERVISOR_USERNAME"),
                           password: variable("SUPERVISOR_PASSWORD"), groupName: variable("SUPERVISOR_GROUP_NAME"),
                           processName: variable("SUPERVISOR_PROCESS_NAME"), supervisordPid: url == nil ? nil : getppid())
    }

    private static func variable(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
