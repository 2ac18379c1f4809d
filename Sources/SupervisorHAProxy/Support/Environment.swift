import Glibc

/// What this program reads from its environment (supervisord sets these for its children),
/// read once at start.
struct Environment: Equatable {
    var supervisorURL: String?
    var username: String?
    var password: String?
    var groupName: String?
    var processName: String?

    /// The process's own environment.
    static func current() -> Environment {
        Environment(supervisorURL: variable("SUPERVISOR_SERVER_URL"), username: variable("SUPERVISOR_USERNAME"),
                    password: variable("SUPERVISOR_PASSWORD"), groupName: variable("SUPERVISOR_GROUP_NAME"),
                    processName: variable("SUPERVISOR_PROCESS_NAME"))
    }

    private static func variable(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
