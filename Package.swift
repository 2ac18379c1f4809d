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
            dependencies: ["CSocketShim"]
        ),
        .testTarget(
            name: "ListenerTests",
            dependencies: ["Listener"],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
