// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "supervisor-haproxy",
    products: [
        .executable(name: "supervisor-haproxy", targets: ["Listener"]),
    ],
    targets: [
        .target(name: "CSocketShim"),
        .executableTarget(
            name: "Listener",
            dependencies: ["CSocketShim"],
            // No Regex here: leaving out _StringProcessing takes 1.3 MB off the static binary.
            swiftSettings: [.unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import"])]
        ),
        .testTarget(
            name: "ListenerTests",
            dependencies: ["Listener"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
