// Frozen image features for the image probe: raw pixels, or the patch vectors of an image CPC model (trained or
// randomly initialised) mean-pooled over the grid (the CPC paper's ImageNet protocol).
//
// Glossary: N images, H×W×C pixels, D feature width.

import Foundation
import ImageFrontEnd
import Layers
import Methods
import TensorCore
import Training

/// Turns a set of images into one feature row per image.
public protocol ImageFeatureExtractor {
    /// `[N, D]` features of `set`.
    func features(of set: ImageSet) -> Tensor
}

/// Pixels scaled to [0, 1], flattened: `[N, H·W·C]`.
public struct PixelFeatures: ImageFeatureExtractor {
    public init() {}
    public func features(of set: ImageSet) -> Tensor {
        let result = Tensor.zeros([set.count, set.pixelsPerImage])
        result.withUnsafeMutableBufferPointer { out in
            for (i, p) in set.pixels.enumerated() { out[i] = Float(p) / 255 }
        }
        return result
    }
}

/// An image CPC model's patch encodings, mean-pooled over the grid (`[N, D]`) or kept in grid order (`[N, G·D]`).
/// Patches are cut as in training, without the random augmentation (centre crop).
public final class CPCImageFeatures: ImageFeatureExtractor {
    public let model: CPCImageModel
    public let extractor: PatchExtractor
    public var pooling = CPCImageModel.Pooling.mean
    /// Images encoded per forward pass.
    public var batchSize = 256

    public init(model: CPCImageModel, data: ImageDataConfig) {
        self.model = model
        extractor = PatchExtractor(grid: data.grid, augmentation: data.augmentation.evaluation)
    }

    /// A randomly initialised model with the architecture of `config` (an image CPC run config) for images like `set`.
    public static func random(config: RunConfig, like set: ImageSet, seed: UInt64 = 12345) throws -> CPCImageFeatures {
        let run = try imageRun(config, source: "the config")
        var generator = RandomGenerator(seed: seed, stream: 1)
        let (rows, columns) = try run.data.gridShape(for: set)
        return CPCImageFeatures(model: CPCImageModel(config: run.model, rows: rows, columns: columns, imageChannels: set.channels,
                                                     generator: &generator), data: run.data)
    }

    /// Loads an image CPC checkpoint written by `cpc train` (its sidecar holds the config) for images like `set`.
    public static func load(checkpoint path: String, like set: ImageSet) throws -> CPCImageFeatures {
        let config = try RunConfig.stored(with: path)
        let run = try imageRun(config, source: Checkpoint.sidecarPath(for: path))
        let (rows, columns) = try run.data.gridShape(for: set)
        var generator = RandomGenerator(seed: 0)
        let model = CPCImageModel(config: run.model, rows: rows, columns: columns, imageChannels: set.channels, generator: &generator)
        try Checkpoint.loadModel(model, from: path)
        return CPCImageFeatures(model: model, data: run.data)
    }

    static func imageRun(_ config: RunConfig, source: String) throws -> ImageRun {
        guard let run = config.image else {
            throw ConfigError(file: source, key: "method", message: "expected an image CPC model (cpc-image), found '\(config.method)'")
        }
        return run
    }

    public func features(of set: ImageSet) -> Tensor {
        model.setTraining(false)
        defer { model.setTraining(true) }
        var blocks: [Tensor] = []
        var start = 0
        while start < set.count {
            let indices = Array(start..<min(start + batchSize, set.count))
            var none: RandomGenerator? = nil
            let patches = extractor.patches(of: set, images: indices, generator: &none)
            blocks.append(withoutGrad { model.imageFeatures(patches, pooling: pooling) })
            start += batchSize
        }
        return withoutGrad { Tensor.concatenate(blocks, alongAxis: 0) }
    }
}

extension Probes {
    /// Class accuracy on the test images of a linear (or one-hidden-layer) classifier trained on the train images'
    /// features; the held-out tenth of the training images picks the learning rate and epoch count.
    public static func image(name: String, train: Tensor, trainLabels: [Int], test: Tensor, testLabels: [Int], classes: Int,
                             settings: ProbeSettings) -> ProbeResult {
        let outcome = LinearProbe.run(train: train, trainLabels: trainLabels, trainGroups: Array(0..<trainLabels.count),
                                      test: test, testLabels: testLabels, classes: classes, settings: settings)
        return ProbeResult(features: name, task: "image", accuracy: Double(outcome.testAccuracy), classes: classes,
                           testItems: testLabels.count, trainItems: trainLabels.count,
                           learningRate: Double(outcome.learningRate), epochs: outcome.epochs, hidden: settings.hidden)
    }
}
