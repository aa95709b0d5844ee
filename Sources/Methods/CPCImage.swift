// Contrastive Predictive Coding on images (van den Oord et al. 2018; CPC v2, Hénaff et al. 2019): a small ResNet
// encodes each patch of a grid to one vector (mean-pooled), a GRU runs down each column of the grid, and W_k·c
// predicts the patch k rows below; InfoNCE scores each prediction against every patch of the batch. Optionally the
// same is done upwards and along rows (CPC v2's several directions), each direction with its own GRU and heads.
//
// Glossary: N images, GH×GW grid, G = GH·GW, Q×Q patch pixels, C image channels, D encoding width (the last
// encoder width), H context size, K prediction steps, L sequence length along a direction, S sequences per image.

import Foundation
import Layers
import Objectives
import TensorCore

/// The direction the context network reads the grid in (and predicts towards).
public enum GridDirection: String, Codable, Sendable, CaseIterable { case down, up, right, left }

/// The context network over the grid: a GRU along each column (or row), or a PixelCNN-style stack of masked 3×3
/// convolutions over the whole grid (CPC v2), which sees the neighbouring columns too but never a later row.
public enum GridContextKind: String, Codable, Sendable, CaseIterable {
    case gru
    case maskedConv = "masked_conv"
}

/// A stack of 3×3 convolutions with ReLUs between them over sequences laid side by side, `[N, S, L, C]` →
/// `[N, S, L, H]`, masked so that position t along L sees positions ≤ t only (the kernel's column t + 1 is zeroed;
/// every sequence s − 1, s, s + 1 is seen). Names `conv{i}.weight`, `conv{i}.bias` (PyTorch's `Conv2d` layout).
public final class MaskedConvContext: Layer {
    /// The convolutions (`conv{i}`), masked at run time.
    public let convolutions: [Conv2d]
    /// 1 where a kernel tap may look, 0 at the future column: `[1, 1, 3, 3]`, broadcast over the weight.
    let mask = Tensor([1, 1, 0, 1, 1, 0, 1, 1, 0], shape: [1, 1, 3, 3])
    public var isTraining = true

    /// `layers` masked 3×3 convolutions from `inputSize` to `hiddenSize` channels.
    public init(inputSize: Int, hiddenSize: Int, layers: Int, generator: inout RandomGenerator) {
        convolutions = (0..<layers).map { i in
            Conv2d(inputChannels: i == 0 ? inputSize : hiddenSize, outputChannels: hiddenSize, kernelSize: (3, 3),
                   padding: (1, 1), generator: &generator)
        }
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] { convolutions.enumerated().map { ("conv\($0.offset)", $0.element) } }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        var x = input
        for (i, conv) in convolutions.enumerated() {
            x = conv2d(x, weight: conv.weight * mask, bias: conv.bias, padding: (1, 1))
            if i < convolutions.count - 1 { x = x.relu() }
        }
        return x
    }
}

/// The patch encoder, context and heads of image CPC.
public struct CPCImageConfig: MethodConfig {
    /// Channel widths: a 3×3 stem conv to `channels[0]`, then one residual block per further width, each at
    /// stride 2. D = the last width.
    public var channels = [32, 64]
    /// Layer norm (over each patch's H, W, C) by default: batch statistics would leak across patches.
    public var normalization: NormalizationKind = .layer
    /// The context's hidden width (GRU state or conv channels).
    public var contextHidden = 128
    /// A GRU down each column (the paper) or a PixelCNN-style masked convolution stack.
    public var context: GridContextKind = .gru
    /// Layers of the masked-conv context (its receptive field reaches this many rows back).
    public var contextLayers = 3
    /// K; nil: grid height − 2 (at least 1).
    public var predictionSteps: Int? = nil
    /// The nearest offset predicted: 1 predicts every k = 1…K; 2 skips the neighbouring patch, which shares pixels
    /// with the context's own patch when patches overlap (CPC v2 skips the overlapping rows: otherwise the easiest
    /// way to pick the neighbour is to match the shared pixels).
    public var firstStep = 1
    /// The directions predicted (each with its own context and heads); CPC v2 uses several.
    public var directions: [GridDirection] = [.down]

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case channels, normalization, directions
        case contextHidden = "context_hidden", predictionSteps = "prediction_steps", context
        case contextLayers = "context_layers", firstStep = "first_step"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CPCImageConfig()
        channels = try c.value(.channels, default: d.channels)
        normalization = try c.value(.normalization, default: d.normalization)
        contextHidden = try c.value(.contextHidden, default: d.contextHidden)
        context = try c.value(.context, default: d.context)
        contextLayers = try c.value(.contextLayers, default: d.contextLayers)
        if contextLayers < 1 { throw decoder.invalid("context_layers", "must be positive, found \(contextLayers)") }
        predictionSteps = try c.decodeIfPresent(Int.self, forKey: .predictionSteps)
        firstStep = try c.value(.firstStep, default: d.firstStep)
        if firstStep < 1 { throw decoder.invalid("first_step", "must be positive, found \(firstStep)") }
        if let predictionSteps, firstStep > predictionSteps {
            throw decoder.invalid("first_step", "must be at most prediction_steps (\(predictionSteps)), found \(firstStep)")
        }
        directions = try c.value(.directions, default: d.directions)
        if channels.isEmpty || channels.contains(where: { $0 < 1 }) {
            throw decoder.invalid("channels", "must be one or more positive widths, found \(channels)")
        }
        if normalization == .batch {
            throw decoder.invalid("normalization", "batch norm leaks statistics across the patches of an image; use layer, group, channel or none")
        }
        if contextHidden < 1 { throw decoder.invalid("context_hidden", "must be positive, found \(contextHidden)") }
        if let predictionSteps, predictionSteps < 1 { throw decoder.invalid("prediction_steps", "must be positive, found \(predictionSteps)") }
        if directions.isEmpty || Set(directions).count != directions.count {
            throw decoder.invalid("directions", "must list distinct directions among down, up, right, left; found \(directions.map(\.rawValue))")
        }
    }

    /// K for a grid of `rows` × `columns` (steps beyond a direction's length are dropped there).
    public func steps(rows: Int, columns: Int) -> Int {
        let longest = directions.map { [.down, .up].contains($0) ? rows : columns }.max() ?? rows
        return min(predictionSteps ?? max(firstStep, rows - 2), max(1, longest - 1))
    }

    /// The offsets predicted on a `rows` × `columns` grid: `firstStep`…K (empty when the grid is too short).
    public func predictedSteps(rows: Int, columns: Int) -> ClosedRange<Int>? {
        let last = steps(rows: rows, columns: columns)
        return firstStep <= last ? firstStep...last : nil
    }
}

/// The networks: `encoder.stem`, `encoder.stem_norm`, `encoder.block{i}`, `context.{direction}` (GRU, or
/// `context.{direction}.conv{i}` for the masked-conv context), `predictors.{direction}.{k-1}` (W_k, no bias, for
/// k = `firstStep`…K).
public final class CPCImageModel: Layer {
    /// The config the networks were built from.
    public let config: CPCImageConfig
    /// The patch grid's rows and columns.
    public let rows: Int, columns: Int
    /// The offsets predicted, `config.firstStep`…K.
    public let predictedSteps: ClosedRange<Int>
    /// K, the farthest offset predicted.
    public var steps: Int { predictedSteps.upperBound }
    /// The per-patch 3×3 stem convolution.
    public let stem: Conv2d
    /// The stem's normalisation.
    public let stemNorm: (any UnaryLayer)?
    /// The per-patch residual blocks.
    public let blocks: [ResidualBlock]
    /// One context per direction (a GRU or a `MaskedConvContext`).
    public let contexts: [any Layer]
    /// Per direction, W_k for k = `firstStep`…K (index k − `firstStep`).
    public let predictors: [[Linear]]
    public var isTraining = true

    /// A model for a `rows` × `columns` grid of patches with `channels` colour channels.
    public init(config: CPCImageConfig, rows: Int, columns: Int, imageChannels: Int, generator: inout RandomGenerator) {
        precondition(rows >= 2 || columns >= 2, "image CPC needs a grid with at least two rows or columns")
        self.config = config
        (self.rows, self.columns) = (rows, columns)
        guard let predicted = config.predictedSteps(rows: rows, columns: columns) else {
            preconditionFailure("first_step \(config.firstStep) is beyond K = \(config.steps(rows: rows, columns: columns)) on a "
                                + "\(rows)×\(columns) grid")
        }
        predictedSteps = predicted
        let width = config.channels
        stem = Conv2d(inputChannels: imageChannels, outputChannels: width[0], kernelSize: (3, 3), padding: (1, 1),
                      bias: config.normalization == .none, generator: &generator)
        stemNorm = makeNormalization(config.normalization, channels: width[0])
        blocks = zip(width, width.dropFirst()).map { input, output in
            ResidualBlock(inputChannels: input, outputChannels: output, stride: 2, normalization: config.normalization,
                          generator: &generator)
        }
        var contexts: [any Layer] = [], predictors: [[Linear]] = []
        for _ in config.directions {
            switch config.context {
            case .gru: contexts.append(GRU(inputSize: width.last!, hiddenSize: config.contextHidden, generator: &generator))
            case .maskedConv:
                contexts.append(MaskedConvContext(inputSize: width.last!, hiddenSize: config.contextHidden,
                                                  layers: config.contextLayers, generator: &generator))
            }
            predictors.append(predicted.map { _ in
                Linear(inputSize: config.contextHidden, outputSize: width.last!, bias: false, generator: &generator)
            })
        }
        self.contexts = contexts
        self.predictors = predictors
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] {
        var list: [(name: String, layer: any Layer)] = [("encoder.stem", stem)]
        if let stemNorm { list.append(("encoder.stem_norm", stemNorm)) }
        for (i, block) in blocks.enumerated() { list.append(("encoder.block\(i)", block)) }
        for (d, direction) in config.directions.enumerated() {
            list.append(("context.\(direction.rawValue)", contexts[d]))
            for (k, head) in zip(predictedSteps, predictors[d]) { list.append(("predictors.\(direction.rawValue).\(k - 1)", head)) }
        }
        return list
    }

    /// z: patches `[N, GH, GW, Q, Q, C]` → one vector per patch `[N·G, D]` (rows ordered image, grid row, column).
    public func encode(_ patches: Tensor) -> Tensor {
        precondition(patches.rank == 6 && patches.shape[1] == rows && patches.shape[2] == columns,
                     "expected patches [N, \(rows), \(columns), Q, Q, C], found \(patches.shape)")
        let s = patches.shape
        var x = stem(patches.reshaped([s[0] * s[1] * s[2], s[3], s[4], s[5]]))
        if let stemNorm { x = stemNorm(x) }
        x = x.relu()
        for block in blocks { x = block(x) }
        return x.mean(alongAxes: [1, 2])
    }

    /// How patch vectors become one image vector.
    public enum Pooling: String, Sendable, CaseIterable {
        /// The mean over the grid, `[N, D]` (the CPC paper's linear-probe protocol).
        case mean
        /// All patch vectors side by side in grid order, `[N, G·D]` (keeps where each patch is).
        case grid
    }

    /// Image features for probes: the patch vectors pooled over the grid.
    public func imageFeatures(_ patches: Tensor, pooling: Pooling = .mean) -> Tensor {
        let z = encode(patches)
        let perImage = z.reshaped([patches.shape[0], rows * columns, z.shape[1]])
        switch pooling {
        case .mean: return perImage.mean(alongAxis: 1)
        case .grid: return perImage.reshaped([patches.shape[0], rows * columns * z.shape[1]])
        }
    }

    /// The rows of z (in `encode`'s order) that form the sequences of `direction`: `S·L` indices per image,
    /// sequence-major, for `images` images. Returns the indices and (S, L).
    public func sequenceOrder(_ direction: GridDirection, images: Int) -> (order: [Int], sequences: Int, length: Int) {
        let vertical = direction == .down || direction == .up
        let (sequences, length) = vertical ? (columns, rows) : (rows, columns)
        var order: [Int] = []
        order.reserveCapacity(images * sequences * length)
        for n in 0..<images {
            for s in 0..<sequences {
                for t in 0..<length {
                    let position = (direction == .up || direction == .left) ? length - 1 - t : t
                    let (row, column) = vertical ? (position, s) : (s, position)
                    order.append((n * rows + row) * columns + column)
                }
            }
        }
        return (order, sequences, length)
    }

    /// The predictions of every direction and step with the rows of z they should pick:
    /// one entry per (direction, k) with `[P, D]` predictions and P target indices.
    public func predictions(_ z: Tensor, images: Int) -> [(direction: Int, step: Int, predictions: Tensor, targets: [Int])] {
        var result: [(Int, Int, Tensor, [Int])] = []
        let d = z.shape[1]
        for (index, direction) in config.directions.enumerated() {
            let (order, sequences, length) = sequenceOrder(direction, images: images)
            let sequence = z.indexSelect(alongAxis: 0, indices: order).reshaped([images * sequences, length, d])
            let context: Tensor  // [N·S, L, H]
            if let gru = contexts[index] as? GRU {
                context = gru(sequence).output
            } else {
                // The sequences side by side as a grid [N, S, L, D]: the mask makes t see positions ≤ t of every sequence.
                let grid = sequence.reshaped([images, sequences, length, d])
                context = (contexts[index] as! MaskedConvContext)(grid).reshaped([images * sequences, length, config.contextHidden])
            }
            for k in predictedSteps where k <= length - 1 {
                let positions = length - k
                let c = context.sliced(alongAxis: 1, start: 0, length: positions).reshaped([images * sequences * positions, config.contextHidden])
                var targets: [Int] = []
                targets.reserveCapacity(images * sequences * positions)
                for q in 0..<(images * sequences) {
                    for t in 0..<positions { targets.append(order[q * length + t + k]) }
                }
                result.append((index, k, predictors[index][k - predictedSteps.lowerBound](c), targets))
            }
        }
        return result
    }
}

/// Image CPC as a `Method` (registry key `cpc-image`): the batch holds patch grids `[N, GH, GW, Q, Q, C]`.
///
/// ### References
/// - van den Oord, Li and Vinyals 2018, "Representation learning with contrastive predictive coding".
/// - Hénaff et al. 2019, "Data-efficient image recognition with contrastive predictive coding" (CPC v2).
public final class CPCImage: Method, MethodSpec {
    public static let key = "cpc-image"
    public static let input = InputKind.patchGrid

    /// Refuses a config whose training step cannot fit in this machine's memory (errors name `data.batch_size`), once
    /// the grid is known.
    public static func validate(_ config: CPCImageConfig, input: InputShape) throws {
        guard input.batchSize > 0, input.patchSize > 0, input.rows > 0, input.columns > 0 else { return }
        let bytes = trainingStepBytes(config, batch: input.batchSize, rows: input.rows, columns: input.columns,
                                      patchSize: input.patchSize, channels: max(input.channels, 1))
        let memory = Double(ProcessInfo.processInfo.physicalMemory)
        if bytes > memory {
            throw ConfigError(key: "data.batch_size", message: String(format: "a training step of this config needs about %.0f GiB "
                + "(batch %d × a %d×%d grid of %d-pixel patches: %d patch vectors, each scored against all of them), more than "
                + "this machine's %.0f GiB; lower data.batch_size, or use fewer or larger patches", bytes / Double(1 << 30),
                input.batchSize, input.rows, input.columns, input.patchSize, input.batchSize * input.rows * input.columns,
                memory / Double(1 << 30)))
        }
    }

    /// A rough count of the bytes one training step holds (4-byte values): the patch encoder's activations and their
    /// gradients, the contexts and predictions, and the scores of every prediction against every patch vector of
    /// the batch (logits, softmax and gradient) for each direction and step.
    public static func trainingStepBytes(_ config: CPCImageConfig, batch: Int, rows: Int, columns: Int, patchSize: Int,
                                         channels: Int) -> Double {
        let patches = Double(batch) * Double(rows) * Double(columns)
        let pixels = Double(patchSize) * Double(patchSize)
        let encoder = 8 * pixels * Double(config.channels.reduce(channels, +))
        let context = 8 * Double(config.contextHidden) * Double(config.directions.count)
        let pairs = Double(config.directions.count * (config.predictedSteps(rows: rows, columns: columns)?.count ?? 0))
        return 4 * (patches * (encoder + context) + 3 * pairs * patches * patches)
    }

    public static func make(_ config: CPCImageConfig, input: InputShape, seed: UInt64) throws -> any Method {
        guard input.rows >= 2 || input.columns >= 2 else {
            throw ConfigError(key: "data.patch", message: "image CPC needs a grid with at least two rows or columns, "
                + "found \(input.rows)×\(input.columns)")
        }
        guard config.predictedSteps(rows: input.rows, columns: input.columns) != nil else {
            throw ConfigError(key: "model.first_step", message: "first_step \(config.firstStep) is beyond the farthest "
                + "offset this \(input.rows)×\(input.columns) grid allows (K = \(config.steps(rows: input.rows, columns: input.columns)))")
        }
        return CPCImage(config: config, rows: input.rows, columns: input.columns, imageChannels: input.channels, seed: seed)
    }

    /// The patch encoder, contexts and predictors.
    public let network: CPCImageModel
    public var model: any Layer { network }

    /// Image CPC for a `rows` × `columns` grid of `imageChannels`-channel patches, initialised from `seed`.
    public init(config: CPCImageConfig, rows: Int, columns: Int, imageChannels: Int, seed: UInt64) {
        var generator = RandomGenerator(seed: seed, stream: 1)
        network = CPCImageModel(config: config, rows: rows, columns: columns, imageChannels: imageChannels, generator: &generator)
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        // Every rank's patch vectors: the context, predictions and candidates are the global batch's (the same loss
        // on every rank, as one process on the whole batch).
        let images = batch.inputs.shape[0] * context.world.size
        let z = context.world.allGathered(network.encode(batch.inputs))
        let entries = network.predictions(z, images: images)
        let result = GridInfoNCE.loss(predictions: entries.map(\.predictions), candidates: z, targets: entries.map(\.targets))
        var metrics: [String: Float] = [:]
        for k in network.predictedSteps {
            let indices = entries.indices.filter { entries[$0].step == k }
            guard !indices.isEmpty else { continue }
            metrics["accuracy_k\(k)"] = indices.map { result.accuracyPerStep[$0] }.reduce(0, +) / Float(indices.count)
            let loss = indices.map { result.lossPerStep[$0] }.reduce(0, +) / Float(indices.count)
            metrics["loss_k\(k)"] = loss
            metrics["mi_bound_k\(k)"] = MutualInformationBounds.impliedLowerBound(loss: loss, candidates: z.shape[0])
        }
        metrics["mi_bound_limit"] = Float(Foundation.log(Double(z.shape[0])))
        metrics["accuracy"] = result.accuracyPerStep.reduce(0, +) / Float(entries.count)
        let nearest = network.predictedSteps.lowerBound
        return StepOutput(loss: result.loss, metrics: metrics, headline: ("acc@\(nearest)", metrics["accuracy_k\(nearest)"] ?? 0))
    }

    /// `.pooled`: patch vectors averaged over the grid `[N, D]`; `.grid`: side by side `[N, G·D]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? {
        switch request {
        case .pooled: return withoutGrad { network.imageFeatures(inputs, pooling: .mean) }
        case .grid: return withoutGrad { network.imageFeatures(inputs, pooling: .grid) }
        default: return nil
        }
    }
}
