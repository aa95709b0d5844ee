// The `cpc` command: the pipeline's entry point (prepare, train, embed, probe, report, mi, bench, inspect).

import ArgumentParser
import TensorCore

@main
struct CPC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cpc",
        abstract: "Self-supervised representation learning (Contrastive Predictive Coding and friends) on the CPU.",
        subcommands: [Prepare.self, Train.self, Embed.self, ProbeCommand.self, Report.self, Spectrum.self, MutualInformation.self, Bench.self,
                      Inspect.self])

    static func main() {
        BLASKernels.restartWithFasterKernelsIfNeeded()
        main(nil)
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
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    /// Applies the thread count and returns it.
    @discardableResult
    func apply() -> Int {
        let count = threads ?? Threads.processorCount
        Threads.setCount(count)
        return count
    }
}
