// Frozen image features for the image probes: raw pixels, or what any registered image method gives for an image
// (trained or randomly initialised): the backbone's pooled output for the pair methods, the patch vectors of image
// CPC mean-pooled over the grid (the CPC paper's ImageNet protocol) or side by side. Models are built through the
// registry, from the checkpoint's model config (CheckpointLoading.swift).
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

/// A registered image method's features of each image: patch grids cut as in training without the random
/// augmentation (centre crop) for patch-grid methods, the whole image in [−1, 1] for view methods.
public final class MethodImageFeatures: ImageFeatureExtractor {
    public let method: any Method
    public let data: DataSection
    public var request = FeatureRequest.pooled
    /// Images encoded per forward pass.
    public var batchSize = 256

    public init(method: any Method, data: DataSection) {
        self.method = method
        self.data = data
    }

    /// The features of the checkpoint at `path`, its model config from its sidecar or `configFile`
    /// (`RunConfig.forCheckpoint`).
    public static func load(checkpoint path: String, configFile: String? = nil, like set: ImageSet) throws -> MethodImageFeatures {
        let (config, method) = try MethodLoader.load(checkpoint: path, configFile: configFile, like: set)
        return MethodImageFeatures(method: method, data: config.data)
    }

    public static func random(config: RunConfig, like set: ImageSet, seed: UInt64 = 12345) throws -> MethodImageFeatures {
        MethodImageFeatures(method: try MethodLoader.random(config: config, like: set, seed: seed), data: config.data)
    }

    /// The inputs of `images` of `set` as the method saw them in training, without augmentation.
    public func inputs(of set: ImageSet, images: [Int]) -> Tensor {
        switch data {
        case .patchGrid(let d):
            var none: RandomGenerator? = nil
            return PatchExtractor(grid: d.grid, augmentation: d.augmentation.evaluation).patches(of: set, images: images, generator: &none)
        default:
            return ViewBatchSampler.evaluationImages(of: set, images: images)
        }
    }

    /// Whether the method gives `request` features.
    public func supports(_ request: FeatureRequest, like set: ImageSet) -> Bool {
        method.model.setTraining(false)
        return method.features(inputs(of: set, images: [0]), request) != nil
    }

    /// G, the patch vectors per image in `.grid` features (the grid's width over the pooled width), from one image of
    /// `set`; nil when the method keeps no grid.
    public func gridCells(like set: ImageSet) -> Int? {
        method.model.setTraining(false)
        let x = inputs(of: set, images: [0])
        guard let grid = withoutGrad({ method.features(x, .grid) }), let pooled = withoutGrad({ method.features(x, .pooled) }),
              grid.rank == 2, pooled.rank == 2, pooled.shape[1] > 0, grid.shape[1] % pooled.shape[1] == 0 else { return nil }
        return grid.shape[1] / pooled.shape[1]
    }

    public func features(of set: ImageSet) -> Tensor {
        method.model.setTraining(false)
        var blocks: [Tensor] = []
        var start = 0
        let stage = StageProgress.begin("image features", total: set.count, unit: "images")
        defer { stage?.finish() }
        while start < set.count {
            let indices = Array(start..<min(start + batchSize, set.count))
            defer { stage?.advance(by: indices.count) }
            blocks.append(withoutGrad { method.features(inputs(of: set, images: indices), request)! })
            start += batchSize
        }
        return withoutGrad { Tensor.concatenate(blocks, alongAxis: 0) }
    }
}

/// Image vectors from patch vectors kept side by side (`FeatureRequest.grid`).
public enum GridPooling {
    /// The mean over the `cells` blocks of each row: `[N, cells·D]` → `[N, D]` (the rows themselves when `cells` is 1).
    public static func mean(_ grid: Tensor, cells: Int) -> Tensor {
        guard cells > 1 else { return grid }
        precondition(grid.rank == 2 && grid.shape[1] % cells == 0, "expected [N, \(cells)·D] grid features, found \(grid.shape)")
        return withoutGrad { grid.reshaped([grid.shape[0], cells, grid.shape[1] / cells]).mean(alongAxis: 1) }
    }
}

extension Probes {
    /// Class accuracy on the test images of a linear (or one-hidden-layer) classifier trained on the train images'
    /// features; the held-out tenth of the training images picks the learning rate and epoch count.
    public static func image(name: String, train: Tensor, trainLabels: [Int], test: Tensor, testLabels: [Int], classes: Int,
                             settings: ProbeSettings) -> ProbeResult {
        let outcome = LinearProbe.run(train: train, trainLabels: trainLabels, trainGroups: Array(0..<trainLabels.count),
                                      test: test, testLabels: testLabels, classes: classes, settings: settings)
        return ProbeResult(features: name, task: "linear", accuracy: Double(outcome.testAccuracy), classes: classes,
                           testItems: testLabels.count, trainItems: trainLabels.count,
                           learningRate: Double(outcome.learningRate), epochs: outcome.epochs, hidden: settings.hidden)
    }
}
