// `cpc bench`: measured speed of the kernels (and, later, features and training steps).

import ArgumentParser
import Foundation
import TensorCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: kernels (sgemm and the CPC encoder's convolutions) and audio features.",
        subcommands: [BenchKernels.self, BenchFeatures.self, BenchTrain.self])
}

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "sgemm GFLOP/s and the forward+backward GFLOP/s of each conv layer of the CPC encoder.")

    @OptionGroup var threadOptions: ThreadOptions
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Option(help: "Timed runs per measurement; the median is reported.") var repeats = 3
    @Option(help: "Order of the square sgemm.") var sgemmSize = 2048
    @Option(help: "Batch size of the encoder input.") var batch = 8
    @Option(help: "Samples per window of the encoder input.") var samples = 20480
    @Option(help: "Channels of every encoder layer.") var channels = 512

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        guard sgemmSize >= 1, batch >= 1, channels >= 1 else {
            throw ValidationError("--sgemm-size, --batch and --channels must be positive")
        }
        guard samples >= 160 else { throw ValidationError("--samples must be at least 160 (one encoder frame), got \(samples)") }
    }

    func run() throws {
        let threads = threadOptions.apply()
        let report = KernelBenchmark(repeats: repeats, sgemmSize: sgemmSize, batch: batch, samples: samples,
                                     channels: channels).run()
        if json {
            var object = report.jsonObject
            object["threads"] = threads
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("threads \(threads), load average before \(report.loadAverage)")
            print(String(format: "sgemm %d×%d: %.1f GFLOP/s", sgemmSize, sgemmSize, report.sgemmGflops))
            print("layer  kernel stride  input            output           GFLOP   ms      GFLOP/s")
            for layer in report.layers {
                let shapes = "\(layer.inputShape)".padding(toLength: 17, withPad: " ", startingAt: 0)
                    + "\(layer.outputShape)".padding(toLength: 17, withPad: " ", startingAt: 0)
                print(String(format: "%-6d %-6d %-6d  ", layer.index, layer.kernel, layer.stride) + shapes
                    + String(format: "%-7.2f %-7.1f %.1f", layer.gflop, layer.seconds * 1000, layer.gflops))
            }
            print(String(format: "encoder forward+backward: %.1f GFLOP/s = %.0f%% of sgemm",
                         report.encoderGflops, 100 * report.encoderGflops / report.sgemmGflops))
        }
    }
}

/// Times sgemm and the CPC encoder's conv layers (median of several runs each).
struct KernelBenchmark {
    struct Layer {
        var index, kernel, stride: Int
        var inputShape, outputShape: [Int]
        var gflop, seconds: Double
        var gflops: Double { gflop / seconds }
    }

    struct Report {
        var sgemmGflops: Double
        var layers: [Layer]
        var loadAverage: String
        var encoderGflops: Double {
            layers.map(\.gflop).reduce(0, +) / layers.map(\.seconds).reduce(0, +)
        }
        var jsonObject: [String: Any] {
            [
                "sgemm_gflops": sgemmGflops,
                "encoder_gflops": encoderGflops,
                "encoder_fraction_of_sgemm": encoderGflops / sgemmGflops,
                "load_average_before": loadAverage,
                "layers": layers.map {
                    ["layer": $0.index, "kernel": $0.kernel, "stride": $0.stride, "input_shape": $0.inputShape,
                     "output_shape": $0.outputShape, "gflop": $0.gflop, "seconds": $0.seconds, "gflops": $0.gflops]
                        as [String: Any]
                },
            ]
        }
    }

    let repeats, sgemmSize, batch, samples, channels: Int

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : 0.5 * (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2])
    }

    /// Runs `body` once to warm up, then `repeats` times; returns the median seconds.
    static func medianSeconds(repeats: Int, _ body: () throws -> Void) rethrows -> Double {
        try body()
        var seconds: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return median(seconds)
    }

    /// The median seconds of `body` over this benchmark's repeats (after one warm-up run).
    func time(_ body: () -> Void) -> Double { KernelBenchmark.medianSeconds(repeats: repeats, body) }

    func run() -> Report {
        let loadAverage = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
            .split(separator: " ").prefix(3).joined(separator: " ") ?? "unknown"
        var generator = RandomGenerator(seed: 1)
        let n = sgemmSize
        let a = Tensor.uniform([n, n], low: -1, high: 1, generator: &generator)
        let b = Tensor.uniform([n, n], low: -1, high: 1, generator: &generator)
        let sgemmSeconds = time { _ = withoutGrad { matmul(a, b) } }
        let sgemmGflops = 2 * pow(Double(n), 3) / sgemmSeconds * 1e-9

        // The CPC encoder (van den Oord et al. 2018): kernels 10/8/4/4/4, strides 5/4/2/2/2.
        let kernels = [10, 8, 4, 4, 4], strides = [5, 4, 2, 2, 2]
        var input = Tensor.uniform([batch, samples, 1], low: -1, high: 1, generator: &generator)
        var layers: [Layer] = []
        for (index, (kernel, stride)) in zip(kernels, strides).enumerated() {
            let inChannels = input.shape[2]
            let bound = 1 / Float(inChannels * kernel).squareRoot()
            let weight = Tensor.uniform([channels, inChannels, kernel], low: -bound, high: bound, generator: &generator)
            let bias = Tensor.uniform([channels], low: -bound, high: bound, generator: &generator)
            weight.requiresGrad = true
            bias.requiresGrad = true
            // The first layer reads raw audio, which needs no gradient; the others back-propagate to their input.
            let layerInput = input.detached()
            layerInput.requiresGrad = index > 0
            var outputShape: [Int] = []
            let seconds = time {
                let output = conv1d(layerInput, weight: weight, bias: bias, stride: stride)
                outputShape = output.shape
                output.backward(Tensor.ones(output.shape))
                weight.zeroGrad()
                bias.zeroGrad()
                layerInput.zeroGrad()
            }
            let forwardFlop = 2.0 * Double(outputShape[0] * outputShape[1]) * Double(channels * inChannels * kernel)
            let passes = index > 0 ? 3.0 : 2.0  // forward, weight gradient, input gradient
            layers.append(Layer(index: index + 1, kernel: kernel, stride: stride, inputShape: layerInput.shape,
                                outputShape: outputShape, gflop: passes * forwardFlop * 1e-9, seconds: seconds))
            input = withoutGrad { conv1d(layerInput.detached(), weight: weight.detached(), bias: bias.detached(), stride: stride).relu() }
        }
        return Report(sgemmGflops: sgemmGflops, layers: layers, loadAverage: loadAverage)
    }
}
