// The one libFuzzer entry point of the fuzz binary: $FUZZ_TARGET names the target (one file
// of this folder each, FuzzNAME.swift defining fuzzNAME), so the library is compiled once
// for all of them (scripts/fuzz).
import Glibc

private let target: (UnsafePointer<UInt8>, Int) -> Int32 = {
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    switch name {
    case "Address": return fuzzAddress
    case "AgentRequest": return fuzzAgentRequest
    case "Answers": return fuzzAnswers
    case "ConfigFile": return fuzzConfigFile
    case "EventProtocol": return fuzzEventProtocol
    case "LogEscape": return fuzzLogEscape
    case "Mapping": return fuzzMapping
    case "XMLRPC": return fuzzXMLRPC
    default:
        fputs("fuzz: FUZZ_TARGET '\(name)' is no target of fuzz/\n", stderr)
        exit(2)
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    target(data, size)
}
