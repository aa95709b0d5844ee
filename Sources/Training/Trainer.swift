// The training loop: batches from the background loader, loss, backward, clipping, schedule, optimiser step; JSONL
// logs, progress, validation, checkpoints, exact resume, NaN guard and Ctrl-C.
//
// Run folder: config.json (resolved config), log.jsonl (one object per logged step), checkpoints/step-N.safetensors
// (+ .optimizer.safetensors, .json sidecar), final.safetensors (+ sidecar).

import AudioFrontEnd
import Foundation
import ImageFrontEnd
import Layers
import Methods
import TensorCore

/// A training failure a user can act on.
public struct TrainingError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Set by SIGINT; the loop checkpoints and stops at the end of the current step.
nonisolated(unsafe) private var interruptRequested: sig_atomic_t = 0

/// What a finished (or stopped) run reports.
public struct TrainingSummary: Sendable {
    public let completedSteps: Int
    public let finalLoss: Float
    public let interrupted: Bool
    public let seconds: Double
}

public final class Trainer {
    public let config: RunConfig
    public let directory: URL
    public let method: any Method
    let pipeline: any TrainingPipeline
    public let optimizer: any Optimizer
    let schedule: any LearningRateSchedule
    /// Where progress lines go (stdout by default).
    public var output: (String) -> Void = { print($0); fflush(nil) }
    /// Stop after this many steps of this invocation (tests use it to simulate an interruption).
    public var stopAfterSteps: Int?

    /// Builds the method named by `config.method` and its data pipeline (reading the corpus index).
    public init(config: RunConfig, directory: URL) throws {
        self.config = config
        self.directory = directory
        if let image = config.image {
            let pipeline = try ImagePipeline(config: image.data, seed: config.training.seed)
            method = CPCImage(config: image.model, rows: pipeline.rows, columns: pipeline.columns,
                              imageChannels: pipeline.train.set.channels, seed: config.training.seed)
            self.pipeline = pipeline
        } else {
            method = CPCAudio(config: config.model, seed: config.training.seed)
            pipeline = try AudioPipeline(config: config.data, seed: config.training.seed)
        }
        let parameters = method.model.parameters
        let o = config.optimizer
        switch o.type {
        case .adam: optimizer = Adam(parameters: parameters, learningRate: o.learningRate, betas: (o.betas[0], o.betas[1]),
                                     epsilon: o.epsilon, weightDecay: o.weightDecay)
        case .adamw: optimizer = Adam.adamW(parameters: parameters, learningRate: o.learningRate,
                                            betas: (o.betas[0], o.betas[1]), epsilon: o.epsilon, weightDecay: o.weightDecay)
        case .sgd: optimizer = SGD(parameters: parameters, learningRate: o.learningRate, momentum: o.momentum, weightDecay: o.weightDecay)
        case .lars: optimizer = LARS(parameters: parameters, learningRate: o.learningRate, momentum: o.momentum, weightDecay: o.weightDecay)
        }
        switch o.schedule {
        case .constant:
            schedule = o.warmupSteps > 0
                ? WarmupCosineSchedule(baseRate: o.learningRate, warmupSteps: o.warmupSteps, totalSteps: Int.max / 2,
                                       finalRate: o.learningRate)
                : ConstantSchedule(rate: o.learningRate)
        case .cosine:
            schedule = WarmupCosineSchedule(baseRate: o.learningRate, warmupSteps: o.warmupSteps,
                                            totalSteps: max(config.training.steps, o.warmupSteps), finalRate: o.finalLearningRate)
        }
    }

    var checkpointsFolder: URL { directory.appendingPathComponent("checkpoints") }

    /// The newest complete checkpoint (one with a sidecar) in the run folder, if any.
    public func newestCheckpoint() -> (path: String, step: Int)? {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: checkpointsFolder.path)) ?? []
        return files.compactMap { name -> (String, Int)? in
            guard name.hasPrefix("step-"), name.hasSuffix(".safetensors"), !name.hasSuffix(".optimizer.safetensors"),
                  let step = Int(name.dropFirst(5).dropLast(12)) else { return nil }
            let path = checkpointsFolder.appendingPathComponent(name).path
            return FileManager.default.fileExists(atPath: Checkpoint.sidecarPath(for: path)) ? (path, step) : nil
        }.max { $0.1 < $1.1 }
    }

    private func save(step: Int, to path: String, metrics: [String: Float]) throws {
        let sidecar = CheckpointSidecar(step: step, config: try JSONValue.from(config),
                                        extra: metrics.mapValues { .number(Double($0)) })
        try Checkpoint.save(model: method.model, optimizer: optimizer, sidecar: sidecar, to: path)
    }

    /// Mean loss over the fixed validation batches, in evaluation mode without gradients.
    private func validationLoss() throws -> Float? {
        guard pipeline.hasValidation, config.training.validationBatches > 0 else { return nil }
        method.model.setTraining(false)
        defer { method.model.setTraining(true) }
        var total: Float = 0
        for i in 0..<config.training.validationBatches {
            let batch = try pipeline.validationBatch(i)
            total += withoutGrad { method.loss(batch).loss.item }
        }
        return total / Float(config.training.validationBatches)
    }

    /// Trains from step 0, or from the newest checkpoint when `resume` is set.
    public func run(resume: Bool) throws -> TrainingSummary {
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: checkpointsFolder, withIntermediateDirectories: true)
        var startStep = 0
        let logURL = directory.appendingPathComponent("log.jsonl")
        if resume, let (path, step) = newestCheckpoint() {
            let sidecar = try Checkpoint.readSidecar(for: path)
            if let stored = sidecar.config, stored != (try JSONValue.from(config)) {
                let s = try? JSONDecoder().decode(RunConfig.self, from: JSONEncoder().encode(stored))
                if s?.method != config.method || s?.model != config.model || s?.data != config.data || s?.image != config.image
                    || s?.optimizer != config.optimizer {
                    throw TrainingError(message: "\(Checkpoint.sidecarPath(for: path)): the checkpoint was trained with a different "
                        + "config (model, data or optimizer); resume with the same config or start a new --out folder")
                }
            }
            _ = try Checkpoint.load(model: method.model, optimizer: optimizer, from: path)
            startStep = step
            // Keep the log lines up to the checkpoint, so the resumed log reads like an uninterrupted one.
            if let text = try? String(contentsOf: logURL, encoding: .utf8) {
                let kept = text.split(separator: "\n").filter { line in
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                          let s = object["step"] as? Int else { return false }
                    return s <= step
                }
                try SafeTensors.writeAtomically(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: logURL.path)
            }
            output("resuming from \(path) at step \(step)")
        } else {
            if resume { output("no checkpoint in \(checkpointsFolder.path); starting from step 0") }
            try? fileManager.removeItem(at: logURL)
        }
        try SafeTensors.writeAtomically(try config.json(), to: directory.appendingPathComponent("config.json").path)
        if !fileManager.fileExists(atPath: logURL.path) { _ = fileManager.createFile(atPath: logURL.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }
        try log.seekToEnd()

        let totalSteps = config.training.steps
        if startStep >= totalSteps {
            output("already trained for \(startStep) steps (config asks for \(totalSteps)); nothing to do")
            return TrainingSummary(completedSteps: startStep, finalLoss: .nan, interrupted: false, seconds: 0)
        }
        let loader = pipeline.loader(firstBatch: startStep)
        defer { loader.stop() }
        interruptRequested = 0
        let previousHandler = signal(SIGINT) { _ in
            interruptRequested = 1
            signal(SIGINT, SIG_DFL)  // a second Ctrl-C stops at once
        }
        defer { signal(SIGINT, previousHandler) }

        let progress = Progress(total: totalSteps, start: startStep, isTerminal: isatty(1) != 0, output: output)
        let started = DispatchTime.now().uptimeNanoseconds
        var lastLoss: Float = .nan
        var lastMetrics: [String: Float] = [:]
        var windowItems = 0, windowStart = started
        method.model.setTraining(true)
        var step = startStep
        var interrupted = false
        while step < totalSteps {
            let batch = try loader.next()
            precondition(batch.index == step, "loader out of order")
            let (loss, metrics) = method.loss(batch)
            let value = loss.item
            if !value.isFinite {
                throw TrainingError(message: "the loss became \(value) at step \(step + 1); stopping. The last good checkpoint "
                    + "is kept in \(checkpointsFolder.path) (try a lower optimizer.learning_rate or optimizer.clip_norm)")
            }
            optimizer.zeroGrad()
            loss.backward()
            if let clip = config.optimizer.clipNorm { clipGradientNorm(method.model.parameters.map(\.tensor), maxNorm: clip) }
            optimizer.learningRate = schedule.learningRate(atStep: step)
            optimizer.step()
            method.afterStep(step)
            step += 1
            lastLoss = value
            lastMetrics = metrics
            windowItems += pipeline.itemsPerBatch
            let now = DispatchTime.now().uptimeNanoseconds
            let isLast = step == totalSteps
            let validate = step % config.training.validateEvery == 0 || isLast
            let validation = validate ? try validationLoss() : nil
            if step % config.training.logEvery == 0 || isLast || validation != nil {
                var entry: [String: Any] = [
                    "step": step, "loss": Double(value), "learning_rate": Double(optimizer.learningRate),
                    "\(pipeline.unit)_per_second": Double(windowItems) / max(Double(now - windowStart) * 1e-9, 1e-9),
                    "elapsed_seconds": Double(now - started) * 1e-9,
                ]
                for (key, metric) in metrics { entry[key] = Double(metric) }
                if let validation { entry["validation_loss"] = Double(validation) }
                var line = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
                line.append(0x0A)
                try log.write(contentsOf: line)
                progress.update(step: step, loss: value, accuracy: metrics["accuracy_k1"] ?? 0, validation: validation,
                                itemsPerSecond: entry["\(pipeline.unit)_per_second"] as! Double, unit: pipeline.unit)
                windowItems = 0
                windowStart = now
            }
            let stopHere = interruptRequested != 0 || (stopAfterSteps.map { step - startStep >= $0 } ?? false)
            if step % config.training.checkpointEvery == 0 || isLast || stopHere {
                try save(step: step, to: checkpointsFolder.appendingPathComponent("step-\(step).safetensors").path, metrics: metrics)
            }
            if stopHere && !isLast {
                interrupted = true
                progress.finish()
                output("stopped at step \(step); checkpoint written. Continue with --resume.")
                break
            }
        }
        if !interrupted {
            progress.finish()
            try save(step: step, to: directory.appendingPathComponent("final.safetensors").path, metrics: lastMetrics)
        }
        return TrainingSummary(completedSteps: step, finalLoss: lastLoss, interrupted: interrupted,
                               seconds: Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9)
    }
}

/// A progress bar with ETA on a terminal; plain lines otherwise.
final class Progress {
    let total, start: Int
    let isTerminal: Bool
    let output: (String) -> Void
    let began = DispatchTime.now().uptimeNanoseconds

    init(total: Int, start: Int, isTerminal: Bool, output: @escaping (String) -> Void) {
        (self.total, self.start, self.isTerminal, self.output) = (total, start, isTerminal, output)
    }

    func update(step: Int, loss: Float, accuracy: Float, validation: Float?, itemsPerSecond: Double, unit: String) {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - began) * 1e-9
        let rate = Double(step - start) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(total - step) / rate : 0
        let status = String(format: "step %d/%d  loss %.4f  acc@1 %.3f%@  %.0f %@/s  ETA %@", step, total, loss, accuracy,
                            validation.map { String(format: "  val %.4f", $0) } ?? "", itemsPerSecond, unit, Progress.clock(eta))
        if isTerminal {
            let width = 30, filled = Int(Double(width) * Double(step) / Double(max(total, 1)))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardOutput.write(Data("\r\(bar) \(status)\u{1B}[K".utf8))
        } else {
            output(status)
        }
    }

    func finish() { if isTerminal { FileHandle.standardOutput.write(Data("\n".utf8)) } }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// What the trainer needs from a front end: training batches in order (built ahead in the background) and fixed
/// validation batches.
protocol TrainingPipeline {
    func loader(firstBatch: Int) -> PrefetchLoader<Batch>
    var hasValidation: Bool { get }
    func validationBatch(_ index: Int) throws -> Batch
    /// Items (audio samples, images) per training batch, and their name in logs.
    var itemsPerBatch: Int { get }
    var unit: String { get }
}

/// Random windows of the training utterances; validation windows from the validation split.
struct AudioPipeline: TrainingPipeline {
    let sampler: WindowSampler
    let validationSampler: WindowSampler?
    let cache: AudioCache
    let prefetch: Int

    init(config data: DataConfig, seed: UInt64) throws {
        let corpus = try Corpus.load(data.corpus)
        let trainIDs = try data.trainSplit.map { try SplitFile.read($0) } ?? corpus.utterances.map(\.id)
        sampler = try WindowSampler(corpus: corpus, utteranceIDs: trainIDs, lengths: try Self.lengths(of: corpus, ids: trainIDs),
                                    windowLength: data.window, batchSize: data.batchSize, mode: data.sampling, seed: seed)
        if let split = data.validationSplit {
            let ids = try SplitFile.read(split)
            validationSampler = try WindowSampler(corpus: corpus, utteranceIDs: ids, lengths: try Self.lengths(of: corpus, ids: ids),
                                                  windowLength: data.window, batchSize: data.batchSize, mode: .mixed,
                                                  seed: seed &+ 7777)
        } else {
            validationSampler = nil
        }
        cache = AudioCache(capacityBytes: data.cacheMegabytes << 20)
        prefetch = data.prefetch
    }

    /// Sample counts of the utterances the sampler may draw, from headers.
    private static func lengths(of corpus: Corpus, ids: [String]) throws -> [String: Int] {
        var lengths: [String: Int] = [:]
        for id in ids {
            guard let u = corpus.utterance(id) else { continue }
            lengths[id] = try AudioDecoder.info(u.path).frames(atRate: 16000)
        }
        return lengths
    }

    func loader(firstBatch: Int) -> PrefetchLoader<Batch> {
        let (sampler, cache) = (sampler, cache)
        return PrefetchLoader(firstBatch: firstBatch, prefetch: prefetch) { try sampler.batch($0, cache: cache).batch }
    }
    var hasValidation: Bool { validationSampler != nil }
    func validationBatch(_ index: Int) throws -> Batch { try validationSampler!.batch(index, cache: cache).batch }
    var itemsPerBatch: Int { sampler.batchSize * sampler.windowLength }
    var unit: String { "samples" }
}

/// Augmented patch grids of random training images; unaugmented grids of test images for validation.
struct ImagePipeline: TrainingPipeline {
    let train: PatchBatchSampler
    let validation: PatchBatchSampler?
    let rows: Int, columns: Int
    let prefetch: Int

    init(config data: ImageDataConfig, seed: UInt64) throws {
        let set = try ImageCorpus.load(data.corpus, split: .train)
        (rows, columns) = try data.gridShape(for: set)
        let extractor = PatchExtractor(grid: data.grid, augmentation: data.augmentation)
        train = PatchBatchSampler(set: set, extractor: extractor, batchSize: data.batchSize, seed: seed)
        if data.validate {
            let test = try ImageCorpus.load(data.corpus, split: .test)
            guard (test.height, test.width, test.channels) == (set.height, set.width, set.channels) else {
                throw ImageError(path: data.corpus, problem: "test images are \(test.height)×\(test.width)×\(test.channels) but "
                    + "training images \(set.height)×\(set.width)×\(set.channels); the validation grids must match the training ones")
            }
            validation = PatchBatchSampler(set: test, extractor: extractor, batchSize: data.batchSize, seed: seed &+ 7777)
        } else {
            validation = nil
        }
        prefetch = data.prefetch
    }

    func loader(firstBatch: Int) -> PrefetchLoader<Batch> {
        let train = train
        return PrefetchLoader(firstBatch: firstBatch, prefetch: prefetch) { train.batch($0) }
    }
    var hasValidation: Bool { validation != nil }
    func validationBatch(_ index: Int) throws -> Batch { validation!.batch(index, augment: false) }
    var itemsPerBatch: Int { train.batchSize }
    var unit: String { "images" }
}
