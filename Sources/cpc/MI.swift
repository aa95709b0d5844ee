// `cpc mi`: the known-MI benchmark of Poole et al. 2019: train a critic on one or more MI bounds over correlated
// Gaussians whose true MI climbs a staircase, and report each bound's estimates, bias and variance.

import ArgumentParser
import Evaluation
import Foundation
import Layers
import Objectives
import TensorCore
import Training

extension CriticKind: ExpressibleByArgument {}

struct MutualInformation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mi",
        abstract: "Estimate known mutual information with variational bounds (Poole et al. 2019's staircase).",
        discussion: """
            x ~ N(0, I_D) and y = ρx + √(1 − ρ²)ε carry −D/2·log(1 − ρ²) nats; ρ is set for each level of --schedule.
            Each bound trains its own critic (and baseline a(y) for tuba and interpolated) with Adam on fresh batches; every
            bound sees the same batches and the same initial critic. Bounds: \(MutualInformationBound.allCases.map(\.rawValue)
                .joined(separator: ", ")) (js: critic trained on Jensen–Shannon, NWJ reported; smile: clipped DV value,
            JS gradient; mine: DV value, moving-average gradient). Prints bias / variance per level (over the second half
            of each level's steps, averaged over seeds). --json writes one row per step {bound, critic, seed, step,
            true_mi, estimate}; --plot an SVG with one panel per bound; --summary the table as JSON.
            """)

    @Option(help: "A bound, a comma-separated list, or all.") var bound: String
    @Option(help: "separable (g(x)ᵀh(y)) or concat (one MLP on [x, y]).") var critic: CriticKind = .separable
    @Option(help: "Dimension D of x and y.") var dim = 20
    @Option(help: "Batch size N (the bounds see N joint and N(N − 1) marginal pairs).") var batch = 64
    @Option(help: "True MI of each level in nats, comma-separated.") var schedule = "2,4,6,8,10"
    @Option(help: "Steps per level (default 4000; or give --steps).") var stepsPerLevel: Int?
    @Option(help: "Total steps over the staircase, split evenly over the levels.") var steps: Int?
    @Option(help: "First seed (data and critic initialisation).") var seed: UInt64 = 1
    @Option(help: "Number of seeds (seed, seed + 1, …) to run each bound with.") var seeds = 1
    @Option(help: "Adam learning rate.") var learningRate: Float = 5e-4
    @Option(help: "Hidden width of the critic's MLPs (and of the baseline's).") var hidden = 256
    @Option(help: "Hidden layers of the critic's MLPs.") var layers = 2
    @Option(help: "Embedding width of the separable critic.") var embedding = 32
    @Option(help: "α of the interpolated bound, in [0, 1] (0: TUBA, → 1: InfoNCE).") var alpha = 0.5
    @Option(help: "SMILE's clip τ (> 0).") var clip: Float = 5
    @Option(help: "MINE's moving-average momentum, in [0, 1).") var momentum: Float = 0.9
    @Option(help: "Write every estimate as JSON rows.") var json: String?
    @Option(help: "Write the staircase plot (SVG).") var plot: String?
    @Option(help: "Write the bias / variance table as JSON.") var summary: String?
    @OptionGroup var threadOptions: ThreadOptions

    /// The bounds named by --bound.
    func bounds() throws -> [MutualInformationBound] {
        if bound == "all" { return MutualInformationBound.allCases }
        let names = bound.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var result: [MutualInformationBound] = []
        for name in names {
            guard let parsed = MutualInformationBound(rawValue: name.lowercased()) else {
                throw ValidationError("--bound: unknown bound '\(name)'; expected all or a comma-separated list of "
                    + MutualInformationBound.allCases.map(\.rawValue).joined(separator: ", "))
            }
            if !result.contains(parsed) { result.append(parsed) }
        }
        if result.isEmpty { throw ValidationError("--bound: no bound given; expected all or a list such as infonce,nwj") }
        return result
    }

    /// The staircase levels named by --schedule.
    func levels() throws -> [Double] {
        let parts = schedule.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let values = try parts.map { part -> Double in
            guard let value = Double(part), value.isFinite, value >= 0 else {
                throw ValidationError("--schedule: '\(part)' is not a non-negative number of nats (expected e.g. 2,4,6,8,10)")
            }
            guard value <= 10 * Double(dim) else {
                throw ValidationError("--schedule: \(part) nats in \(dim) dimensions needs ρ within 1e-9 of 1; keep levels at most 10·--dim")
            }
            return value
        }
        if values.isEmpty { throw ValidationError("--schedule: no level given") }
        return values
    }

    func validate() throws {
        func require(_ condition: Bool, _ message: String) throws { if !condition { throw ValidationError(message) } }
        _ = try bounds()
        let levelCount = try levels().count
        try require(dim >= 1 && dim <= 4096, "--dim must lie in 1...4096, got \(dim)")
        try require(batch >= 2 && batch <= 4096, "--batch must lie in 2...4096 (the bounds need off-diagonal pairs), got \(batch)")
        try require(hidden >= 1 && hidden <= 8192, "--hidden must lie in 1...8192, got \(hidden)")
        try require(layers >= 1 && layers <= 16, "--layers must lie in 1...16, got \(layers)")
        try require(embedding >= 1 && embedding <= 8192, "--embedding must lie in 1...8192, got \(embedding)")
        try require(seeds >= 1 && seeds <= 1000, "--seeds must lie in 1...1000, got \(seeds)")
        try require(learningRate.isFinite && learningRate > 0, "--learning-rate must be a positive number, got \(learningRate)")
        try require(alpha.isFinite && alpha >= 0 && alpha <= 1, "--alpha must lie in [0, 1], got \(alpha)")
        try require(clip.isFinite && clip > 0, "--clip must be a positive number, got \(clip)")
        try require(momentum.isFinite && momentum >= 0 && momentum < 1, "--momentum must lie in [0, 1), got \(momentum)")
        if let stepsPerLevel { try require(stepsPerLevel >= 1 && stepsPerLevel <= 10_000_000, "--steps-per-level must lie in 1...10000000, got \(stepsPerLevel)") }
        if let steps {
            try require(steps >= levelCount && steps <= 50_000_000, "--steps must lie in \(levelCount)...50000000 (at least one per level), got \(steps)")
            if let stepsPerLevel, stepsPerLevel * levelCount != steps {
                throw ValidationError("--steps \(steps) and --steps-per-level \(stepsPerLevel) disagree for \(levelCount) levels; give one of them")
            }
        }
        // The concatenated critic holds N² × H activations per layer (forward and backward), against the machine's memory.
        if critic == .concat {
            let floats = Double(batch) * Double(batch) * Double(hidden) * Double(layers) * 4
            let memory = Double(ProcessInfo.processInfo.physicalMemory)
            try require(floats * 4 <= memory, "--critic concat with --batch \(batch) and --hidden \(hidden) needs about "
                + String(format: "%.0f GiB, more than this machine's %.0f GiB", floats * 4 / 1_073_741_824, memory / 1_073_741_824)
                + "; lower --batch or --hidden")
        }
    }

    func run() throws {
        let threads = threadOptions.apply()
        var config = MutualInformationBenchmarkConfig(bounds: try bounds())
        config.critic = critic
        (config.dimension, config.batchSize) = (dim, batch)
        config.schedule = try levels()
        config.steps = steps ?? (stepsPerLevel ?? 4000) * config.schedule.count
        config.learningRate = learningRate
        config.seeds = (0..<UInt64(seeds)).map { seed &+ $0 }
        (config.hiddenSize, config.hiddenLayers, config.embeddingSize) = (hidden, layers, embedding)
        (config.alpha, config.clip, config.momentum) = (alpha, clip, momentum)
        // Check the output folders before hours of work.
        for path in [json, plot, summary].compactMap({ $0 }) {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
                throw ValidationError("\(path): the folder \(folder) does not exist")
            }
        }
        print("MI benchmark: \(config.bounds.map(\.rawValue).joined(separator: ", ")); \(critic.rawValue) critic; D = \(dim), "
            + "N = \(batch) (log N = \(String(format: "%.2f", Foundation.log(Double(batch)))) nats); levels "
            + config.schedule.map { String(format: "%g", $0) }.joined(separator: " → ") + " nats over \(config.steps) steps; "
            + "seeds \(config.seeds.map(String.init).joined(separator: ", ")); \(threads) thread(s)")
        let isTerminal = isatty(STDOUT_FILENO) != 0
        var traces: [MutualInformationBenchmark.Trace] = []
        for bound in config.bounds {
            for seed in config.seeds {
                print("\(bound.rawValue), seed \(seed):")
                fflush(nil)
                let progress = Progress(total: config.steps, start: 0, isTerminal: isTerminal) { print($0); fflush(nil) }
                let every = isTerminal ? 50 : max(config.steps / 10, 1)
                let began = DispatchTime.now().uptimeNanoseconds
                let trace = MutualInformationBenchmark.train(bound, seed: seed, config: config) { step, estimate in
                    guard (step + 1) % every == 0 || step + 1 == config.steps else { return }
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) * 1e-9
                    let truth = config.schedule[config.level(ofStep: step)]
                    progress.update(step: step + 1, loss: Float(-estimate), headline: ("estimate − truth", Float(estimate - truth)),
                                    validation: nil, itemsPerSecond: Double(step + 1) / max(seconds, 1e-9), unit: "steps")
                }
                progress.finish()
                if let step = trace.divergedAt {
                    print("  \(bound.rawValue) diverged at step \(step): its estimate was no longer finite; its rows stop there")
                }
                print(String(format: "  %.1f s", trace.seconds))
                traces.append(trace)
            }
        }
        let rows = MutualInformationBenchmark.summarize(traces, config: config)
        print(MutualInformationBenchmark.table(rows, config: config))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let json {
            try SafeTensors.writeAtomically(try encoder.encode(traces.flatMap(\.estimates)), to: json)
            print("estimates: \(json)")
        }
        if let summary {
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            try SafeTensors.writeAtomically(try encoder.encode(rows), to: summary)
            print("summary: \(summary)")
        }
        if let plot {
            try SafeTensors.writeAtomically(Data(MutualInformationBenchmark.plot(traces, config: config).utf8), to: plot)
            print("plot: \(plot)")
        }
    }
}
