// `cpc bench train`: milliseconds per training step (forward, backward, optimiser) with a breakdown by phase, for
// any registered method: audio CPC on random audio with its FLOP count, every other method on the batches of its
// own data pipeline.

import ArgumentParser
import Foundation
import Layers
import Methods
import Objectives
import TensorCore
import Training

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Median time per training step of a config, by phase (audio CPC: on random audio, with FLOPs and GFLOP/s).")

    @Option(help: "Config file (YAML).") var config: String
    @Option(help: "Timed steps; the median is reported.") var steps = 5
    @Option(help: "Warm-up steps (not timed).") var warmup = 1
    @OptionGroup var threadOptions: ThreadOptions
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard steps >= 1, warmup >= 0 else { throw ValidationError("--steps must be positive and --warmup not negative") }
    }

    /// Floating-point operations of one step (forward, and backward counted as twice the forward of each GEMM).
    static func flops(_ config: RunConfig) -> Double {
        let m = config.model[as: CPCConfig.self], n = Double(config.data.audio.batchSize)
        var length = config.data.audio.window, channels = 1, total = 0.0
        for (index, (kernel, stride)) in zip(m.encoder.kernels, m.encoder.strides).enumerated() {
            let out = (length - kernel) / stride + 1
            let forward = 2 * n * Double(out) * Double(m.encoder.channels) * Double(channels * kernel)
            total += forward * (index == 0 ? 2 : 3)
            length = out
            channels = m.encoder.channels
        }
        let t = Double(length), h = Double(m.context.hidden), c = Double(m.encoder.channels)
        let gates = (m.context.type == .gru ? 3.0 : 4.0) * h
        for layer in 0..<m.context.layers {
            let input = layer == 0 ? c : h
            total += 3 * (2 * n * t * input * gates + 2 * n * t * h * gates)
        }
        let w = t - Double(m.predictionSteps), k = Double(m.predictionSteps), negatives = Double(m.negatives)
        total += 3 * 2 * n * w * h * k * c            // predictions
        total += 3 * 2 * n * w * k * (negatives + 1) * c  // scores
        return total
    }

    func run() throws {
        let threads = threadOptions.apply()
        let runConfig = try RunConfig.load(config)
        guard let model = runConfig.model.typed(CPCConfig.self) else { return try benchAnyMethod(runConfig, threads: threads) }
        let method = CPCAudio(config: model, seed: runConfig.training.seed)
        let network = method.network
        let optimizer = Adam(parameters: method.model.parameters, learningRate: runConfig.optimizer.learningRate)
        var generator = RandomGenerator(seed: 5)
        let n = runConfig.data.audio.batchSize, window = runConfig.data.audio.window
        var phases: [String: [Double]] = [:]
        var totals: [Double] = []
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        for step in 0..<(warmup + steps) {
            let audio = Tensor.uniform([n, window], low: -0.5, high: 0.5, generator: &generator)
            let speakers = (0..<n).map { $0 % 4 }
            let t0 = now()
            let z = network.encode(audio)
            let t1 = now()
            let c = network.contextualize(z)
            let t2 = now()
            let k = model.predictionSteps, positions = z.shape[1] - k
            let predictions = network.predict(c, positions: positions)
            var negativeGenerator = method.negativeGenerator(batch: step)
            let negatives = KStepInfoNCE.sampleNegatives(mode: model.negativeSampling, sequences: n, frames: z.shape[1],
                                                    positions: positions, count: model.negatives,
                                                    speakers: speakers, generator: &negativeGenerator)
            let loss = KStepInfoNCE.loss(logits: KStepInfoNCE.logits(predictions: predictions, encoded: z, negatives: negatives,
                                                           negativeCount: model.negatives)).loss
            let t3 = now()
            optimizer.zeroGrad()
            loss.backward()
            let t4 = now()
            optimizer.step()
            let t5 = now()
            guard step >= warmup else { continue }
            for (name, start, end) in [("encoder", t0, t1), ("context", t1, t2), ("criterion", t2, t3), ("backward", t3, t4),
                                       ("optimizer", t4, t5)] {
                phases[name, default: []].append(Double(end - start) * 1e-6)
            }
            totals.append(Double(t5 - t0) * 1e-6)
        }
        let milliseconds = KernelBenchmark.median(totals)
        let gflop = Self.flops(runConfig) * 1e-9
        let breakdown = phases.mapValues { KernelBenchmark.median($0) }
        var rusage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &rusage)
        let result: [String: Any] = [
            "config": config, "threads": threads, "batch": n, "window": window,
            "milliseconds_per_step": milliseconds, "samples_per_second": Double(n * window) / (milliseconds * 1e-3),
            "gflop_per_step": gflop, "gflops": gflop / (milliseconds * 1e-3), "phases_milliseconds": breakdown,
            "peak_rss_megabytes": Double(rusage.ru_maxrss) / 1024,
        ]
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "%@: batch %d × %d, %d thread(s)", config, n, window, threads))
            print(String(format: "step %.1f ms (median of %d), %.1f GFLOP, %.1f GFLOP/s, peak RSS %.0f MiB", milliseconds, steps,
                         gflop, gflop / (milliseconds * 1e-3), Double(rusage.ru_maxrss) / 1024))
            for name in ["encoder", "context", "criterion", "backward", "optimizer"] {
                print(String(format: "  %-10@ %8.1f ms", name as NSString, breakdown[name] ?? 0))
            }
        }
    }

    /// Any registered method on its own pipeline's batches: forward (loss), backward, optimiser (with the hooks).
    func benchAnyMethod(_ runConfig: RunConfig, threads: Int) throws -> Void {
        let pipeline = try makePipeline(runConfig.data, seed: runConfig.training.seed)
        let method = try runConfig.makeMethod(input: pipeline.inputShape)
        let optimizer = OptimizerFactory.make(runConfig.optimizer, model: method.model)
        let loader = pipeline.loader(firstBatch: 0)
        defer { loader.stop() }
        var phases: [String: [Double]] = [:]
        var totals: [Double] = []
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        method.model.setTraining(true)
        for step in 0..<(warmup + steps) {
            let batch = try loader.next()
            let context = StepContext(step: step, totalSteps: warmup + steps, isTraining: true)
            let t0 = now()
            let output = method.loss(batch, context)
            let t1 = now()
            optimizer.zeroGrad()
            output.loss.backward()
            let t2 = now()
            method.beforeOptimizerStep(context)
            optimizer.step()
            method.afterOptimizerStep(output, context)
            let t3 = now()
            guard step >= warmup else { continue }
            for (name, start, end) in [("forward", t0, t1), ("backward", t1, t2), ("optimizer", t2, t3)] {
                phases[name, default: []].append(Double(end - start) * 1e-6)
            }
            totals.append(Double(t3 - t0) * 1e-6)
        }
        let milliseconds = KernelBenchmark.median(totals)
        let breakdown = phases.mapValues { KernelBenchmark.median($0) }
        var rusage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &rusage)
        let result: [String: Any] = [
            "config": config, "method": runConfig.method, "threads": threads, "batch": pipeline.itemsPerBatch,
            "milliseconds_per_step": milliseconds,
            "\(pipeline.unit)_per_second": Double(pipeline.itemsPerBatch) / (milliseconds * 1e-3),
            "phases_milliseconds": breakdown, "peak_rss_megabytes": Double(rusage.ru_maxrss) / 1024,
        ]
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "%@ (%@): %d %@ per batch, %d thread(s)", config, runConfig.method, pipeline.itemsPerBatch, pipeline.unit, threads))
            print(String(format: "step %.1f ms (median of %d), peak RSS %.0f MiB", milliseconds, steps, Double(rusage.ru_maxrss) / 1024))
            for name in ["forward", "backward", "optimizer"] {
                print(String(format: "  %-10@ %8.1f ms", name as NSString, breakdown[name] ?? 0))
            }
        }
    }
}
