// Running the built `cpc` binary from end-to-end tests.

import Foundation

/// What a finished command printed and returned.
public struct CommandResult {
    public let status: Int32
    public let standardOutput: String
    public let standardError: String
}

/// The `cpc` binary built beside the running tests (the same build configuration), or in the release folder.
public func cpcExecutable() -> URL? {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [
        testBinary.appendingPathComponent("cpc"),
        testBinary.deletingLastPathComponent().appendingPathComponent("cpc"),
        repositoryRoot.appendingPathComponent(".build/debug/cpc"),
        repositoryRoot.appendingPathComponent(".build/release/cpc"),
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// Runs `cpc` with `arguments` and waits for it.
public func runCPC(_ arguments: [String]) throws -> CommandResult {
    guard let executable = cpcExecutable() else {
        throw FixtureError(description: "the cpc binary was not found beside the tests; run `swift build` first")
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read before waiting, so that a full pipe cannot block the child.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, standardOutput: String(decoding: outData, as: UTF8.self),
                         standardError: String(decoding: errData, as: UTF8.self))
}
