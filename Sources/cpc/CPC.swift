// The `cpc` command: the pipeline's entry point (prepare, train, embed, probe, report, mi, bench, inspect, convert).

import ArgumentParser
import Foundation
import TensorCore

@main
struct CPC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cpc",
        abstract: "Self-supervised representation learning (Contrastive Predictive Coding and friends) on the CPU.",
        subcommands: [Prepare.self, Train.self, Embed.self, ProbeCommand.self, Report.self, Spectrum.self, MutualInformation.self, Bench.self,
                      Inspect.self, Convert.self, ABXCommand.self])

    static func main() {
        BLASKernels.restartWithFasterKernelsIfNeeded()
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            exit(withError: UserFacingError.cleaned(error))
        }
    }
}

/// A Foundation error (`NSCocoaErrorDomain Code=…` with a user-info dump) as one line: the file it concerns and its
/// description. Every other error passes through unchanged (ArgumentParser's own, and ours, which already name the
/// file and the key).
struct UserFacingError: Error, CustomStringConvertible {
    let description: String

    static func cleaned(_ error: Error) -> Error {
        // Our errors and ArgumentParser's conform to CustomStringConvertible in Swift; NSError's description is the dump.
        guard type(of: error) is NSError.Type || error is CocoaError else { return error }
        let ns = error as NSError
        let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        var text = ns.userInfo[NSLocalizedDescriptionKey] as? String ?? ns.localizedDescription
        if let path, !text.contains(path) { text = "\(path): \(text)" }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { text += " (\(underlying.localizedDescription))" }
        return UserFacingError(description: text)
    }
}

/// Runs `body` with long library stages (feature extraction, probe fitting, kNN, refreshes) reporting on standard output.
func withStageProgress<R>(_ body: () throws -> R) rethrows -> R {
    try StageProgress.$console.withValue(.standardOutput, operation: body)
}

/// Options every compute-heavy subcommand shares.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for BLAS and large elementwise loops (default: all processors).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be in 1...1024, got \(threads)") }
    }

    /// Applies the thread count and returns it.
    @discardableResult
    func apply() -> Int {
        let count = threads ?? Threads.processorCount
        Threads.setCount(count)
        return count
    }
}
