// The run configuration (`configs/*.yaml`): data, model, optimiser and training knobs, decoded strictly.

import AudioFrontEnd
import Foundation
import ImageFrontEnd
import Layers
import Methods
import TensorCore
import Objectives
import Yams

/// The optimiser and its learning-rate schedule.
public struct OptimizerConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case adam, adamw, sgd, lars }
    public enum Schedule: String, Codable, Sendable, CaseIterable { case constant, cosine }
    public var type: Kind = .adam
    public var learningRate: Float = 2e-4
    public var betas: [Float] = [0.9, 0.999]
    public var epsilon: Float = 1e-8
    public var momentum: Float = 0.9
    public var weightDecay: Float = 0
    public var warmupSteps = 0
    public var schedule: Schedule = .constant
    public var finalLearningRate: Float = 0
    /// Clip the global gradient norm to this value; nil: no clipping.
    public var clipNorm: Float? = nil
    /// Biases and normalisation parameters (every tensor of rank ≤ 1) get no weight decay and no LARS adaptation,
    /// as the pair-method papers train (false: every parameter alike).
    public var excludeBiasAndNorm = true
    /// LARS: η, the trust coefficient (the update of a weight tensor w is η·‖w‖/‖g + λw‖ times its direction).
    public var trustCoefficient: Float = 0.001
    /// LARS: divide the trust ratio by the learning rate and cap it at 1 (solo-learn's `clip_lr`).
    public var clipLR = false

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, betas, epsilon, momentum, schedule
        case learningRate = "learning_rate", weightDecay = "weight_decay", warmupSteps = "warmup_steps"
        case finalLearningRate = "final_learning_rate", clipNorm = "clip_norm", excludeBiasAndNorm = "exclude_bias_and_norm"
        case trustCoefficient = "trust_coefficient", clipLR = "clip_lr"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = OptimizerConfig()
        type = try c.value(.type, default: d.type)
        learningRate = try c.value(.learningRate, default: d.learningRate)
        betas = try c.value(.betas, default: d.betas)
        epsilon = try c.value(.epsilon, default: d.epsilon)
        momentum = try c.value(.momentum, default: d.momentum)
        weightDecay = try c.value(.weightDecay, default: d.weightDecay)
        warmupSteps = try c.value(.warmupSteps, default: d.warmupSteps)
        schedule = try c.value(.schedule, default: d.schedule)
        finalLearningRate = try c.value(.finalLearningRate, default: d.finalLearningRate)
        clipNorm = try c.decodeIfPresent(Float.self, forKey: .clipNorm)
        excludeBiasAndNorm = try c.value(.excludeBiasAndNorm, default: d.excludeBiasAndNorm)
        trustCoefficient = try c.value(.trustCoefficient, default: d.trustCoefficient)
        clipLR = try c.value(.clipLR, default: d.clipLR)
        // Every number finite: NaN passes no comparison and ∞ passes "positive", so each check says both.
        for (key, value) in [("trust_coefficient", trustCoefficient), ("learning_rate", learningRate), ("epsilon", epsilon)]
            where !(value > 0 && value.isFinite) {
            throw decoder.invalid(key, "must be a positive finite number, found \(value)")
        }
        for (key, value) in [("weight_decay", weightDecay), ("final_learning_rate", finalLearningRate)] where !(value >= 0 && value.isFinite) {
            throw decoder.invalid(key, "must be a finite number ≥ 0, found \(value)")
        }
        if !(momentum >= 0 && momentum < 1) { throw decoder.invalid("momentum", "must be in [0, 1), found \(momentum)") }
        if betas.count != 2 || betas.contains(where: { !($0 >= 0 && $0 < 1) }) {
            throw decoder.invalid("betas", "must be two numbers in [0, 1), found \(betas)")
        }
        if warmupSteps < 0 { throw decoder.invalid("warmup_steps", "must not be negative, found \(warmupSteps)") }
        if let clipNorm, !(clipNorm > 0 && clipNorm.isFinite) { throw decoder.invalid("clip_norm", "must be a positive finite number, found \(clipNorm)") }
    }
}

/// Run-level knobs (the CLI may override steps, seed and threads).
public struct TrainingConfig: Codable, Sendable, Equatable {
    public var steps = 1000
    public var seed: UInt64 = 1
    public var logEvery = 10
    public var validateEvery = 200
    public var validationBatches = 4
    public var checkpointEvery = 500
    /// BLAS and elementwise threads; nil: all processors.
    public var threads: Int? = nil
    /// Whether TensorBoard event files are written beside log.jsonl.
    public var tensorboard = true
    /// Images (unaugmented, the first of the test split) whose representations' covariance spectrum is logged at
    /// each validation (`spectrum_backbone`, `spectrum_projector`, `effective_rank_*`); 0: none. Image methods only.
    public var spectrumImages = 1024
    /// What a data-parallel run's losses and batch statistics see (docs/DISTRIBUTED.md).
    public var lossScope = LossScope.global
    /// A checkpoint (safetensors, every tensor of this config's model with the same shape) whose weights a new run
    /// starts from instead of the random initialisation: fine-tuning with another objective, negatives, data or
    /// optimiser. The optimiser, schedule and data start afresh at step 0; a resumed run continues from its own
    /// checkpoints and does not read it again.
    public var initFrom: String? = nil

    /// What the losses and batch-norm statistics of a data-parallel run see.
    public enum LossScope: String, Codable, Sendable, CaseIterable {
        /// The whole global batch (gathered embeddings, negatives from every rank, synchronised batch norm): a config
        /// trains the same on any number of ranks. The default.
        case global
        /// Each rank's own rows only (no all-gather, per-rank batch norm): less communication, but the training
        /// depends on the number of ranks. Gradients are still averaged over the ranks.
        case rank
    }

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, seed, threads, tensorboard, lossScope = "loss_scope", initFrom = "init_from"
        case logEvery = "log_every", validateEvery = "validate_every", validationBatches = "validation_batches"
        case checkpointEvery = "checkpoint_every", spectrumImages = "spectrum_images"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainingConfig()
        steps = try c.value(.steps, default: d.steps)
        seed = try c.value(.seed, default: d.seed)
        logEvery = try c.value(.logEvery, default: d.logEvery)
        validateEvery = try c.value(.validateEvery, default: d.validateEvery)
        validationBatches = try c.value(.validationBatches, default: d.validationBatches)
        checkpointEvery = try c.value(.checkpointEvery, default: d.checkpointEvery)
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        tensorboard = try c.value(.tensorboard, default: d.tensorboard)
        spectrumImages = try c.value(.spectrumImages, default: d.spectrumImages)
        lossScope = try c.value(.lossScope, default: d.lossScope)
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
        if initFrom?.isEmpty == true { throw decoder.invalid("init_from", "must name a checkpoint file, found an empty string") }
        if spectrumImages < 0 || spectrumImages > 65536 {
            throw decoder.invalid("spectrum_images", "must be in 0...65536, found \(spectrumImages)")
        }
        if steps < 1 { throw decoder.invalid("steps", "must be positive, found \(steps)") }
        for (key, value) in [("log_every", logEvery), ("validate_every", validateEvery), ("checkpoint_every", checkpointEvery)] where value < 1 {
            throw decoder.invalid(key, "must be positive, found \(value)")
        }
        if validationBatches < 0 || validationBatches > 10_000 {
            throw decoder.invalid("validation_batches", "must be in 0...10000, found \(validationBatches)")
        }
        if steps > 1_000_000_000 { throw decoder.invalid("steps", "must be at most 1000000000, found \(steps)") }
        if let threads, threads < 1 || threads > 1024 { throw decoder.invalid("threads", "must be in 1...1024, found \(threads)") }
    }
}

/// A whole run: `method` names the method (a key of `MethodRegistry`), whose type decides what `data` (its input
/// kind's section) and `model` (its config type) mean; both are decoded strictly by those types.
public struct RunConfig: Codable, Sendable, Equatable {
    public var method = "cpc"
    public var data = DataSection.audio(DataConfig())
    public var model = AnyMethodConfig(CPCConfig())
    public var optimizer = OptimizerConfig()
    public var training = TrainingConfig()

    public init() {}

    /// A config for `method` with its default data and model sections.
    public init(method: String) throws {
        guard let entry = MethodRegistry.entry(method) else { throw Self.unknown(method) }
        self.method = method
        data = DataSection.defaults(for: entry.input)
        model = entry.defaultConfig
    }

    /// The registry entry of `method`.
    public var entry: RegisteredMethod {
        get throws {
            guard let entry = MethodRegistry.entry(method) else { throw Self.unknown(method) }
            return entry
        }
    }

    static func unknown(_ method: String) -> ConfigError {
        ConfigError(key: "method", message: "unknown method '\(method)'; available: \(MethodRegistry.keys.joined(separator: ", "))")
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case method, data, model, optimizer, training }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.value(.method, default: "cpc")
        guard let entry = MethodRegistry.entry(method) else { throw Self.unknown(method) }
        optimizer = try c.value(.optimizer, default: OptimizerConfig())
        training = try c.value(.training, default: TrainingConfig())
        data = try DataSection.decode(entry.input, from: c, forKey: .data)
        model = try entry.decodeConfig(from: c, forKey: .model)
        try entry.validate(model, input: data.knownShape)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method)
        try c.encode(data, forKey: .data)
        try c.encode(model, forKey: .model)
        try c.encode(optimizer, forKey: .optimizer)
        try c.encode(training, forKey: .training)
    }

    /// Builds the method for `input` (the one place every command makes a model: trainer, probes, embed, bench).
    public func makeMethod(input: InputShape, seed: UInt64? = nil) throws -> any Method {
        try entry.make(model, input: input, seed: seed ?? training.seed)
    }

    /// Reads and validates a YAML (or JSON) config file; errors name the file and the key.
    public static func load(_ path: String) throws -> RunConfig {
        var status = stat()
        if stat(path, &status) == 0, status.st_size > maximumConfigBytes {
            throw ConfigError(file: path, key: "", message: "is \(status.st_size) bytes; a config is at most \(maximumConfigBytes >> 10) KiB")
        }
        let text: String
        do { text = try FileProblem<RunConfig>.text(of: path) } catch let error as FileProblem<RunConfig> {
            throw ConfigError(file: path, key: "", message: error.problem)
        }
        if let line = aliasLine(text) {
            throw ConfigError(file: path, key: "", message: "line \(line) uses a YAML alias (*name); configs do not expand aliases "
                + "(a few lines of them can expand to billions of nodes): write the values out")
        }
        do {
            return try YAMLDecoder().decode(RunConfig.self, from: text)
        } catch {
            throw describe(error, file: path)
        }
    }

    /// Like `load`, and with `requiringModel` the file must have a `model` section: a config that rebuilds a
    /// checkpoint's architecture may not fall back to the default model.
    public static func load(_ path: String, requiringModel: Bool) throws -> RunConfig {
        let config = try load(path)
        guard requiringModel else { return config }
        let keys = try? YAMLDecoder().decode(TopLevelKeys.self, from: try FileProblem<RunConfig>.text(of: path)).keys
        guard keys?.contains("model") == true else {
            throw ConfigError(file: path, key: "model", message: "missing: the model section decides the architecture "
                + "(the default model would not be the one the checkpoint holds)")
        }
        return config
    }

    /// The keys of a config's top-level mapping.
    struct TopLevelKeys: Decodable {
        let keys: Set<String>
        init(from decoder: Decoder) throws { keys = Set(try decoder.container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)) }
    }

    /// The largest config file `load` reads.
    public static let maximumConfigBytes = 1 << 20

    /// The 1-based line of the first YAML alias (`*name` where a value, item or key starts, outside quotes and
    /// comments), or nil. Aliases are refused before parsing: expanding them is what a "billion laughs" file abuses.
    static func aliasLine(_ text: String) -> Int? {
        for (number, line) in text.textLines.enumerated() {
            var quote: Character? = nil
            var previous: Character = " "
            for character in line {
                if let open = quote {
                    if character == open { quote = nil }
                } else if character == "\"" || character == "'" {
                    if " \t:[{,-?".contains(previous) { quote = character }
                } else if character == "#" && (previous == " " || previous == "\t") {
                    break
                } else if character == "*" && " \t[{,?".contains(previous) {
                    return number + 1
                }
                previous = character
            }
        }
        return nil
    }

    /// Turns decoding errors (which Yams may wrap) into a `ConfigError` naming the file and key.
    public static func describe(_ error: Error, file: String) -> ConfigError {
        func path(_ context: DecodingError.Context) -> String { context.codingPath.map(\.stringValue).joined(separator: ".") }
        switch error {
        case let error as ConfigError:
            return ConfigError(file: file, key: error.key, message: error.message)
        case DecodingError.dataCorrupted(let context):
            if let underlying = context.underlyingError { return describe(underlying, file: file) }
            return ConfigError(file: file, key: path(context), message: context.debugDescription)
        case DecodingError.typeMismatch(let type, let context):
            if let underlying = context.underlyingError { return describe(underlying, file: file) }
            return ConfigError(file: file, key: path(context), message: "expected \(type): \(context.debugDescription)")
        case DecodingError.valueNotFound(let type, let context):
            return ConfigError(file: file, key: path(context), message: "expected \(type), found nothing")
        case DecodingError.keyNotFound(let key, let context):
            return ConfigError(file: file, key: (path(context).isEmpty ? "" : path(context) + ".") + key.stringValue, message: "missing")
        default:
            return ConfigError(file: file, key: "", message: "not valid YAML: \(error)")
        }
    }

    /// The resolved config as pretty JSON (printed at start and stored with the run).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
