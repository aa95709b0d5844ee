// `cpc train`: train a method from a config file into a run folder.

import ArgumentParser
import Distributed
import Foundation
import TensorCore
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train from a config (configs/*.yaml): logs, checkpoints and the final model go to the run folder.",
        discussion: """
            DIR/config.json holds the resolved config, DIR/log.jsonl one JSON object per logged step,
            DIR/checkpoints/step-N.safetensors the checkpoints (with .json sidecars), DIR/final.safetensors the result.
            --resume continues from the newest readable checkpoint in DIR (weights, optimiser, data position) and ends
            with the same weights as an uninterrupted run. --init-from FILE starts a new run from FILE's weights (every
            tensor of the config's model, same shapes; optimiser and data start afresh): fine-tuning a trained model with
            other negatives, data or optimiser, which --resume refuses. A folder holding an earlier run is refused without --resume
            or --overwrite, and one in use by another cpc train is refused. Ctrl-C (or SIGTERM, or SIGUSR1) writes a checkpoint
            before stopping.

            Data parallel: `mpirun -np N cpc train --config FILE` trains the same run on N processes (one machine, or
            several with a hostfile): data.batch_size is the global batch, each rank takes 1/N of it, gradients are
            averaged, and rank 0 alone writes the run folder. The result does not depend on N (docs/DISTRIBUTED.md).
            To stop such a run with a checkpoint, `kill -USR1 <mpirun's pid>` (mpirun forwards it to every rank; Ctrl-C
            on mpirun ends the job at once, keeping the last periodic checkpoint).
            """)

    @Option(help: "Config file (YAML).") var config: String
    @Option(help: "Run folder (default: runs/<config name>).") var out: String?
    @Option(help: "Override training.steps.") var steps: Int?
    @Option(help: "Override training.seed.") var seed: UInt64?
    @Flag(help: "Continue from the newest readable checkpoint in the run folder.") var resume = false
    @Flag(help: "Replace an earlier run in the run folder (deletes its log, checkpoints and final model).") var overwrite = false
    @Option(help: "Override training.threads (BLAS and elementwise loops).") var threads: Int?
    @Option(help: "Start a new run from the weights of this checkpoint (sets training.init_from: fine-tuning with another config).")
    var initFrom: String?

    func validate() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be positive, got \(steps)") }
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be in 1...1024, got \(threads)") }
        if resume && overwrite { throw ValidationError("--resume continues the earlier run and --overwrite deletes it; give one") }
    }

    func run() throws {
        guard MPIWorld.isLaunchedByMPI else { return try train(world: SingleProcess.world) }
        // Under mpirun: a rank that fails ends the job on every rank (no rank waits forever in a collective).
        let world = MPIWorld.start()
        do {
            try train(world: world)
        } catch let code as ExitCode {
            world.finish()
            throw code
        } catch {
            world.abort(message: "\(UserFacingError.cleaned(error))")
        }
        world.finish()
    }

    /// The run on this rank of `world`; rank 0 alone prints.
    private func train(world: any Collective) throws {
        let say: (String) -> Void = world.rank == 0 ? { print($0); fflush(nil) } : { _ in }
        var runConfig = try RunConfig.load(config)
        if let steps { runConfig.training.steps = steps }
        if let seed { runConfig.training.seed = seed }
        if let threads { runConfig.training.threads = threads }
        if let initFrom { runConfig.training.initFrom = initFrom }
        // Ranks sharing a machine share its cores.
        let localRanks = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
        let threadCount = runConfig.training.threads ?? max(1, Threads.processorCount / max(1, localRanks))
        Threads.setCount(threadCount)
        let folder = out ?? "runs/" + URL(fileURLWithPath: config).deletingPathExtension().lastPathComponent
        say("config \(config) (resolved):")
        say(String(decoding: try runConfig.json(), as: UTF8.self))
        say("run folder \(folder), \(threadCount) thread(s)" + (world.size > 1 ? " per rank, \(world.size) ranks" : ""))
        let trainer = try Trainer(config: runConfig, directory: URL(fileURLWithPath: folder), world: world)
        trainer.output = say
        say("model: \(trainer.method.model.parameterCount) parameters")
        // Stages (k-means refreshes) report on rank 0 only.
        let summary = world.rank == 0 ? try withStageProgress { try trainer.run(resume: resume, overwrite: overwrite) }
                                      : try trainer.run(resume: resume, overwrite: overwrite)
        say(String(format: "%@ after %d steps in %.1f s; last loss %.4f", summary.interrupted ? "stopped" : "finished",
                   summary.completedSteps, summary.seconds, summary.finalLoss))
        if summary.interrupted { throw ExitCode(130) }
    }
}
