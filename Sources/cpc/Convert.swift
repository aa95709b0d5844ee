// `cpc convert`: CPC checkpoints to and from CPC_audio's (in the flat safetensors form of
// scripts/cpc_audio_checkpoint.py, which moves them to and from CPC_audio's .pt files).

import ArgumentParser
import Evaluation
import Foundation
import Layers
import Methods
import TensorCore
import Training

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert CPC checkpoints to and from CPC_audio's.",
        discussion: """
            --from cpc-audio IN --out OUT: IN is CPC_audio's checkpoint in flat safetensors form (scripts/cpc_audio_checkpoint.py \
            to-safetensors), its training arguments in the metadata (or the model in --config); writes our checkpoint OUT \
            with a sidecar holding the config. --to cpc-audio IN --out OUT: IN is our checkpoint (sidecar or --config); \
            writes CPC_audio's names, shapes and arguments (scripts/cpc_audio_checkpoint.py to-pt makes the .pt). \
            The encoder must be CPC_audio's (padding [3, 2, 1, 1, 1]) and the predictors linear or CPC_audio's transformer \
            layers (cpc_audio_transformer); see docs/INTEROP.md.
            """)
    enum Format: String, ExpressibleByArgument, CaseIterable { case cpcAudio = "cpc-audio" }

    @Argument(help: "The checkpoint to convert (.safetensors).") var input: String
    @Option(help: "Read a checkpoint in this format (cpc-audio).") var from: Format?
    @Option(help: "Write the checkpoint in this format (cpc-audio).") var to: Format?
    @Option(help: "The converted checkpoint (.safetensors).") var out: String
    @Option(help: """
        --from: the run config when the file holds no CPC_audio arguments (checked against them when it does); \
        --to: the config of a checkpoint without a sidecar.
        """)
    var config: String?
    @Flag(help: "Replace OUT (and its sidecar) if it exists.") var overwrite = false

    func validate() throws {
        if (from == nil) == (to == nil) { throw ValidationError("give one of --from cpc-audio or --to cpc-audio") }
        if URL(fileURLWithPath: input).standardizedFileURL == URL(fileURLWithPath: out).standardizedFileURL {
            throw ValidationError("--out \(out) is the input; write the converted checkpoint elsewhere")
        }
        if !overwrite, FileManager.default.fileExists(atPath: out) {
            throw ValidationError("\(out) exists; pass --overwrite to replace it")
        }
    }

    func run() throws {
        if from != nil { try importCPCAudio() } else { try exportCPCAudio() }
    }

    func importCPCAudio() throws {
        let (tensors, metadata) = try SafeTensors.read(input)
        var runConfig: RunConfig
        if let text = metadata[CPCAudioCheckpoint.argumentsKey] {
            let source = "\(input) (metadata \(CPCAudioCheckpoint.argumentsKey))"
            guard let arguments = try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8)) else {
                throw ValidationError("\(source): expected a JSON object of CPC_audio's training arguments, found \(text.prefix(200))")
            }
            let imported = try CPCAudioCheckpoint.imported(arguments: arguments, source: source)
            runConfig = try RunConfig(method: CPCAudio.key)
            runConfig.model = AnyMethodConfig(imported.model)
            if case .audio(var data) = runConfig.data, let window = imported.window, window > 0 {
                data.window = window
                runConfig.data = .audio(data)
            }
            if let rate = imported.learningRate { runConfig.optimizer.learningRate = rate }
            try runConfig.entry.validate(runConfig.model, input: runConfig.data.knownShape)
            if let config {
                let file = try RunConfig.load(config, requiringModel: true)
                try file.requireArchitecture(of: runConfig, file: config, contradicting: "CPC_audio's arguments in \(input)",
                                             hint: "drop --config or make it agree")
                runConfig = file
            }
        } else {
            guard let config else {
                throw ValidationError("\(input): no \(CPCAudioCheckpoint.argumentsKey) metadata (CPC_audio's checkpoint_args.json); "
                    + "pass --config FILE with the model section, or convert with checkpoint_args.json beside the .pt")
            }
            runConfig = try RunConfig.load(config, requiringModel: true)
        }
        guard let model = runConfig.model.typed(CPCConfig.self) else {
            throw ConfigError(file: config, key: "method", message: "CPC_audio checkpoints hold audio CPC models; found '\(runConfig.method)'")
        }
        let ours = try CPCAudioCheckpoint.ourTensors(from: tensors, config: model, source: input)
        let method = try runConfig.makeMethod(input: try MethodLoader.inputShape(for: runConfig, like: nil, source: config ?? input))
        try method.model.loadStateDict(ours, source: input)
        let sidecar = CheckpointSidecar(step: 0, config: try JSONValue.from(runConfig),
                                        extra: ["converted_from": .string("CPC_audio"), "source": .string(input)])
        try Checkpoint.save(model: method.model, optimizer: nil, sidecar: sidecar, to: out)
        print("\(input) (CPC_audio) → \(out) + \(Checkpoint.sidecarPath(for: out)): \(ours.count) tensors, "
            + "\(model.context.type.rawValue) context, \(model.encoder.normalization.rawValue) norm, \(model.predictionSteps) predictors")
    }

    func exportCPCAudio() throws {
        let (stored, method) = try MethodLoader.load(checkpoint: input, configFile: config, like: nil)
        guard let model = stored.model.typed(CPCConfig.self), case .audio(let data) = stored.data else {
            throw ValidationError("\(input): a '\(stored.method)' model; only audio CPC converts to CPC_audio")
        }
        let theirs = try CPCAudioCheckpoint.theirTensors(from: method.model.stateDict.map { ($0.name, $0.tensor) }, config: model, source: input)
        let arguments = try CPCAudioCheckpoint.arguments(for: model, window: data.window, learningRate: stored.optimizer.learningRate)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try SafeTensors.write(theirs, metadata: [CPCAudioCheckpoint.argumentsKey: String(decoding: try encoder.encode(arguments), as: UTF8.self)],
                              to: out)
        print("\(input) → \(out) (CPC_audio names, arguments in its metadata): \(theirs.count) tensors; "
            + "python3 scripts/cpc_audio_checkpoint.py to-pt \(out) checkpoint_0.pt makes CPC_audio's file")
    }
}
