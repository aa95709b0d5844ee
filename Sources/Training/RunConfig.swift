// The run configuration (`configs/*.yaml`): data, model, optimiser and training knobs, decoded strictly.

import AudioFrontEnd
import Foundation
import ImageFrontEnd
import Layers
import Methods
import Objectives
import Yams

/// Where the training windows come from.
public struct DataConfig: Codable, Sendable, Equatable {
    public var corpus = "Corpora/synth-small"
    /// Utterances to train on (one id per line); nil: all.
    public var trainSplit: String? = nil
    /// Held-out utterances for the validation loss; nil: no validation.
    public var validationSplit: String? = nil
    /// Samples per training window.
    public var window = 20480
    public var batchSize = 8
    public var sampling: SamplingMode = .mixed
    /// Decoded-audio cache budget in MiB.
    public var cacheMegabytes = 1024
    /// Batches prepared ahead by the background loader.
    public var prefetch = 4

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case corpus, window, sampling, prefetch
        case trainSplit = "train_split", validationSplit = "validation_split", batchSize = "batch_size"
        case cacheMegabytes = "cache_mb"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DataConfig()
        corpus = try c.value(.corpus, default: d.corpus)
        trainSplit = try c.decodeIfPresent(String.self, forKey: .trainSplit)
        validationSplit = try c.decodeIfPresent(String.self, forKey: .validationSplit)
        window = try c.value(.window, default: d.window)
        batchSize = try c.value(.batchSize, default: d.batchSize)
        sampling = try c.value(.sampling, default: d.sampling)
        cacheMegabytes = try c.value(.cacheMegabytes, default: d.cacheMegabytes)
        prefetch = try c.value(.prefetch, default: d.prefetch)
        if window < 160 { throw decoder.invalid("window", "must be at least 160 samples, found \(window)") }
        if batchSize < 1 { throw decoder.invalid("batch_size", "must be positive, found \(batchSize)") }
        if cacheMegabytes < 0 { throw decoder.invalid("cache_mb", "must not be negative, found \(cacheMegabytes)") }
        if prefetch < 1 { throw decoder.invalid("prefetch", "must be positive, found \(prefetch)") }
    }
}

/// The optimiser and its learning-rate schedule.
public struct OptimizerConfig: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case adam, adamw, sgd, lars }
    public enum Schedule: String, Codable, Sendable { case constant, cosine }
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

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, betas, epsilon, momentum, schedule
        case learningRate = "learning_rate", weightDecay = "weight_decay", warmupSteps = "warmup_steps"
        case finalLearningRate = "final_learning_rate", clipNorm = "clip_norm"
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
        if !(learningRate > 0) { throw decoder.invalid("learning_rate", "must be positive, found \(learningRate)") }
        if betas.count != 2 || betas.contains(where: { !($0 >= 0 && $0 < 1) }) {
            throw decoder.invalid("betas", "must be two numbers in [0, 1), found \(betas)")
        }
        if warmupSteps < 0 { throw decoder.invalid("warmup_steps", "must not be negative, found \(warmupSteps)") }
        if let clipNorm, !(clipNorm > 0) { throw decoder.invalid("clip_norm", "must be positive, found \(clipNorm)") }
        if weightDecay < 0 { throw decoder.invalid("weight_decay", "must not be negative, found \(weightDecay)") }
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

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case steps, seed, threads
        case logEvery = "log_every", validateEvery = "validate_every", validationBatches = "validation_batches"
        case checkpointEvery = "checkpoint_every"
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
        if steps < 1 { throw decoder.invalid("steps", "must be positive, found \(steps)") }
        for (key, value) in [("log_every", logEvery), ("validate_every", validateEvery), ("checkpoint_every", checkpointEvery)] where value < 1 {
            throw decoder.invalid(key, "must be positive, found \(value)")
        }
        if validationBatches < 0 { throw decoder.invalid("validation_batches", "must not be negative") }
        if let threads, threads < 1 { throw decoder.invalid("threads", "must be positive, found \(threads)") }
    }
}

/// Where the training images come from and how they are cut into augmented patch grids (method `cpc-image`).
public struct ImageDataConfig: Codable, Sendable, Equatable {
    /// IDX files, `train/` + `test/` class folders, or class folders (see `ImageCorpus.load`).
    public var corpus = ImageCorpus.fashionMNISTPath
    /// P and S: patch side and stride in pixels (default 8 and 4: a 6×6 grid with 50 % overlap at 28 px).
    public var patch = 8
    public var stride = 4
    /// Q: random crop inside each patch while training (centre crop when evaluating); nil: no crop.
    public var crop: Int? = 7
    public var horizontalFlip = true
    public var colourDrop: Float = 0
    public var greyscale: Float = 0
    public var batchSize = 32
    /// Use the test split, unaugmented, for the validation loss.
    public var validate = true
    public var prefetch = 4

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case corpus, patch, stride, crop, greyscale, validate, prefetch
        case horizontalFlip = "horizontal_flip", colourDrop = "colour_drop", batchSize = "batch_size"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ImageDataConfig()
        corpus = try c.value(.corpus, default: d.corpus)
        patch = try c.value(.patch, default: d.patch)
        stride = try c.value(.stride, default: d.stride)
        crop = try c.contains(.crop) ? c.decodeIfPresent(Int.self, forKey: .crop) : d.crop  // `crop: null` turns it off
        horizontalFlip = try c.value(.horizontalFlip, default: d.horizontalFlip)
        colourDrop = try c.value(.colourDrop, default: d.colourDrop)
        greyscale = try c.value(.greyscale, default: d.greyscale)
        batchSize = try c.value(.batchSize, default: d.batchSize)
        validate = try c.value(.validate, default: d.validate)
        prefetch = try c.value(.prefetch, default: d.prefetch)
        if patch < 1 { throw decoder.invalid("patch", "must be positive, found \(patch)") }
        if stride < 1 { throw decoder.invalid("stride", "must be positive, found \(stride)") }
        if let crop, crop < 1 || crop > patch { throw decoder.invalid("crop", "must be in 1...patch (\(patch)), found \(crop)") }
        for (key, p) in [("colour_drop", colourDrop), ("greyscale", greyscale)] where !(p >= 0 && p <= 1) {
            throw decoder.invalid(key, "must be a probability in [0, 1], found \(p)")
        }
        if batchSize < 1 { throw decoder.invalid("batch_size", "must be positive, found \(batchSize)") }
        if prefetch < 1 { throw decoder.invalid("prefetch", "must be positive, found \(prefetch)") }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(corpus, forKey: .corpus)
        try c.encode(patch, forKey: .patch)
        try c.encode(stride, forKey: .stride)
        try c.encode(crop, forKey: .crop)  // null when off, so that the stored config reads back the same
        try c.encode(horizontalFlip, forKey: .horizontalFlip)
        try c.encode(colourDrop, forKey: .colourDrop)
        try c.encode(greyscale, forKey: .greyscale)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(validate, forKey: .validate)
        try c.encode(prefetch, forKey: .prefetch)
    }

    public var grid: PatchGrid { PatchGrid(patch: patch, stride: stride) }

    /// The patch grid on `set`'s images, or an error naming `data.patch` when image CPC cannot use it: a patch must fit
    /// both ways, and the grid needs two rows or two columns to predict along.
    public func gridShape(for set: ImageSet) throws -> (rows: Int, columns: Int) {
        let (rows, columns) = grid.shape(height: set.height, width: set.width)
        guard rows >= 1 && columns >= 1 && (rows >= 2 || columns >= 2) else {
            throw ConfigError(key: "data.patch", message: "\(patch)-pixel patches at stride \(stride) give a \(rows)×\(columns) "
                + "grid on \(set.height)×\(set.width) images; image CPC needs a patch that fits and at least two rows or columns")
        }
        return (rows, columns)
    }
    public var augmentation: PatchAugmentation {
        PatchAugmentation(crop: crop, horizontalFlip: horizontalFlip, colourDrop: colourDrop, greyscale: greyscale)
    }
}

/// The data and model sections of an image CPC run.
public struct ImageRun: Sendable, Equatable {
    public var data = ImageDataConfig()
    public var model = CPCImageConfig()
    public init() {}
}

/// A whole run: `method` names the method (the registry key: `cpc` for audio, `cpc-image` for patch grids), and
/// picks how `data` and `model` are read. For `cpc` they fill `data`/`model`; for `cpc-image`, `image`.
public struct RunConfig: Codable, Sendable, Equatable {
    public static let methods = ["cpc", "cpc-image"]
    public var method = "cpc"
    public var data = DataConfig()
    public var model = CPCConfig()
    /// Set when `method` is `cpc-image`.
    public var image: ImageRun? = nil
    public var optimizer = OptimizerConfig()
    public var training = TrainingConfig()

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case method, data, model, optimizer, training }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.value(.method, default: "cpc")
        guard Self.methods.contains(method) else {
            throw decoder.invalid("method", "unknown method '\(method)'; available: \(Self.methods.joined(separator: ", "))")
        }
        optimizer = try c.value(.optimizer, default: OptimizerConfig())
        training = try c.value(.training, default: TrainingConfig())
        if method == "cpc-image" {
            var run = ImageRun()
            run.data = try c.value(.data, default: ImageDataConfig())
            run.model = try c.value(.model, default: CPCImageConfig())
            image = run
            return
        }
        data = try c.value(.data, default: DataConfig())
        model = try c.value(.model, default: CPCConfig())
        let frames = data.window / model.encoder.downsampling
        if frames <= model.predictionSteps {
            throw ConfigError(key: "data.window", message: "\(data.window) samples give \(frames) encoded frames; "
                + "more than model.prediction_steps (\(model.predictionSteps)) are needed")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method)
        if let image {
            try c.encode(image.data, forKey: .data)
            try c.encode(image.model, forKey: .model)
        } else {
            try c.encode(data, forKey: .data)
            try c.encode(model, forKey: .model)
        }
        try c.encode(optimizer, forKey: .optimizer)
        try c.encode(training, forKey: .training)
    }

    /// Reads and validates a YAML (or JSON) config file; errors name the file and the key.
    public static func load(_ path: String) throws -> RunConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(file: path, key: "", message: "cannot read the config file")
        }
        do {
            return try YAMLDecoder().decode(RunConfig.self, from: text)
        } catch {
            throw describe(error, file: path)
        }
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
