// The data pipelines of training, one per input kind a method can ask for: random audio windows, augmented patch
// grids, and augmented image views. Each builds batch i from (seed, i) alone, in a background loader.

import AudioFrontEnd
import Foundation
import ImageFrontEnd
import Layers
import Methods
import TensorCore

/// What the trainer needs from a front end: training batches in order (built ahead in the background) and fixed
/// validation batches.
public protocol TrainingPipeline {
    func loader(firstBatch: Int) -> PrefetchLoader<Batch>
    var hasValidation: Bool { get }
    func validationBatch(_ index: Int) throws -> Batch
    /// Items (audio samples, images) per training batch, and their name in logs.
    var itemsPerBatch: Int { get }
    var unit: String { get }
    /// What the method will see (the model is built from it).
    var inputShape: InputShape { get }
    /// The first `count` validation (else training) items as the method sees them without augmentation: the fixed
    /// batch of the representation spectrum. Nil when the input kind has no such batch (audio).
    func evaluationInputs(count: Int) -> Tensor?
}

extension TrainingPipeline {
    public func evaluationInputs(count: Int) -> Tensor? { nil }
}

/// The pipeline for a run's `data:` section.
public func makePipeline(_ data: DataSection, seed: UInt64) throws -> any TrainingPipeline {
    switch data {
    case .audio(let d): return try AudioPipeline(config: d, seed: seed)
    case .patchGrid(let d): return try ImagePipeline(config: d, seed: seed)
    case .imageViews(let d): return try ViewPipeline(config: d, seed: seed)
    }
}

/// Random windows of the training utterances; validation windows from the validation split.
struct AudioPipeline: TrainingPipeline {
    var sampler: WindowSampler
    var validationSampler: WindowSampler?
    let cache: AudioCache
    let prefetch: Int

    init(config data: DataConfig, seed: UInt64) throws {
        let corpus = try Corpus.load(data.corpus)
        let trainIDs = try data.trainSplit.map { try SplitFile.read($0) } ?? corpus.utterances.map(\.id)
        let validationIDs = try data.validationSplit.map { try SplitFile.read($0) }
        // The checks `cpc prepare` makes, on the splits given: readable audio, known ids, no id in both, labels that fit.
        var splits: [(name: String, ids: [String])] = []
        if let path = data.trainSplit { splits.append((path, trainIDs)) }
        if let path = data.validationSplit, let ids = validationIDs { splits.append((path, ids)) }
        let labels = try data.labels.map { try PhoneLabels.read($0) }
        try CorpusValidator.requireUsable(corpus, folder: data.corpus, labels: labels, splits: splits, purpose: "trained on")
        sampler = try WindowSampler(corpus: corpus, utteranceIDs: trainIDs, lengths: try Self.lengths(of: corpus, ids: trainIDs),
                                    windowLength: data.window, batchSize: data.batchSize, mode: data.sampling, seed: seed)
        sampler.augmentation = data.augmentation.waveform
        if let ids = validationIDs {
            validationSampler = try WindowSampler(corpus: corpus, utteranceIDs: ids, lengths: try Self.lengths(of: corpus, ids: ids),
                                                  windowLength: data.window, batchSize: data.batchSize, mode: .mixed,
                                                  seed: seed &+ 7777)
        } else {
            validationSampler = nil
        }
        if let labels, let path = data.labels {
            if let missing = trainIDs.first(where: { labels.labels[$0]?.isEmpty ?? true }) {
                throw CorpusError(path: path, problem: "utterance '\(missing)' of the training split has no phone labels")
            }
            sampler.frameLabels = labels
            if var validation = validationSampler {
                if let missing = (validationIDs ?? []).first(where: { labels.labels[$0]?.isEmpty ?? true }) {
                    throw CorpusError(path: path, problem: "utterance '\(missing)' of the validation split has no phone labels")
                }
                validation.frameLabels = labels
                validationSampler = validation
            }
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
    var inputShape: InputShape {
        var shape = InputShape(kind: .audioWindows)
        (shape.window, shape.batchSize) = (sampler.windowLength, sampler.batchSize)
        shape.classes = sampler.corpus.speakers.count
        shape.frameLabels = sampler.frameLabels != nil
        shape.frameClasses = sampler.frameLabels?.classCount ?? 0
        return shape
    }
}

/// Augmented patch grids of random training images; unaugmented grids of test images for validation.
struct ImagePipeline: TrainingPipeline {
    let train: PatchBatchSampler
    let validation: PatchBatchSampler?
    let rows: Int, columns: Int
    /// Q: the side of the patches the method sees (the crop, or the whole patch).
    let patchSize: Int
    let prefetch: Int

    init(config data: ImageDataConfig, seed: UInt64) throws {
        patchSize = data.crop ?? data.patch
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
    func evaluationInputs(count: Int) -> Tensor? {
        let sampler = validation ?? train
        var none: RandomGenerator? = nil
        return PatchExtractor(grid: sampler.extractor.grid, augmentation: sampler.extractor.augmentation.evaluation)
            .patches(of: sampler.set, images: Array(0..<min(count, sampler.set.count)), generator: &none)
    }
    var itemsPerBatch: Int { train.batchSize }
    var unit: String { "images" }
    var inputShape: InputShape {
        var shape = InputShape(kind: .patchGrid)
        (shape.rows, shape.columns, shape.channels) = (rows, columns, train.set.channels)
        (shape.batchSize, shape.patchSize) = (train.batchSize, patchSize)
        shape.classes = train.set.classNames.count
        return shape
    }
}

/// Augmented views of the training images (epochs of permutations); views of the test images for validation.
struct ViewPipeline: TrainingPipeline, MethodDataSource {
    let train: ViewBatchSampler
    let validation: ViewBatchSampler?
    let prefetch: Int

    init(config data: ViewDataConfig, seed: UInt64) throws {
        let set = try ImageCorpus.load(data.corpus, split: .train)
        for (index, view) in data.augmentations.enumerated() where (view.size ?? set.height) < 2 {
            throw ConfigError(key: "data.views", message: "view \(index + 1) would be \(view.size ?? set.height) pixels; at least 2 are needed")
        }
        if data.batchSize > set.count {
            throw ConfigError(key: "data.batch_size", message: "\(data.batchSize) is more than the \(set.count) training images of \(data.corpus)")
        }
        train = ViewBatchSampler(set: set, views: data.augmentations, batchSize: data.batchSize, seed: seed)
        if data.validate {
            let test = try ImageCorpus.load(data.corpus, split: .test)
            guard test.channels == set.channels else {
                throw ImageError(path: data.corpus, problem: "test images have \(test.channels) channels but training images \(set.channels)")
            }
            validation = ViewBatchSampler(set: test, views: data.augmentations, batchSize: min(data.batchSize, test.count),
                                          seed: seed &+ 7777)
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
    func validationBatch(_ index: Int) throws -> Batch { validation!.batch(index) }
    func evaluationInputs(count: Int) -> Tensor? {
        let set = (validation ?? train).set
        return ViewBatchSampler.evaluationImages(of: set, images: Array(0..<min(count, set.count)))
    }
    var itemsPerBatch: Int { train.batchSize }
    var unit: String { "images" }
    var inputShape: InputShape {
        var shape = InputShape(kind: .imageViews)
        shape.channels = train.set.channels
        shape.views = train.views.map { .init(height: $0.size ?? train.set.height, width: $0.size ?? train.set.width) }
        shape.classes = train.set.classNames.count
        (shape.trainingItems, shape.batchSize) = (train.set.count, train.batchSize)
        return shape
    }

    var itemCount: Int { train.set.count }
    func batch(items: [Int]) throws -> Batch {
        Batch(inputs: ViewBatchSampler.evaluationImages(of: train.set, images: items), labels: items.map { train.set.labels[$0] },
              items: items, index: 0)
    }
}
