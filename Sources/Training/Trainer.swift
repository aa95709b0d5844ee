// The training loop: batches from the background loader, loss, backward, clipping, schedule, optimiser step; JSONL
// logs, progress, validation, checkpoints, exact resume, NaN guard and Ctrl-C.
//
// Run folder: config.json (resolved config), log.jsonl (one object per logged step), events.out.tfevents.* (the same
// scalars for TensorBoard), checkpoints/step-N.safetensors (+ .optimizer.safetensors, .json sidecar), final.safetensors
// (+ sidecar), .lock (held while a run trains there). The folder protects its owner: one run at a time, an earlier
// run is continued (`resume`) or deliberately replaced (`overwrite`), never silently mixed with a new one.
//
// Data parallel (a `world` of several ranks, e.g. under mpirun): every rank builds global batch i from (seed, i) and
// keeps its rows; gradients are averaged over the ranks after backward; the loss, metrics and the stop decision are
// agreed through one small all-reduce per step; rank 0 alone writes the run folder. docs/DISTRIBUTED.md.

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

/// Set by SIGINT, SIGTERM or SIGUSR1; the loop checkpoints and stops at the end of the current step.
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
    public let pipeline: any TrainingPipeline
    public let optimizer: any Optimizer
    let schedule: any LearningRateSchedule
    /// Where progress lines go (stdout by default).
    public var output: (String) -> Void = { print($0); fflush(nil) }
    /// Stop after this many steps of this invocation (tests use it to simulate an interruption).
    public var stopAfterSteps: Int?
    /// Whether progress is shown (a bar on a terminal, lines through `output` otherwise).
    public var showsProgress = true
    /// The ranks training together (one process by default).
    public let world: any Collective
    /// The ranks the losses and batch statistics span: `world`, or this process alone with `training.loss_scope: rank`.
    let lossWorld: any Collective

    /// Builds the method named by `config.method` (through the registry) and its data pipeline, for this rank of
    /// `world`; `data.batch_size` is the global batch and must split evenly over the ranks.
    public init(config: RunConfig, directory: URL, world: any Collective = SingleProcess.world) throws {
        self.config = config
        self.directory = directory
        // Timed, so that logs show the share of each step spent communicating.
        self.world = world.size > 1 ? TimedCollective(world) : world
        if config.data.batchSize % world.size != 0 {
            throw ConfigError(key: "data.batch_size", message: "the global batch of \(config.data.batchSize) does not split over "
                + "\(world.size) ranks; use a multiple of \(world.size)")
        }
        pipeline = try makePipeline(config.data, seed: config.training.seed)
        method = try config.makeMethod(input: pipeline.inputShape)
        lossWorld = config.training.lossScope == .global ? self.world : SingleProcess.world
        method.model.synchronizeBatchNorm(over: lossWorld)
        optimizer = OptimizerFactory.make(config.optimizer, model: method.model)
        schedule = OptimizerFactory.schedule(config.optimizer, totalSteps: config.training.steps)
    }

    /// Whether this process writes the run folder (rank 0).
    var isRoot: Bool { world.rank == 0 }

    var checkpointsFolder: URL { directory.appendingPathComponent("checkpoints") }

    /// The newest complete checkpoint (one with a sidecar) in the run folder, if any.
    public func newestCheckpoint() -> (path: String, step: Int)? { completeCheckpoints().first }

    /// The complete checkpoints (with a sidecar) in the run folder, newest first.
    func completeCheckpoints() -> [(path: String, step: Int)] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: checkpointsFolder.path)) ?? []
        return files.compactMap { name -> (String, Int)? in
            guard name.hasPrefix("step-"), name.hasSuffix(".safetensors"), !name.hasSuffix(".optimizer.safetensors"),
                  let step = Int(name.dropFirst(5).dropLast(12)) else { return nil }
            let path = checkpointsFolder.appendingPathComponent(name).path
            return FileManager.default.fileExists(atPath: Checkpoint.sidecarPath(for: path)) ? (path, step) : nil
        }.sorted { $0.1 > $1.1 }
    }

    /// Takes the run folder's lock (`.lock`, an advisory `flock` the kernel drops when the process ends); throws when
    /// another process holds it. Returns the descriptor to close when the run ends.
    private func lockFolder() throws -> Int32 {
        let path = directory.appendingPathComponent(".lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw TrainingError(message: "\(path): cannot create the run folder's lock (errno \(errno))") }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw TrainingError(message: "\(directory.path) is in use by another cpc train\(holder.isEmpty ? "" : " (process \(holder))"); "
                + "wait for it to finish, or choose another --out")
        }
        _ = ftruncate(descriptor, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
        return descriptor
    }

    /// What an earlier run left in the folder (log lines, checkpoints, final model), described; nil when nothing.
    private func earlierRun(logURL: URL) -> String? {
        var parts: [String] = []
        if let text = try? String(contentsOf: logURL, encoding: .utf8), !text.isEmpty {
            let steps = text.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["step"] as? Int
            }
            parts.append(steps.max().map { "a log to step \($0)" } ?? "a log")
        }
        let checkpoints = completeCheckpoints()
        if !checkpoints.isEmpty { parts.append("\(checkpoints.count) checkpoint\(checkpoints.count == 1 ? "" : "s") (newest: step \(checkpoints[0].step))") }
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("final.safetensors").path) { parts.append("a final model") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    /// Removes an earlier run's log, checkpoints, final model and event files (for `overwrite`).
    private func removeEarlierRun(logURL: URL) {
        let fileManager = FileManager.default
        try? fileManager.removeItem(at: logURL)
        for name in (try? fileManager.contentsOfDirectory(atPath: checkpointsFolder.path)) ?? [] where name.hasPrefix("step-") {
            try? fileManager.removeItem(at: checkpointsFolder.appendingPathComponent(name))
        }
        for name in ["final.safetensors", "final.json", "final.optimizer.safetensors"] {
            try? fileManager.removeItem(at: directory.appendingPathComponent(name))
        }
        for file in TensorBoardWriter.eventFiles(in: directory) { try? fileManager.removeItem(at: file) }
    }

    private func save(step: Int, to path: String, metrics: [String: Float]) throws {
        // Never write weights a later run could not use: a non-finite value stops the run, the last good checkpoint stays.
        for (name, tensor) in method.model.stateDict {
            if let index = tensor.firstNonFiniteIndex {
                throw TrainingError(message: "at step \(step) the model's \(name) holds a non-finite value (index \(index)); "
                    + "nothing was saved, and the last good checkpoint is kept in \(checkpointsFolder.path)")
            }
        }
        var extra = metrics.mapValues { JSONValue.number(Double($0)) }
        // What the model was built for beyond the config (the online probe's classes), so probes can rebuild it.
        extra["input_classes"] = .number(Double(pipeline.inputShape.classes))
        if pipeline.inputShape.trainingItems > 0 { extra["input_items"] = .number(Double(pipeline.inputShape.trainingItems)) }
        let sidecar = CheckpointSidecar(step: step, config: try JSONValue.from(config), extra: extra)
        try Checkpoint.save(model: method.model, optimizer: optimizer, sidecar: sidecar, to: path)
    }

    /// Mean loss over the fixed validation batches, in evaluation mode without gradients (each rank its rows, the
    /// mean over the ranks).
    private func validationLoss() throws -> Float? {
        guard pipeline.hasValidation, config.training.validationBatches > 0 else { return nil }
        method.model.setTraining(false)
        defer { method.model.setTraining(true) }
        var total: Double = 0
        for i in 0..<config.training.validationBatches {
            let global = try pipeline.validationBatch(i)
            // A validation set smaller than the batch gives a short batch: one that does not split runs whole on every rank.
            let batch = global.count % world.size == 0 ? global.shard(rank: world.rank, of: world.size) : global
            let context = StepContext(step: i, totalSteps: config.training.steps, isTraining: false,
                                      world: global.count % world.size == 0 ? lossWorld : SingleProcess.world)
            total += Double(withoutGrad { method.loss(batch, context).loss.item })
        }
        return Float(world.summed([total])[0] / Double(world.size) / Double(config.training.validationBatches))
    }

    /// The covariance spectrum (and effective rank) of each representation the method gives for the fixed
    /// evaluation `inputs` `[N, …]`, in evaluation mode, as log entries `spectrum_<name>` and `effective_rank_<name>`.
    private func spectrumEntries(_ inputs: Tensor) -> [String: Any] {
        method.model.setTraining(false)
        defer { method.model.setTraining(true) }
        var entries: [String: Any] = [:]
        let n = inputs.shape[0], chunk = 256
        for (name, request) in EmbeddingSpectrum.representations {
            var blocks: [Tensor] = []
            for start in stride(from: 0, to: n, by: chunk) {
                guard let block = method.features(inputs.sliced(alongAxis: 0, start: start, length: min(chunk, n - start)), request),
                      block.rank == 2 else { break }
                blocks.append(block)
            }
            guard !blocks.isEmpty, n >= 2, let spectrum = try? EmbeddingSpectrum(of: Tensor.concatenate(blocks, alongAxis: 0)) else {
                continue
            }
            entries["spectrum_\(name)"] = spectrum.singularValues.map(Double.init)
            entries["effective_rank_\(name)"] = Double(spectrum.effectiveRank)
        }
        return entries
    }

    /// Loads the newest checkpoint that can be read (weights, optimiser state, sidecar), after checking that it was
    /// trained with this config; a newer one that cannot be read is reported and skipped. Nil when there is none.
    private func loadNewestReadableCheckpoint() throws -> (path: String, step: Int)? {
        var skipped: [String] = []
        for (path, step) in completeCheckpoints() {
            let sidecar: CheckpointSidecar
            do { sidecar = try Checkpoint.readSidecar(for: path) } catch {
                skipped.append("\(error)")
                continue
            }
            if let stored = sidecar.config, stored != (try JSONValue.from(config)) {
                let s = try? JSONDecoder().decode(RunConfig.self, from: JSONEncoder().encode(stored))
                if s?.method != config.method || s?.model != config.model || s?.data != config.data || s?.optimizer != config.optimizer {
                    throw TrainingError(message: "\(Checkpoint.sidecarPath(for: path)): the checkpoint was trained with a different "
                        + "config (model, data or optimizer); resume with the same config or start a new --out folder")
                }
            }
            do {
                _ = try Checkpoint.load(model: method.model, optimizer: optimizer, from: path)
            } catch {
                skipped.append("\(error)")
                continue
            }
            for reason in skipped { output("cannot resume from an unreadable checkpoint: \(reason); trying the previous one") }
            return (path, step)
        }
        for reason in skipped { output("cannot resume from an unreadable checkpoint: \(reason)") }
        if !skipped.isEmpty {
            throw TrainingError(message: "\(checkpointsFolder.path): no checkpoint can be read (\(skipped.count) tried); "
                + "start over with --overwrite, or restore a checkpoint")
        }
        return nil
    }

    /// What rank 0 opened in the run folder for this invocation: the lock's descriptor, the step to start from, the log.
    private struct RunFolder {
        let lock: Int32
        let startStep: Int
        let log: FileHandle
    }

    /// Rank 0's side of starting a run: the lock, an earlier run refused, overwritten or resumed (its log trimmed to
    /// the checkpoint), config.json, the log opened for appending.
    private func openFolder(resume: Bool, overwrite: Bool) throws -> RunFolder {
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(at: checkpointsFolder, withIntermediateDirectories: true)
        } catch {
            throw TrainingError(message: "\(checkpointsFolder.path): cannot create the run folder: \(error.localizedDescription)")
        }
        let lock = try lockFolder()
        do {
            var startStep = 0
            let logURL = directory.appendingPathComponent("log.jsonl")
            if !resume, let earlier = earlierRun(logURL: logURL) {
                guard overwrite else {
                    throw TrainingError(message: "\(directory.path) holds an earlier run (\(earlier)); continue it with --resume, "
                        + "replace it with --overwrite (deletes it), or choose another --out")
                }
                removeEarlierRun(logURL: logURL)
                output("overwrote the earlier run in \(directory.path) (\(earlier))")
            }
            if resume, let (path, step) = try loadNewestReadableCheckpoint() {
                startStep = step
                try trimLog(logURL, toStep: step)
                output("resuming from \(path) at step \(step)")
            } else {
                if resume { output("no checkpoint in \(checkpointsFolder.path); starting from step 0") }
                try? fileManager.removeItem(at: logURL)
                // The event files of the run this one replaces, like its log.
                for file in TensorBoardWriter.eventFiles(in: directory) { try? fileManager.removeItem(at: file) }
            }
            try SafeTensors.writeAtomically(try config.json(), to: directory.appendingPathComponent("config.json").path)
            if !fileManager.fileExists(atPath: logURL.path) { _ = fileManager.createFile(atPath: logURL.path, contents: nil) }
            let log = try FileHandle(forWritingTo: logURL)
            try log.seekToEnd()
            return RunFolder(lock: lock, startStep: startStep, log: log)
        } catch {
            close(lock)
            throw error
        }
    }

    /// Keeps the log lines up to `step`, so the resumed log reads like an uninterrupted one. Lines that cannot be
    /// read (a line torn by a crash, an edit) are not dropped: they move to log.unreadable.jsonl.
    private func trimLog(_ logURL: URL, toStep step: Int) throws {
        guard let text = try? String(contentsOf: logURL, encoding: .utf8) else { return }
        var kept: [Substring] = [], unreadable: [Substring] = []
        for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let s = object["step"] as? Int {
                if s <= step { kept.append(line) }
            } else {
                unreadable.append(line)
            }
        }
        if !unreadable.isEmpty {
            let aside = directory.appendingPathComponent("log.unreadable.jsonl")
            let previous = (try? Data(contentsOf: aside)) ?? Data()
            try SafeTensors.writeAtomically(previous + Data((unreadable.joined(separator: "\n") + "\n").utf8), to: aside.path)
            output("\(unreadable.count) unreadable line(s) of log.jsonl kept in \(aside.path)")
        }
        try SafeTensors.writeAtomically(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: logURL.path)
    }

    /// The other ranks' side of starting: the step rank 0 starts from, that checkpoint loaded here too (model and
    /// optimiser state), then every tensor of the model made rank 0's.
    private func joinRanks(startStep rootStep: Int) throws -> Int {
        let startStep = Int(world.maxima([Double(rootStep)])[0])
        if !isRoot && startStep > 0 {
            let path = checkpointsFolder.appendingPathComponent("step-\(startStep).safetensors").path
            do {
                _ = try Checkpoint.load(model: method.model, optimizer: optimizer, from: path)
            } catch {
                throw TrainingError(message: "rank \(world.rank) cannot read the checkpoint rank 0 resumes from (\(error)); every rank "
                    + "needs the run folder (a shared file system) to resume")
            }
        }
        world.broadcast(method.model.stateDict.map(\.tensor), root: 0)
        return startStep
    }

    /// Trains from step 0, or from the newest readable checkpoint when `resume` is set. Without `resume`, a folder
    /// that holds an earlier run is refused unless `overwrite` is set, which deletes that run's log, checkpoints and
    /// final model first. A second run into a folder in use is refused. In a world of several ranks every rank calls
    /// it; rank 0 alone writes the folder and prints progress.
    public func run(resume: Bool, overwrite: Bool = false) throws -> TrainingSummary {
        let folder = isRoot ? try openFolder(resume: resume, overwrite: overwrite) : nil
        defer { if let folder { try? folder.log.close(); close(folder.lock) } }
        // A new run's starting weights (the other ranks get them by the broadcast in joinRanks).
        if let folder, folder.startStep == 0, let initFrom = config.training.initFrom {
            try Checkpoint.loadModel(method.model, from: initFrom)
            output("starting from the weights of \(initFrom) (training.init_from)")
        }
        let startStep = try joinRanks(startStep: folder?.startStep ?? 0)
        let log = folder?.log

        let totalSteps = config.training.steps
        if startStep >= totalSteps {
            if isRoot { output("already trained for \(startStep) steps (config asks for \(totalSteps)); nothing to do") }
            return TrainingSummary(completedSteps: startStep, finalLoss: .nan, interrupted: false, seconds: 0)
        }
        // TensorBoard: a new event file per invocation; a resumed one hides what was logged after its checkpoint.
        let tensorBoard = isRoot && config.training.tensorboard
            ? try TensorBoardWriter(folder: directory, resumedAfter: startStep > 0 ? startStep : nil) : nil
        let loader = pipeline.loader(firstBatch: startStep)
        defer { loader.stop() }
        // Ctrl-C (SIGINT), SIGTERM (a batch scheduler's notice) and SIGUSR1 (what mpirun forwards to every rank:
        // `kill -USR1 <mpirun's pid>`) checkpoint at the end of the step and stop; a second signal stops at once.
        interruptRequested = 0
        let stopSignals = [SIGINT, SIGTERM, SIGUSR1]
        let previousHandlers = stopSignals.map { number in
            signal(number) { received in
                interruptRequested = 1
                signal(received, SIG_DFL)
            }
        }
        defer { for (number, handler) in zip(stopSignals, previousHandlers) { signal(number, handler) } }

        let progress = Progress(total: totalSteps, start: startStep, isTerminal: isatty(1) != 0, output: output)
        progress.ranks = world.size
        if isRoot && world.size > 1 {
            output("training on \(world.size) ranks: global batch \(config.data.batchSize), \(config.data.batchSize / world.size) per rank")
        }
        let started = DispatchTime.now().uptimeNanoseconds
        var lastLoss: Float = .nan
        var lastMetrics: [String: Float] = [:]
        var windowItems = 0, windowStart = started
        let spectrumInputs = isRoot && config.training.spectrumImages > 1 ? pipeline.evaluationInputs(count: config.training.spectrumImages) : nil
        method.model.setTraining(true)
        var step = startStep
        var interrupted = false
        while step < totalSteps {
            let batch = try loader.next().shard(rank: world.rank, of: world.size)
            precondition(batch.index == step, "loader out of order")
            if let every = method.refreshEvery, step % every == 0, let data = pipeline as? MethodDataSource {
                try method.refresh(StepContext(step: step, totalSteps: totalSteps, isTraining: true, world: lossWorld), data: data)
            }
            let context = StepContext(step: step, totalSteps: totalSteps, isTraining: true, world: lossWorld)
            let stepOutput = method.loss(batch, context)
            let loss = stepOutput.loss
            optimizer.zeroGrad()
            // The loss, the metrics and a stop request, averaged over the ranks in one all-reduce: every rank takes
            // the same decisions (a non-finite loss on one rank stops all).
            let keys = stepOutput.metrics.keys.sorted()
            let stopFlag = interruptRequested != 0 || (stopAfterSteps.map { step + 1 - startStep >= $0 } ?? false)
            let agreed = world.summed([Double(loss.item)] + keys.map { Double(stepOutput.metrics[$0]!) } + [stopFlag ? 1 : 0])
                .map { $0 / Double(world.size) }
            let value = Float(agreed[0])
            let metrics = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, Float(agreed[1 + $0])) })
            if !value.isFinite {
                throw TrainingError(message: "the loss became \(value) at step \(step + 1); stopping. The last good checkpoint "
                    + "is kept in \(checkpointsFolder.path) (try a lower optimizer.learning_rate or optimizer.clip_norm)")
            }
            loss.backward()
            world.averageGradients(optimizer.parameters.map(\.tensor))
            method.beforeOptimizerStep(context)
            if let clip = config.optimizer.clipNorm { clipGradientNorm(optimizer.parameters.map(\.tensor), maxNorm: clip) }
            optimizer.learningRate = schedule.learningRate(atStep: step)
            optimizer.step()
            method.afterOptimizerStep(stepOutput, context)
            step += 1
            lastLoss = value
            lastMetrics = metrics
            windowItems += pipeline.itemsPerBatch
            let now = DispatchTime.now().uptimeNanoseconds
            let isLast = step == totalSteps
            let validate = step % config.training.validateEvery == 0 || isLast
            let validation = validate ? try validationLoss() : nil
            if let validation, !validation.isFinite {
                throw TrainingError(message: "the validation loss became \(validation) at step \(step) (the model in evaluation mode, "
                    + "with its running statistics, gives non-finite outputs); stopping. The last good checkpoint is kept in "
                    + "\(checkpointsFolder.path)")
            }
            if let log, step % config.training.logEvery == 0 || isLast || validation != nil {
                // The headline is one of the metrics: shown as its mean over the ranks.
                let headline = stepOutput.headline.map { headline in
                    (name: headline.name, value: stepOutput.metrics.first { $0.value == headline.value }.flatMap { metrics[$0.key] } ?? headline.value)
                }
                var entry: [String: Any] = [
                    "step": step, "loss": Double(value), "learning_rate": Double(optimizer.learningRate),
                    "\(pipeline.unit)_per_second": Double(windowItems) / max(Double(now - windowStart) * 1e-9, 1e-9),
                    "elapsed_seconds": Double(now - started) * 1e-9,
                ]
                if let timed = world as? TimedCollective {
                    // The share of the window's wall time spent in collectives (communicating, or waiting for a slower rank).
                    entry["ranks"] = world.size
                    entry["communication_fraction"] = timed.takeSeconds() / max(Double(now - windowStart) * 1e-9, 1e-9)
                }
                // JSON has no NaN or ∞: such a metric is left out and named under "non_finite".
                for (key, metric) in metrics where metric.isFinite { entry[key] = Double(metric) }
                let nonFinite = metrics.filter { !$0.value.isFinite }.map(\.key).sorted()
                if !nonFinite.isEmpty { entry["non_finite"] = nonFinite }
                if let validation { entry["validation_loss"] = Double(validation) }
                if validate, let spectrumInputs { entry.merge(spectrumEntries(spectrumInputs)) { $1 } }
                var line = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
                line.append(0x0A)
                try log.write(contentsOf: line)
                try tensorBoard?.add(scalars: entry.filter { $0.key != "step" }.compactMapValues { $0 as? Double }, step: step)
                if showsProgress {
                    progress.update(step: step, loss: value, headline: headline, validation: validation,
                                    itemsPerSecond: entry["\(pipeline.unit)_per_second"] as! Double, unit: pipeline.unit)
                }
                windowItems = 0
                windowStart = now
            }
            let stopHere = agreed[agreed.count - 1] > 0
            if isRoot && (step % config.training.checkpointEvery == 0 || isLast || stopHere) {
                try save(step: step, to: checkpointsFolder.appendingPathComponent("step-\(step).safetensors").path, metrics: metrics)
            }
            if stopHere && !isLast {
                interrupted = true
                if isRoot {
                    if showsProgress { progress.finish() }
                    output("stopped at step \(step); checkpoint written. Continue with --resume.")
                }
                break
            }
        }
        if !interrupted && isRoot {
            if showsProgress { progress.finish() }
            try save(step: step, to: directory.appendingPathComponent("final.safetensors").path, metrics: lastMetrics)
        }
        return TrainingSummary(completedSteps: step, finalLoss: lastLoss, interrupted: interrupted,
                               seconds: Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9)
    }
}
