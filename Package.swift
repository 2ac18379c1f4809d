// swift-tools-version:6.0
import PackageDescription

// No Regex in Sources/: leaving out _StringProcessing takes 1.3 MB off the static binary.
let noRegex: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import"])]

let package = Package(
    name: "supervisor-haproxy",
    products: [
        .executable(name: "supervisor-haproxy", targets: ["Listener"]),
    ],
    targets: [
        // The low-level calls: sockets, poll, signalfd, fork/exec with PR_SET_PDEATHSIG, pidfd.
        .target(name: "CSocketShim"),
        // Everything but the entry point: what the tests and the fuzz targets import.
        .target(name: "SupervisorHAProxy", dependencies: ["CSocketShim"], swiftSettings: noRegex),
        .executableTarget(name: "Listener", dependencies: ["SupervisorHAProxy"], swiftSettings: noRegex),
        .testTarget(
            name: "SupervisorHAProxyTests",
            dependencies: ["SupervisorHAProxy"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
