// Rebuilding a model from a checkpoint: its architecture comes from the model config in the checkpoint's sidecar,
// or from a config file given with the checkpoint (a safetensors file from elsewhere has no sidecar), or both, which
// must then agree. A missing model config is an error that says so; nothing falls back to a default model.

import Foundation
import ImageFrontEnd
import Layers
import Methods
import TensorCore
import Training

extension RunConfig {
    /// The run config that rebuilds the model stored at `checkpoint`: its sidecar's `config` (which must hold a
    /// `model` section), or `configFile` (which must too) when there is no sidecar or the sidecar records no
    /// config. With both, their method and model sections must agree; the differing keys are named otherwise.
    public static func forCheckpoint(_ checkpoint: String, configFile: String?) throws -> RunConfig {
        try resolve(checkpoint, configFile: configFile).config
    }

    /// `forCheckpoint`'s config, and the sidecar when there is one (read once).
    static func resolve(_ checkpoint: String, configFile: String?) throws -> (config: RunConfig, sidecar: CheckpointSidecar?) {
        let sidecarPath = Checkpoint.sidecarPath(for: checkpoint)
        let sidecar = FileManager.default.fileExists(atPath: sidecarPath) ? try Checkpoint.readSidecar(for: checkpoint) : nil
        var fromSidecar: RunConfig? = nil
        if let sidecar, sidecar.config != nil || configFile == nil { fromSidecar = try stored(sidecar, of: checkpoint) }
        let fromFile = try configFile.map { try RunConfig.load($0, requiringModel: true) }
        switch (fromSidecar, fromFile) {
        case (nil, nil):
            throw CheckpointError(path: checkpoint, problem: "has no sidecar (\(sidecarPath)), so its architecture is unknown; "
                + "pass --config FILE with the model section it was trained with")
        case (let stored?, nil): return (stored, sidecar)
        case (nil, let file?): return (file, sidecar)
        case (let stored?, let file?):
            try file.requireArchitecture(of: stored, file: configFile!,
                                         contradicting: "the checkpoint's sidecar \(sidecarPath)", hint: "drop --config or make it agree")
            return (stored, sidecar)
        }
    }

    /// The method and model sections, which decide the architecture (compare two with `differences(from:)`).
    public var architecture: JSONValue {
        get throws { .object(["method": .string(method), "model": try JSONValue.from(model)]) }
    }

    /// Fails unless this config (read from `file`) builds the same architecture as `reference`, listing the
    /// differing keys (the reference's value first) as a contradiction of `what`, followed by `hint`.
    public func requireArchitecture(of reference: RunConfig, file: String, contradicting what: String, hint: String) throws {
        let differences = try reference.architecture.differences(from: try architecture)
        guard !differences.isEmpty else { return }
        throw ConfigError(file: file, key: "model", message: "contradicts \(what): "
            + differences.prefix(8).joined(separator: "; ") + (differences.count > 8 ? "; …" : "") + " (first value from there); \(hint)")
    }

    /// The run config stored in a checkpoint's sidecar (what rebuilds its model); its `model` section must be there.
    public static func stored(with checkpoint: String) throws -> RunConfig {
        try stored(try Checkpoint.readSidecar(for: checkpoint), of: checkpoint)
    }

    static func stored(_ sidecar: CheckpointSidecar, of checkpoint: String) throws -> RunConfig {
        let sidecarPath = Checkpoint.sidecarPath(for: checkpoint)
        guard let stored = sidecar.config else {
            throw CheckpointError(path: sidecarPath, problem: "records no config, so the model cannot be rebuilt; "
                + "pass --config FILE with the model section the checkpoint was trained with")
        }
        guard case .object(let fields) = stored, fields["model"] != nil else {
            throw ConfigError(file: sidecarPath, key: "config.model", message: "missing: the model section decides the architecture "
                + "(a default model would not be the one trained); add it, or pass --config FILE")
        }
        do {
            return try JSONDecoder().decode(RunConfig.self, from: JSONEncoder().encode(stored))
        } catch {
            throw RunConfig.describe(error, file: sidecarPath)
        }
    }
}

/// Builds a registered method from a checkpoint or a config, for data like `set` (the input shape is read from it).
public enum MethodLoader {
    /// The input shape the method of `config` would have been trained with on images like `set` (audio needs none).
    public static func inputShape(for config: RunConfig, like set: ImageSet?, classes: Int? = nil, items: Int? = nil,
                                  source: String) throws -> InputShape {
        var shape = config.data.knownShape
        switch config.data {
        case .audio: break
        case .patchGrid(let data):
            guard let set else { throw ConfigError(file: source, key: "method", message: "'\(config.method)' is an image method; use cpc probe image") }
            (shape.rows, shape.columns) = try data.gridShape(for: set)
            shape.channels = set.channels
            shape.classes = set.classNames.count
        case .imageViews(let data):
            guard let set else { throw ConfigError(file: source, key: "method", message: "'\(config.method)' is an image method; use cpc probe image") }
            shape.channels = set.channels
            shape.views = data.augmentations.map { .init(height: $0.size ?? set.height, width: $0.size ?? set.width) }
            shape.classes = set.classNames.count
            (shape.trainingItems, shape.batchSize) = (set.count, data.batchSize)
        }
        if let classes { shape.classes = classes }
        if let items { shape.trainingItems = items }
        return shape
    }

    /// The method stored at `path` (a `.safetensors` file), in evaluation mode, rebuilt from the model config of
    /// its sidecar or of `configFile` (`RunConfig.forCheckpoint`).
    public static func load(checkpoint path: String, configFile: String? = nil, like set: ImageSet?) throws -> (config: RunConfig, method: any Method) {
        let (config, sidecar) = try RunConfig.resolve(path, configFile: configFile)
        let source = configFile ?? Checkpoint.sidecarPath(for: path)
        var classes: Int? = nil
        if case .number(let value)? = sidecar?.extra["input_classes"], value >= 1, value < 1e6 { classes = Int(value) }
        var items: Int? = nil
        if case .number(let value)? = sidecar?.extra["input_items"], value >= 1, value < 1e9 { items = Int(value) }
        if set == nil, config.data.kind != .audioWindows {
            throw ConfigError(file: source, key: "method",
                              message: "expected an audio model (cpc), found the image method '\(config.method)'; use cpc probe image")
        }
        if set != nil, config.data.kind == .audioWindows {
            throw ConfigError(file: source, key: "method",
                              message: "expected an image method, found the audio method '\(config.method)'; use cpc probe phone|speaker")
        }
        let input = try inputShape(for: config, like: set, classes: classes, items: items, source: source)
        let method = try config.makeMethod(input: input, seed: 0)
        try Checkpoint.loadModel(method.model, from: path)
        method.model.setTraining(false)
        return (config, method)
    }

    /// A random initialisation of the method of `config` (seeded), in evaluation mode.
    public static func random(config: RunConfig, like set: ImageSet?, seed: UInt64 = 12345) throws -> any Method {
        let method = try config.makeMethod(input: try inputShape(for: config, like: set, source: "the config"), seed: seed)
        method.model.setTraining(false)
        return method
    }
}

