// Checkpoints: the model as safetensors (loadable by PyTorch), the optimiser state as a second safetensors file,
// and a JSON sidecar with the resolved config, step, optimiser scalars and random-generator states.
//
// Files for a checkpoint at PATH.safetensors: PATH.safetensors (model state dict), PATH.optimizer.safetensors
// (optimiser slots, when an optimiser is saved), PATH.json (sidecar). Each is written to a temporary file and renamed.

import Foundation
import TensorCore

/// Any JSON value, for configs and free-form metadata stored in sidecars.
public enum JSONValue: Codable, Equatable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let n = try? container.decode(Double.self) { self = .number(n) }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else if let a = try? container.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let n): try container.encode(n)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// Converts any Encodable value (e.g. a typed config) to a JSON value.
    public static func from<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }
}

extension JSONValue {
    /// The leaves where `self` and `other` differ, as "path: self's value vs other's value" (objects compared key by
    /// key, arrays and scalars as wholes).
    public func differences(from other: JSONValue, path: String = "") -> [String] {
        if case .object(let a) = self, case .object(let b) = other {
            return Set(a.keys).union(b.keys).sorted().flatMap { key -> [String] in
                let child = path.isEmpty ? key : path + "." + key
                switch (a[key], b[key]) {
                case (let x?, let y?): return x.differences(from: y, path: child)
                case (let x?, nil): return ["\(child): \(x.compact) vs (absent)"]
                case (nil, let y?): return ["\(child): (absent) vs \(y.compact)"]
                case (nil, nil): return []
                }
            }
        }
        return self == other ? [] : ["\(path): \(compact) vs \(other.compact)"]
    }

    /// The value as one line of JSON, keys sorted.
    public var compact: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
    }
}

/// The JSON sidecar of a checkpoint.
public struct CheckpointSidecar: Codable, Equatable, Sendable {
    /// The sidecar's format tag.
    public var format = "swiftcpc-checkpoint-1"
    /// The training step the checkpoint was written at.
    public var step: Int
    /// The resolved run config, as JSON.
    public var config: JSONValue?
    /// The optimiser's kind, step count and learning rate (its state tensors are in `.optimizer.safetensors`).
    public var optimizer: OptimizerRecord?
    /// Random-generator states by role ("sampler", "dropout", …), four words each.
    public var randomStates: [String: [UInt64]]
    /// Free-form values (metrics, versions).
    public var extra: [String: JSONValue]

    /// What the sidecar records of the optimiser.
    public struct OptimizerRecord: Codable, Equatable, Sendable {
        /// The optimiser's type name (`Adam`, `SGD`, `LARS`).
        public var kind: String
        public var stepCount: Int
        public var learningRate: Float
    }

    /// A sidecar for `step`.
    public init(step: Int, config: JSONValue? = nil, optimizer: OptimizerRecord? = nil,
                randomStates: [String: [UInt64]] = [:], extra: [String: JSONValue] = [:]) {
        (self.step, self.config, self.optimizer, self.randomStates, self.extra) = (step, config, optimizer, randomStates, extra)
    }

    enum CodingKeys: String, CodingKey {
        case format, step, config, optimizer, extra
        case randomStates = "random_states"
    }

    /// Reads a sidecar; only what rebuilds the model is needed (a `config` with its `model` section, checked where
    /// it is used). The step defaults to 0, the random states and extra values to none, the format to ours.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decodeIfPresent(String.self, forKey: .format) ?? "swiftcpc-checkpoint-1"
        step = try c.decodeIfPresent(Int.self, forKey: .step) ?? 0
        config = try c.decodeIfPresent(JSONValue.self, forKey: .config)
        optimizer = try c.decodeIfPresent(OptimizerRecord.self, forKey: .optimizer)
        randomStates = try c.decodeIfPresent([String: [UInt64]].self, forKey: .randomStates) ?? [:]
        extra = try c.decodeIfPresent([String: JSONValue].self, forKey: .extra) ?? [:]
    }
}

/// A checkpoint that cannot be written or read, naming the file.
public typealias CheckpointError = FileProblem<CheckpointFile>
/// The kind of ``CheckpointError``.
public enum CheckpointFile {}

/// Writes and reads checkpoints: a safetensors model file, its optimiser state and a JSON sidecar, atomically.
public enum Checkpoint {
    /// The sidecar path for a model file: `x.safetensors` → `x.json`.
    public static func sidecarPath(for modelPath: String) -> String { stem(modelPath) + ".json" }

    /// The optimiser-state path for a model file: `x.safetensors` → `x.optimizer.safetensors`.
    public static func optimizerPath(for modelPath: String) -> String { stem(modelPath) + ".optimizer.safetensors" }

    private static func stem(_ path: String) -> String {
        path.hasSuffix(".safetensors") ? String(path.dropLast(".safetensors".count)) : path
    }

    /// Saves the model's state dict (PyTorch names; `num_batches_tracked` as I64), the optimiser state and the
    /// sidecar. The sidecar is written last, so a checkpoint with a sidecar is complete.
    public static func save(model: any Layer, optimizer: (any Optimizer)?, sidecar: CheckpointSidecar,
                            to path: String) throws {
        let state = model.stateDict
        let integerNames = Set(state.map(\.name).filter { $0.hasSuffix("num_batches_tracked") })
        try SafeTensors.write(state, metadata: ["format": "pt", "step": String(sidecar.step)], to: path,
                              integerNames: integerNames)
        var record = sidecar
        if let optimizer {
            try SafeTensors.write(optimizer.stateTensors(), metadata: ["step": String(optimizer.stepCount)],
                                  to: optimizerPath(for: path))
            record.optimizer = .init(kind: String(describing: type(of: optimizer)), stepCount: optimizer.stepCount,
                                     learningRate: optimizer.learningRate)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try SafeTensors.writeAtomically(try encoder.encode(record), to: sidecarPath(for: path))
    }

    /// Loads the model's state dict strictly from `path` (a safetensors file from here or from PyTorch).
    /// A tensor holding NaN or ±∞ is an error naming it: such a checkpoint cannot give meaningful features or training.
    public static func loadModel(_ model: any Layer, from path: String) throws {
        let (tensors, _) = try SafeTensors.read(path)
        for (name, tensor) in tensors {
            if let index = tensor.firstNonFiniteIndex {
                let value = tensor.withUnsafeBufferPointer { $0[index] }
                throw CheckpointError(path: path, problem: "tensor '\(name)' holds \(value) at index \(index); a checkpoint must hold finite numbers")
            }
        }
        try model.loadStateDict(tensors, source: path)
    }

    /// Reads the sidecar of the checkpoint at `path`.
    public static func readSidecar(for path: String) throws -> CheckpointSidecar {
        let sidecar = sidecarPath(for: path)
        guard FileManager.default.fileExists(atPath: sidecar) else {
            throw CheckpointError(path: sidecar, problem: "missing sidecar (the checkpoint is incomplete or was not written here)")
        }
        let data = try CheckpointError.contents(of: sidecar, limit: 1 << 26)
        do { return try JSONDecoder().decode(CheckpointSidecar.self, from: data) } catch {
            throw CheckpointError(path: sidecar, problem: "not a valid checkpoint sidecar: \(error)")
        }
    }

    /// Loads model, optimiser state and sidecar, for resuming.
    public static func load(model: any Layer, optimizer: (any Optimizer)?, from path: String) throws -> CheckpointSidecar {
        try loadModel(model, from: path)
        let sidecar = try readSidecar(for: path)
        if let optimizer {
            guard let record = sidecar.optimizer else {
                throw CheckpointError(path: sidecarPath(for: path), problem: "no optimiser state recorded; cannot resume the optimiser")
            }
            let expectedKind = String(describing: type(of: optimizer))
            guard record.kind == expectedKind else {
                throw CheckpointError(path: sidecarPath(for: path), problem: "optimiser is \(record.kind), the run uses \(expectedKind)")
            }
            let (tensors, _) = try SafeTensors.read(optimizerPath(for: path))
            try optimizer.loadState(tensors, stepCount: record.stepCount, source: optimizerPath(for: path))
            optimizer.learningRate = record.learningRate
        }
        return sidecar
    }
}
