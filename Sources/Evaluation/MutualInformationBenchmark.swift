// The known-MI benchmark of Poole et al. 2019 (§4): correlated Gaussians whose mutual information is set by ρ, raised
// in a staircase (2 → 4 → 6 → 8 → 10 nats), while a critic is trained on one MI bound; the bound's estimate on each
// training batch is compared with the truth. Every bound sees the same batches and starts from the same critic.
//
// Glossary: D dimension of x and y, N batch size, ρ correlation per dimension, I = −D/2·log(1 − ρ²) nats.

import Foundation
import Layers
import Objectives
import TensorCore
import Training

/// x ~ N(0, I_D), y = ρx + √(1 − ρ²)·ε with ε ~ N(0, I_D): I(x; y) = −D/2·log(1 − ρ²).
public enum CorrelatedGaussian {
    /// The ρ that gives `information` nats in `dimension` dimensions.
    public static func correlation(forInformation information: Double, dimension: Int) -> Double {
        (1 - Foundation.exp(-2 * information / Double(dimension))).squareRoot()
    }

    /// The mutual information (nats) of correlation ρ in `dimension` dimensions.
    public static func information(correlation rho: Double, dimension: Int) -> Double {
        -Double(dimension) / 2 * Foundation.log(1 - rho * rho)
    }

    /// A batch of N pairs. Shapes: x, y `[N, D]`.
    public static func sample(batchSize: Int, dimension: Int, correlation rho: Double,
                              generator: inout RandomGenerator) -> (x: Tensor, y: Tensor) {
        let x = Tensor.normal([batchSize, dimension], generator: &generator)
        let noise = Tensor.normal([batchSize, dimension], generator: &generator)
        let y = withoutGrad { x * Float(rho) + noise * Float((1 - rho * rho).squareRoot()) }
        return (x, y)
    }

    /// The optimal critic: scores[i, j] = log p(y_j | x_i) / p(y_j)
    /// = −D/2·log(1 − ρ²) − ‖y_j − ρx_i‖² / (2(1 − ρ²)) + ‖y_j‖²/2, computed in Double. Shapes: `[N, D]` → `[N, N]`.
    public static func logDensityRatio(x: Tensor, y: Tensor, correlation rho: Double) -> Tensor {
        precondition(x.rank == 2 && x.shape == y.shape, "x and y must be [N, D] alike, found \(x.shape), \(y.shape)")
        let (n, d) = (x.shape[0], x.shape[1])
        let xs = x.scalars, ys = y.scalars, variance = 1 - rho * rho
        var scores = [Float](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var residual = 0.0, norm = 0.0
                for k in 0..<d {
                    let yv = Double(ys[j * d + k])
                    let r = yv - rho * Double(xs[i * d + k])
                    residual += r * r
                    norm += yv * yv
                }
                scores[i * n + j] = Float(-Double(d) / 2 * Foundation.log(variance) - residual / (2 * variance) + norm / 2)
            }
        }
        return Tensor(scores, shape: [n, n])
    }
}

/// The critic architectures of the benchmark.
public enum CriticKind: String, CaseIterable, Codable, Sendable {
    case separable, concat
}

/// What one benchmark run trains and measures.
public struct MutualInformationBenchmarkConfig: Sendable {
    public var bounds: [MutualInformationBound]
    public var critic: CriticKind = .separable
    public var dimension = 20
    public var batchSize = 64
    /// The true MI of each level (nats), in order.
    public var schedule: [Double] = [2, 4, 6, 8, 10]
    /// Steps over the whole staircase; level ⌊step · levels / steps⌋ at each step.
    public var steps = 20_000
    public var learningRate: Float = 5e-4
    public var seeds: [UInt64] = [1]
    public var hiddenSize = 256
    public var hiddenLayers = 2
    public var embeddingSize = 32
    /// The interpolated bound's α.
    public var alpha = 0.5
    /// SMILE's clip τ.
    public var clip: Float = 5
    /// MINE's moving-average momentum.
    public var momentum: Float = 0.9

    public init(bounds: [MutualInformationBound]) { self.bounds = bounds }

    /// The staircase level of `step`.
    public func level(ofStep step: Int) -> Int { min(schedule.count - 1, step * schedule.count / max(steps, 1)) }
}

/// One estimate: the bound's value on the training batch of `step`.
public struct MutualInformationEstimate: Codable, Sendable, Equatable {
    public let bound: String
    public let critic: String
    public let seed: UInt64
    public let step: Int
    public let trueMI: Double
    public let estimate: Double

    public init(bound: String, critic: String, seed: UInt64, step: Int, trueMI: Double, estimate: Double) {
        (self.bound, self.critic, self.seed, self.step, self.trueMI, self.estimate) = (bound, critic, seed, step, trueMI, estimate)
    }

    enum CodingKeys: String, CodingKey {
        case bound, critic, seed, step, estimate
        case trueMI = "true_mi"
    }
}

/// Bias and variance of one bound at one MI level: over the second half of the level's steps (the critic has had
/// the first half to adapt), per seed, then averaged over the seeds.
public struct MutualInformationLevelSummary: Codable, Sendable {
    public let bound: String
    public let critic: String
    public let trueMI: Double
    /// Mean of (estimate − truth) over the window, averaged over seeds.
    public let bias: Double
    /// Variance of the estimates over the window, averaged over seeds.
    public let variance: Double
    /// Standard deviation of the per-seed biases (how much the seeds disagree).
    public let biasSpread: Double
    public let seeds: Int
    /// Seeds whose estimate became non-finite before or during this level (left out of the figures).
    public let diverged: Int

    enum CodingKeys: String, CodingKey {
        case bound, critic, bias, variance, seeds, diverged
        case trueMI = "true_mi"
        case biasSpread = "bias_spread"
    }
}

public enum MutualInformationBenchmark {
    /// A bound's run for one seed: its estimates in step order, and the step at which it diverged, if it did.
    public struct Trace: Sendable {
        public let bound: MutualInformationBound
        public let seed: UInt64
        public let estimates: [MutualInformationEstimate]
        public let divergedAt: Int?
        public let seconds: Double

        public init(bound: MutualInformationBound, seed: UInt64, estimates: [MutualInformationEstimate], divergedAt: Int?,
                    seconds: Double) {
            (self.bound, self.seed, self.estimates, self.divergedAt, self.seconds) = (bound, seed, estimates, divergedAt, seconds)
        }
    }

    /// The batch of `step`: the same for every bound and critic of a seed.
    public static func batch(step: Int, seed: UInt64, config: MutualInformationBenchmarkConfig) -> (x: Tensor, y: Tensor, trueMI: Double) {
        let information = config.schedule[config.level(ofStep: step)]
        var generator = RandomGenerator(seed: seed, stream: 0x4D49_0000_0000 &+ UInt64(step))
        let rho = CorrelatedGaussian.correlation(forInformation: information, dimension: config.dimension)
        let (x, y) = CorrelatedGaussian.sample(batchSize: config.batchSize, dimension: config.dimension, correlation: rho,
                                               generator: &generator)
        return (x, y, information)
    }

    /// The critic of the config, initialised from `seed`.
    public static func makeCritic(_ config: MutualInformationBenchmarkConfig, seed: UInt64) -> any Critic {
        var generator = RandomGenerator(seed: seed, stream: 1)
        switch config.critic {
        case .separable:
            return SeparableCritic(inputSize: config.dimension, hiddenSize: config.hiddenSize, hiddenLayers: config.hiddenLayers,
                                   embeddingSize: config.embeddingSize, generator: &generator)
        case .concat:
            return ConcatCritic(inputSize: config.dimension, hiddenSize: config.hiddenSize, hiddenLayers: config.hiddenLayers,
                                generator: &generator)
        }
    }

    /// Trains a fresh critic (and baseline a(y), when the bound has one) on `bound` with Adam, one batch per step, and
    /// records the bound's value on each batch. Stops early, noting the step, when the estimate is no longer finite.
    /// `report(step, estimate)` is called after every step.
    public static func train(_ bound: MutualInformationBound, seed: UInt64, config: MutualInformationBenchmarkConfig,
                             report: (Int, Double) -> Void = { _, _ in }) -> Trace {
        let began = DispatchTime.now().uptimeNanoseconds
        let critic = makeCritic(config, seed: seed)
        var generator = RandomGenerator(seed: seed, stream: 2)
        // log a(y): an MLP of the critic's hidden shape with one output.
        let baseline = bound.needsBaseline
            ? makeMLP(inputSize: config.dimension, hiddenSizes: [Int](repeating: config.hiddenSize, count: config.hiddenLayers),
                      outputSize: 1, generator: &generator)
            : nil
        let parameters = critic.parameters.map { ("critic.\($0.name)", $0.tensor) }
            + (baseline?.parameters.map { ("baseline.\($0.name)", $0.tensor) } ?? [])
        let optimizer = Adam(parameters: parameters, learningRate: config.learningRate)
        var movingAverage: Float?
        var estimates: [MutualInformationEstimate] = []
        estimates.reserveCapacity(config.steps)
        var divergedAt: Int?
        for step in 0..<config.steps {
            let (x, y, information) = batch(step: step, seed: seed, config: config)
            optimizer.zeroGrad()
            let scores = critic.scores(x, y)
            let logBaselines = baseline.map { $0(y).reshaped([config.batchSize]) }
            let result = MutualInformationBounds.evaluate(bound, scores: scores, logBaselines: logBaselines, alpha: config.alpha,
                                                          clip: config.clip, movingAverage: movingAverage, momentum: config.momentum)
            let estimate = Double(result.bound.item)
            guard estimate.isFinite else { divergedAt = step; break }
            movingAverage = result.movingAverage
            (-result.bound).backward()
            optimizer.step()
            estimates.append(MutualInformationEstimate(bound: bound.rawValue, critic: config.critic.rawValue, seed: seed, step: step,
                                                       trueMI: information, estimate: estimate))
            report(step, estimate)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) * 1e-9
        return Trace(bound: bound, seed: seed, estimates: estimates, divergedAt: divergedAt, seconds: seconds)
    }

    /// Bias and variance per bound and level (second half of each level, per seed, averaged over seeds).
    public static func summarize(_ traces: [Trace], config: MutualInformationBenchmarkConfig) -> [MutualInformationLevelSummary] {
        var result: [MutualInformationLevelSummary] = []
        let levelSteps = (0..<config.schedule.count).map { level in (0..<config.steps).filter { config.level(ofStep: $0) == level } }
        for bound in config.bounds {
            let boundTraces = traces.filter { $0.bound == bound }
            for (level, steps) in levelSteps.enumerated() where !steps.isEmpty {
                let window = steps.suffix(max(1, steps.count / 2))
                let truth = config.schedule[level]
                var biases: [Double] = [], variances: [Double] = []
                for trace in boundTraces {
                    guard let last = trace.estimates.last, last.step >= window.last! else { continue }
                    let values = trace.estimates[window.first!...window.last!].map(\.estimate)
                    let mean = values.reduce(0, +) / Double(values.count)
                    biases.append(mean - truth)
                    variances.append(values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(values.count - 1, 1)))
                }
                let count = Double(max(biases.count, 1))
                let meanBias = biases.reduce(0, +) / count
                let spread = biases.count > 1
                    ? (biases.map { ($0 - meanBias) * ($0 - meanBias) }.reduce(0, +) / Double(biases.count - 1)).squareRoot() : 0
                result.append(MutualInformationLevelSummary(
                    bound: bound.rawValue, critic: config.critic.rawValue, trueMI: truth,
                    bias: biases.isEmpty ? .nan : meanBias, variance: biases.isEmpty ? .nan : variances.reduce(0, +) / count,
                    biasSpread: spread, seeds: biases.count, diverged: boundTraces.count - biases.count))
            }
        }
        return result
    }

    /// The summary as a Markdown table: one row per bound, bias / variance at each level.
    public static func table(_ summary: [MutualInformationLevelSummary], config: MutualInformationBenchmarkConfig) -> String {
        let levels = config.schedule
        var text = "| bound | " + levels.map { String(format: "%g nats: bias / variance", $0) }.joined(separator: " | ") + " |\n"
        text += "|---|" + levels.map { _ in "---|" }.joined() + "\n"
        for bound in config.bounds {
            let cells = levels.map { level -> String in
                guard let row = summary.first(where: { $0.bound == bound.rawValue && $0.trueMI == level }), row.seeds > 0 else {
                    return "diverged"
                }
                let spread = row.seeds > 1 ? String(format: " (±%.2f)", row.biasSpread) : ""
                let note = row.diverged > 0 ? " (\(row.diverged) diverged)" : ""
                return String(format: "%+.2f%@ / %.2f", row.bias, spread, row.variance) + note
            }
            text += "| \(bound.rawValue) | " + cells.joined(separator: " | ") + " |\n"
        }
        return text
    }

    /// One panel per bound (the first seed): raw estimates (faint), their exponential moving average, the true MI and
    /// log N (dashed), as in Poole et al.'s figure 2.
    public static func plot(_ traces: [Trace], config: MutualInformationBenchmarkConfig) -> String {
        let columns = min(4, max(config.bounds.count, 1)), rows = (config.bounds.count + columns - 1) / columns
        let panelWidth = 360.0, panelHeight = 260.0
        let logN = Foundation.log(Double(config.batchSize))
        let top = (config.schedule.max() ?? 10) + 4
        var body = ""
        for (index, bound) in config.bounds.enumerated() {
            guard let trace = traces.first(where: { $0.bound == bound }) else { continue }
            let stride = max(1, trace.estimates.count / 1500)
            let raw = Swift.stride(from: 0, to: trace.estimates.count, by: stride).map { trace.estimates[$0] }
            var smoothed: [(x: Double, y: Double)] = []
            var average: Double?
            for (offset, e) in trace.estimates.enumerated() {
                average = average.map { 0.99 * $0 + 0.01 * e.estimate } ?? e.estimate
                if offset % stride == 0 { smoothed.append((Double(e.step), average!)) }
            }
            let truth = (0..<config.steps).map { (x: Double($0), y: config.schedule[config.level(ofStep: $0)]) }
                .enumerated().filter { $0.offset % stride == 0 || $0.offset == config.steps - 1 }.map(\.element)
            let series = [
                RunReport.Series(name: "", points: raw.map { (Double($0.step), $0.estimate) }, colour: "#1f77b4", strokeWidth: 0.7,
                                 opacity: 0.35),
                RunReport.Series(name: "", points: smoothed, colour: "#1f77b4", strokeWidth: 1.8),
                RunReport.Series(name: "", points: truth, colour: "#000000", strokeWidth: 1.2),
                RunReport.Series(name: "", points: [(0, logN), (Double(config.steps), logN)], colour: "#d62728", dashed: true),
            ]
            let title = bound.rawValue + (trace.divergedAt.map { " (diverged at step \($0))" } ?? "")
            body += RunReport.chart(title: title, xLabel: "step", yLabel: "nats", series: series,
                                    originX: Double(index % columns) * panelWidth, originY: Double(index / columns) * panelHeight,
                                    width: panelWidth, height: panelHeight, legendWidth: 20, yRange: -2...top)
        }
        let width = Int(Double(columns) * panelWidth), height = Int(Double(rows) * panelHeight) + 30
        let legend = "<text x=\"10\" y=\"\(height - 10)\">\(config.critic.rawValue) critic, D = \(config.dimension), N = "
            + "\(config.batchSize): estimate (faint), its moving average (blue), true MI (black), log N (red, dashed)</text>\n"
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """ + body + legend + "</svg>\n"
    }
}
