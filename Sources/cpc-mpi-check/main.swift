// The distributed checks, run under `mpirun -np 2 cpc-mpi-check --work DIR` (Tests/EndToEnd/distributed.sh, CI):
// for every registered method, on small configs,
//   1. one step's loss and parameter gradients on 2 ranks × n equal one process's on the global batch of 2n
//      (batch norm statistics and running statistics included);
//   2. the differentiable all-gather passes a finite-difference gradient check across the ranks;
//   3. a few optimiser steps (the trainer) on 2 ranks give one process's weights, and leave the ranks bit-identical;
//   4. checkpoints do not depend on the world size: 2 ranks → resume on 1, and 1 → resume on 2, give one process's
//      weights within float tolerance (the summation order differs); 2 → resume on 2 is bit-identical.
// Prints one line per check and exits 1 when any fails.

import Distributed
import Foundation
import ImageFrontEnd
import Layers
import Methods
import TensorCore
import Training

guard MPIWorld.isLaunchedByMPI else {
    FileHandle.standardError.write(Data("cpc-mpi-check: run it under mpirun -np 2 (or more)\n".utf8))
    exit(2)
}
let world = MPIWorld.start()
let arguments = CommandLine.arguments
guard let workIndex = arguments.firstIndex(of: "--work"), workIndex + 1 < arguments.count else {
    world.abort(message: "usage: mpirun -np 2 cpc-mpi-check --work DIR [--only METHOD …]")
}
let work = arguments[workIndex + 1]
let only = arguments.indices.filter { arguments[$0] == "--only" && $0 + 1 < arguments.count }.map { arguments[$0 + 1] }
Threads.setCount(1)
let isRoot = world.rank == 0
nonisolated(unsafe) var failures = 0

/// Records a check: rank 0 prints it; a failure on any rank fails it on every rank.
func check(_ description: String, _ passed: Bool, _ detail: String) {
    let agreed = world.maxima([passed ? 0 : 1])[0] == 0
    if !agreed { failures += 1 }
    if isRoot { print("\(agreed ? "ok" : "FAILED"): \(description) — \(detail)"); fflush(nil) }
}

/// max |a − b| / max |a| over two tensor lists of the same shapes (names must agree).
func relativeDifference(_ a: [(String, Tensor)], _ b: [(String, Tensor)]) -> (Double, String) {
    var worst = 0.0, scale = 0.0, worstName = ""
    let other = Dictionary(b, uniquingKeysWith: { x, _ in x })
    for (name, x) in a {
        guard let y = other[name], y.shape == x.shape else { return (.infinity, "\(name) missing or reshaped") }
        let (xs, ys) = (x.scalars, y.scalars)
        for i in 0..<xs.count {
            scale = max(scale, Double(abs(xs[i])))
            let d = Double(abs(xs[i] - ys[i]))
            if d > worst || d.isNaN { (worst, worstName) = (d, name) }
        }
    }
    return (worst / max(scale, 1e-30), worstName)
}

// A small image set (the first 512 training and 256 test images of Fashion-MNIST), as raw IDX files.
let fashion = "/usr/share/datasets/fashion-mnist"
let images = "\(work)/fashion-small"
func writeIDX(_ set: ImageSet, prefix: String) throws {
    func header(_ magic: UInt32, _ sizes: [Int]) -> Data {
        var data = Data()
        for value in [magic] + sizes.map(UInt32.init) { withUnsafeBytes(of: value.bigEndian) { data.append(contentsOf: $0) } }
        return data
    }
    try (header(0x0803, [set.count, set.height, set.width]) + Data(set.pixels))
        .write(to: URL(fileURLWithPath: "\(images)/\(prefix)-images-idx3-ubyte"), options: .atomic)
    try (header(0x0801, [set.count]) + Data(set.labels.map(UInt8.init)))
        .write(to: URL(fileURLWithPath: "\(images)/\(prefix)-labels-idx1-ubyte"), options: .atomic)
}
do {
    try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
    if isRoot {
        try writeIDX(try ImageCorpus.load(fashion, split: .train).prefix(512), prefix: "train")
        try writeIDX(try ImageCorpus.load(fashion, split: .test).prefix(256), prefix: "t10k")
    }
} catch {
    world.abort(message: "cannot write the small image set into \(images): \(error)")
}
world.barrier()

/// Each method's shipped config made small (a few seconds per step on one core), with its edits.
let shrinkImages: [(String, String)] = [
    ("corpus: /usr/share/datasets/fashion-mnist", "corpus: \(images)"), ("width: 16", "width: 4"),
    ("blocks: [2, 2, 2, 2]", "blocks: [1, 1]"), ("batch_size: 256", "batch_size: 16"), ("batch_size: 128", "batch_size: 16"),
    ("hidden: [512]", "hidden: [32]"), ("hidden: [512, 512]", "hidden: [32, 32]"), ("output: 512", "output: 32"),
    ("queue_size: 4096", "queue_size: 64"), ("queue_start_step: 250", "queue_start_step: 2"),
    ("freeze_prototypes_steps: 20", "freeze_prototypes_steps: 1"), ("warmup_steps: 50", "warmup_steps: 2"),
    ("warmup_steps: 100", "warmup_steps: 2"), ("validation_batches: 2", "validation_batches: 1"),
]
let shrinkAudio: [(String, String)] = [
    ("window: 10240", "window: 2560"), ("batch_size: 16", "batch_size: 4"), ("channels: 128", "channels: 16"),
    ("hidden: 128", "hidden: 16"), ("negatives: 64", "negatives: 8"), ("validation_batches: 4", "validation_batches: 1"),
]
let cases: [(method: String, file: String, edits: [(String, String)])] = [
    ("cpc", "configs/cpc-audio-small.yaml", shrinkAudio),
    ("supervised-phones", "configs/supervised-phones-small.yaml", shrinkAudio),
    ("cpc-image", "configs/cpc-image-fashion.yaml", shrinkImages + [("batch_size: 32", "batch_size: 8"), ("channels: [32, 64]", "channels: [8, 16]"),
                                                                   ("context_hidden: 128", "context_hidden: 16")]),
    ("simclr", "configs/simclr-fashion.yaml", shrinkImages),
    ("moco", "configs/moco-fashion.yaml", shrinkImages),
    ("byol", "configs/byol-fashion.yaml", shrinkImages),
    ("simsiam", "configs/simsiam-fashion.yaml", shrinkImages),
    ("swav", "configs/swav-fashion.yaml", shrinkImages),
    ("deepcluster", "configs/deepcluster-fashion.yaml", shrinkImages),
    ("barlow", "configs/barlow-fashion.yaml", shrinkImages),
    ("vicreg", "configs/vicreg-fashion.yaml", shrinkImages),
    ("wmse", "configs/wmse-fashion.yaml", shrinkImages + [("hidden: [1024]", "hidden: [32]"), ("output: 64", "output: 8"),
                                                          ("whitening_size: 128", "whitening_size: 16"), ("batch_size: 16", "batch_size: 32")]),
]

/// The config of a case with `steps` training steps, written for this rank and loaded.
func smallConfig(_ file: String, edits: [(String, String)], name: String, steps: Int) throws -> RunConfig {
    var text = try String(contentsOfFile: file, encoding: .utf8)
    for (from, to) in edits { text = text.replacingOccurrences(of: from, with: to) }
    let path = "\(work)/\(name).rank\(world.rank).yaml"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    var config = try RunConfig.load(path)
    (config.training.steps, config.training.validateEvery, config.training.checkpointEvery) = (steps, 2, 2)
    (config.training.logEvery, config.training.tensorboard, config.training.spectrumImages) = (1, false, 0)
    return config
}

/// One step's loss and gradients (named), and the state after it, of a fresh method on `batch` in `context`.
func oneStep(_ config: RunConfig, pipeline: any TrainingPipeline, batch: Batch, world: any Collective)
    throws -> (loss: Double, gradients: [(String, Tensor)], buffers: [(String, Tensor)]) {
    let method = try config.makeMethod(input: pipeline.inputShape)
    method.model.synchronizeBatchNorm(over: world)
    method.model.setTraining(true)
    let context = StepContext(step: 0, totalSteps: 4, isTraining: true, world: world)
    if method.refreshEvery != nil, let data = pipeline as? MethodDataSource { try method.refresh(context, data: data) }
    let output = method.loss(batch, context)
    let parameters = method.model.parameters
    for (_, p) in parameters { p.zeroGrad() }
    output.loss.backward()
    world.averageGradients(parameters.map(\.tensor))
    let loss = world.summed([Double(output.loss.item)])[0] / Double(world.size)
    return (loss, parameters.compactMap { name, p in p.grad.map { (name, $0) } }, method.model.buffers)
}

/// Trains `config` in `folder` on `world` (rank 0 alone when `world` is one process: the other ranks wait).
func train(_ config: RunConfig, folder: String, world: any Collective, resume: Bool = false, stopAfter: Int? = nil) throws {
    if world.size == 1 && !isRoot { return }
    let trainer = try Trainer(config: config, directory: URL(fileURLWithPath: folder), world: world)
    trainer.output = { _ in }
    trainer.showsProgress = false
    trainer.stopAfterSteps = stopAfter
    _ = try trainer.run(resume: resume, overwrite: !resume)
}

func finalWeights(_ folder: String) throws -> [(String, Tensor)] { try SafeTensors.read("\(folder)/final.safetensors").tensors }

// 2. The all-gather's gradient across the ranks: J = Σ_r Σ w_r ⊙ gather(x)², each rank's w its own.
do {
    var generator = RandomGenerator(seed: 7, stream: UInt64(world.rank))
    let x = Tensor((0..<12).map { _ in generator.nextFloat() * 2 - 1 }, shape: [3, 4])
    let w = Tensor((0..<(12 * world.size)).map { _ in generator.nextFloat() }, shape: [3 * world.size, 4])
    x.requiresGrad = true
    func objective() -> Double {
        withoutGrad { world.summed([Double((w * world.allGathered(x).squared()).sum().item)])[0] }
    }
    let local = (w * world.allGathered(x).squared()).sum()
    local.backward()
    let analytic = x.grad!.scalars
    var worst = 0.0
    for index in [0, 5, 11] {
        for rank in 0..<world.size {
            let h: Float = 1e-2
            let original = x.scalars[index]
            func at(_ value: Float) -> Double {
                if world.rank == rank { x.withUnsafeMutableBufferPointer { $0[index] = value } }
                let value = objective()
                x.withUnsafeMutableBufferPointer { $0[index] = original }
                return value
            }
            let numeric = (at(original + h) - at(original - h)) / Double(2 * h)
            let exact = world.summed([world.rank == rank ? Double(analytic[index]) : 0])[0]
            worst = max(worst, abs(numeric - exact) / max(abs(exact), 1e-3))
        }
    }
    check("all-gather gradient across \(world.size) ranks (finite differences)", worst < 1e-3, String(format: "worst relative error %.2e", worst))
}

for (method, file, edits) in cases where only.isEmpty || only.contains(method) {
    do {
        // 1. Loss and gradients: 2 ranks × n against one process on the 2n.
        let config = try smallConfig(file, edits: edits, name: method, steps: 4)
        let pipeline = try makePipeline(config.data, seed: config.training.seed)
        let loader = pipeline.loader(firstBatch: 0)
        let global = try loader.next()
        loader.stop()
        let reference = try oneStep(config, pipeline: pipeline, batch: global, world: SingleProcess.world)
        let distributed = try oneStep(config, pipeline: pipeline, batch: global.shard(rank: world.rank, of: world.size), world: world)
        let lossError = abs(reference.loss - distributed.loss) / max(abs(reference.loss), 1e-6)
        let (gradientError, where_) = relativeDifference(reference.gradients, distributed.gradients)
        let (bufferError, _) = relativeDifference(reference.buffers, distributed.buffers)
        check("\(method): loss and gradients on \(world.size) ranks = one process on the global batch of \(global.count)",
              lossError < 1e-5 && gradientError < 1e-4 && bufferError < 1e-4 && reference.gradients.count == distributed.gradients.count,
              String(format: "loss %.6f vs %.6f (%.1e), %d gradients, worst %.1e (%@), buffers %.1e", reference.loss, distributed.loss,
                     lossError, reference.gradients.count, gradientError, where_, bufferError))

        // 3. Four optimiser steps through the trainer, and 4. resume across world sizes.
        let (one, many) = ("\(work)/\(method)-1", "\(work)/\(method)-\(world.size)")
        let (manyThenOne, oneThenMany) = ("\(work)/\(method)-\(world.size)to1", "\(work)/\(method)-1to\(world.size)")
        try train(config, folder: one, world: SingleProcess.world)
        world.barrier()
        try train(config, folder: many, world: world)
        try train(config, folder: manyThenOne, world: world, stopAfter: 2)
        world.barrier()
        try train(config, folder: manyThenOne, world: SingleProcess.world, resume: true)
        try train(config, folder: oneThenMany, world: SingleProcess.world, stopAfter: 2)
        world.barrier()
        try train(config, folder: oneThenMany, world: world, resume: true)
        let interrupted = "\(work)/\(method)-\(world.size)-resumed"
        try train(config, folder: interrupted, world: world, stopAfter: 2)
        try train(config, folder: interrupted, world: world, resume: true)
        world.barrier()
        // The ranks hold the same weights, bit for bit: rank 0's broadcast against this rank's own.
        let mine = try finalWeights(many).flatMap { $0.1.scalars }
        var rootCopy = mine
        rootCopy.withUnsafeMutableBufferPointer { world.broadcast($0, root: 0) }
        let ranksAgree = mine == rootCopy
        if isRoot {
            let reference = try finalWeights(one)
            let (stepsError, stepsWhere) = relativeDifference(reference, try finalWeights(many))
            let (downError, _) = relativeDifference(reference, try finalWeights(manyThenOne))
            let (upError, _) = relativeDifference(reference, try finalWeights(oneThenMany))
            let sameSizeResume = try finalWeights(many).map { $0.1.scalars } == finalWeights(interrupted).map { $0.1.scalars }
            // W-MSE's last projector bias is followed by the whitening's centring: its gradient is zero up to rounding,
            // and Adam turns that rounding (which differs with the summation order) into steps of ±lr.
            let tolerance = method == "wmse" ? 1e-2 : 1e-3
            check("\(method): 4 steps on \(world.size) ranks = on one process; ranks bit-identical",
                  stepsError < tolerance && ranksAgree, String(format: "worst relative weight difference %.1e (%@)", stepsError, stepsWhere))
            check("\(method): resume on \(world.size) ranks is bit-identical; across world sizes (\(world.size) → 1, 1 → \(world.size)) within tolerance",
                  sameSizeResume && downError < tolerance && upError < tolerance, String(format: "%.1e, %.1e", downError, upError))
        } else {
            check("", ranksAgree, "")
            check("", true, "")
        }
        // training.loss_scope: rank — each rank's loss sees its own rows only: the ranks still agree bit for bit,
        // and the training is no longer one process's.
        if method == "simclr" {
            var perRank = config
            perRank.training.lossScope = .rank
            let folder = "\(work)/\(method)-rank-scope"
            try train(perRank, folder: folder, world: world)
            world.barrier()
            let mine = try finalWeights(folder).flatMap { $0.1.scalars }
            var rootCopy = mine
            rootCopy.withUnsafeMutableBufferPointer { world.broadcast($0, root: 0) }
            let (difference, _) = isRoot ? relativeDifference(try finalWeights(one), try finalWeights(folder)) : (1, "")
            check("\(method): loss_scope rank trains per-rank losses (ranks bit-identical, differs from one process)",
                  mine == rootCopy && difference > 1e-4, String(format: "relative difference from one process %.1e", difference))
        }
    } catch {
        world.abort(message: "\(method): \(error)")
    }
}

world.finish()
if isRoot { print(failures == 0 ? "all distributed checks passed" : "\(failures) distributed check(s) FAILED") }
exit(failures == 0 ? 0 : 1)
