// Contrastive Predictive Coding on raw audio (van den Oord et al. 2018), with the options of the modified CPC
// (Rivière et al. 2020): channel-normalised encoder, LSTM context, same-speaker or within-sequence negatives.
//
// Glossary: N sequences, S samples per window, T encoded frames (S / Π strides), C encoder channels, H context
// size, K prediction steps, W = T − K scored positions, M negatives.

import Foundation
import Layers
import Objectives
import TensorCore

/// The strided convolutional encoder of CPC.
public struct CPCEncoderConfig: Codable, Sendable, Equatable {
    /// C: the channels of every convolution.
    public var channels = 512
    /// The kernel size of each convolution (the paper's 10, 8, 4, 4, 4).
    public var kernels = [10, 8, 4, 4, 4]
    /// The stride of each convolution (the paper's 5, 4, 2, 2, 2: one frame per 160 samples).
    public var strides = [5, 4, 2, 2, 2]
    /// The normalisation after each convolution (the paper: none; the modified CPC: channel norm).
    public var normalization: NormalizationKind = .none
    /// Zeros added on both sides of each convolution's input (empty: none, the paper's encoder; CPC_audio's
    /// `[3, 2, 1, 1, 1]` gives floor(S / 160) frames, frame t centred on the 10 ms of label t).
    public var padding: [Int] = []

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case channels, kernels, strides, normalization, padding }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CPCEncoderConfig.init()
        channels = try c.value(.channels, default: d.channels)
        kernels = try c.value(.kernels, default: d.kernels)
        strides = try c.value(.strides, default: d.strides)
        normalization = try c.value(.normalization, default: d.normalization)
        padding = try c.value(.padding, default: d.padding)
        if channels < 1 || channels > 8192 { throw decoder.invalid("channels", "must be in 1...8192, found \(channels)") }
        if kernels.isEmpty || kernels.count != strides.count {
            throw decoder.invalid("strides", "needs one stride per kernel (\(kernels.count) kernels, \(strides.count) strides)")
        }
        if kernels.count > 32 || kernels.contains(where: { $0 < 1 || $0 > 65536 }) || strides.contains(where: { $0 < 1 || $0 > 65536 }) {
            throw decoder.invalid("kernels", "at most 32 layers, kernels and strides in 1...65536; found kernels \(kernels), strides \(strides)")
        }
        if !padding.isEmpty && (padding.count != kernels.count || zip(padding, kernels).contains(where: { $0 < 0 || $0 >= $1 })) {
            throw decoder.invalid("padding", "needs one value per kernel (\(kernels.count)), each in 0..<kernel; found \(padding)")
        }
    }

    /// The zeros padded on each side of layer `layer`'s input.
    public func padding(ofLayer layer: Int) -> Int { padding.isEmpty ? 0 : padding[layer] }

    /// The frames the encoder makes from `samples` samples (0 when too short for its receptive field).
    public func frameCount(samples: Int) -> Int {
        var frames = samples
        for (layer, (kernel, stride)) in zip(kernels, strides).enumerated() {
            let padded = frames + 2 * padding(ofLayer: layer)
            frames = padded < kernel ? 0 : (padded - kernel) / stride + 1
        }
        return frames
    }

    /// Where encoded frame t lies in the input: samples [hop·t − leftReach, hop·t − leftReach + receptiveField),
    /// where hop is `downsampling` and leftReach = Σ_l p_l·s_1⋯s_{l−1} comes from the padding.
    public var leftReach: Int {
        var reach = 0, jump = 1
        for (layer, stride) in strides.enumerated() {
            reach += padding(ofLayer: layer) * jump
            jump = jump.multipliedReportingOverflow(by: stride).overflow ? Int.max / 2 : jump * stride
        }
        return reach
    }

    /// Samples per encoded frame (the product of the strides).
    public var downsampling: Int { strides.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 } }
    /// Samples one encoded frame sees: k_1 + Σ_l (k_l − 1)·s_1⋯s_{l−1} (465 for the paper's encoder).
    public var receptiveField: Int {
        // Saturating: a config's strides can multiply past Int.max (it is then refused for having no frames).
        var field = 1, jump = 1
        for (kernel, stride) in zip(kernels, strides) {
            let (step, overflow) = (kernel - 1).multipliedReportingOverflow(by: jump)
            let (sum, overflowSum) = field.addingReportingOverflow(step)
            if overflow || overflowSum { return Int.max }
            field = sum
            jump = jump.multipliedReportingOverflow(by: stride).overflow ? Int.max : jump * stride
        }
        return field
    }
}

/// The autoregressive context network.
public struct CPCContextConfig: Codable, Sendable, Equatable {
    /// The recurrent network.
    public enum Kind: String, Codable, Sendable, CaseIterable { case gru, lstm }
    /// GRU (the paper) or LSTM.
    public var type: Kind = .gru
    /// Its hidden width (the context's size).
    public var hidden = 256
    /// Stacked layers.
    public var layers = 1

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case type, hidden, layers }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.value(.type, default: .gru)
        hidden = try c.value(.hidden, default: 256)
        layers = try c.value(.layers, default: 1)
        if hidden < 1 || hidden > 16384 { throw decoder.invalid("hidden", "must be in 1...16384, found \(hidden)") }
        if layers < 1 || layers > 64 { throw decoder.invalid("layers", "must be in 1...64, found \(layers)") }
    }
}

/// What maps the context to the K predictions: W_k·c_t (linear), a causal transformer layer over the context first
/// and then W_k (`transformer`), or CPC_audio's predictor (`cpc_audio_transformer`: one transformer layer per step
/// k with learned relative positions, whose output is the prediction; needs the context as wide as the encoder).
public struct CPCPredictorConfig: Codable, Sendable, Equatable {
    /// The predictor's kind.
    public enum Kind: String, Codable, Sendable, CaseIterable { case linear, transformer, cpcAudioTransformer = "cpc_audio_transformer" }
    /// Linear W_k (the paper), a shared causal transformer layer first, or CPC_audio's per-step layers.
    public var type: Kind = .linear
    /// Attention heads of the transformer layer(s) (default 4; CPC_audio's: 8).
    public var heads = 4
    /// Feed-forward width of the transformer layer(s) (nil: 2 × the context size; CPC_audio's: 2048).
    public var feedForward: Int? = nil
    /// Positions CPC_audio's layers cover with relative positions (nil: the frames of `data.window` less K, as
    /// CPC_audio's sizeSeq); the loss scores at most this many.
    public var positions: Int? = nil

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case type, heads, positions, feedForward = "feed_forward" }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.value(.type, default: .linear)
        heads = try c.value(.heads, default: type == .cpcAudioTransformer ? 8 : 4)
        feedForward = try c.decodeIfPresent(Int.self, forKey: .feedForward) ?? (type == .cpcAudioTransformer ? 2048 : nil)
        positions = try c.decodeIfPresent(Int.self, forKey: .positions)
        if heads < 1 { throw decoder.invalid("heads", "must be positive, found \(heads)") }
        if let feedForward, feedForward < 1 || feedForward > 1 << 20 {
            throw decoder.invalid("feed_forward", "must be in 1...1048576, found \(feedForward)")
        }
        if let positions, positions < 1 || positions > 1 << 20 { throw decoder.invalid("positions", "must be in 1...1048576, found \(positions)") }
    }
}

/// The whole CPC model and criterion.
public struct CPCConfig: MethodConfig {
    /// The strided convolutional encoder: audio `[N, S]` → z `[N, T, C]`.
    public var encoder = CPCEncoderConfig()
    /// The autoregressive context network: z `[N, T, C]` → c `[N, T, H]`.
    public var context = CPCContextConfig()
    /// What maps c_t to the K predictions.
    public var predictor = CPCPredictorConfig()
    /// K: predict z_{t+1} … z_{t+K} from c_t.
    public var predictionSteps = 12
    /// M: negatives per scored position.
    public var negatives = 128
    /// Where the negatives come from.
    public var negativeSampling: NegativeSampling = .mixed

    /// The defaults above.
    public init() {}

    /// W: the positions the loss scores in a window of `window` samples (its frames less K; at least one).
    public func scoredPositions(window: Int) -> Int { max(1, encoder.frameCount(samples: window) - predictionSteps) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case encoder, context, predictor
        case predictionSteps = "prediction_steps", negatives, negativeSampling = "negative_sampling"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        encoder = try c.value(.encoder, default: CPCEncoderConfig())
        context = try c.value(.context, default: CPCContextConfig())
        predictor = try c.value(.predictor, default: CPCPredictorConfig())
        if predictor.type != .linear && context.hidden % predictor.heads != 0 {
            throw ConfigError(key: "model.predictor.heads", message: "\(predictor.heads) heads do not divide the context size \(context.hidden)")
        }
        if predictor.type == .cpcAudioTransformer && context.hidden != encoder.channels {
            throw ConfigError(key: "model.predictor.type", message: "cpc_audio_transformer predicts z_t with a layer as wide as the context: "
                + "model.context.hidden (\(context.hidden)) must equal model.encoder.channels (\(encoder.channels))")
        }
        predictionSteps = try c.value(.predictionSteps, default: 12)
        negatives = try c.value(.negatives, default: 128)
        negativeSampling = try c.value(.negativeSampling, default: .mixed)
        if predictionSteps < 1 || predictionSteps > 1024 { throw decoder.invalid("prediction_steps", "must be in 1...1024, found \(predictionSteps)") }
        if negatives < 1 || negatives > 65536 { throw decoder.invalid("negatives", "must be in 1...65536, found \(negatives)") }
    }
}

/// The strided convolutional encoder of audio CPC: per layer a convolution (`conv{i}`), its normalisation
/// (`norm{i}`, if any) and ReLU; audio `[N, S]` → z `[N, T, C]`.
public final class CPCEncoder: UnaryLayer {
    /// The geometry and widths it was built from.
    public let config: CPCEncoderConfig
    /// The convolutions.
    public let convolutions: [Conv1d]
    /// The normalisation after each convolution, if any.
    public let norms: [(any UnaryLayer)?]
    public var isTraining = true

    /// An encoder for `config`, initialised from `generator` as PyTorch would.
    public init(config: CPCEncoderConfig, generator: inout RandomGenerator) {
        self.config = config
        var convolutions: [Conv1d] = [], norms: [(any UnaryLayer)?] = []
        var channels = 1
        for (layer, (kernel, stride)) in zip(config.kernels, config.strides).enumerated() {
            convolutions.append(Conv1d(inputChannels: channels, outputChannels: config.channels, kernelSize: kernel,
                                       stride: stride, padding: config.padding(ofLayer: layer), generator: &generator))
            norms.append(makeNormalization(config.normalization, channels: config.channels))
            channels = config.channels
        }
        self.convolutions = convolutions
        self.norms = norms
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] {
        var list: [(name: String, layer: any Layer)] = []
        for (i, conv) in convolutions.enumerated() {
            list.append(("conv\(i)", conv))
            if let norm = norms[i] { list.append(("norm\(i)", norm)) }
        }
        return list
    }

    /// z: audio `[N, S]` → encodings `[N, T, C]`.
    public func callAsFunction(_ audio: Tensor) -> Tensor {
        var x = audio.unsqueezed(at: 2)
        for (conv, norm) in zip(convolutions, norms) {
            x = conv(x)
            if let norm { x = norm(x) }
            x = x.relu()
        }
        return x
    }

    /// The encodings of audio `[N, S]` aligned with the corpus's frame labels: floor(S / hop) frames (at least one),
    /// frame t centred on samples [hop·t, hop·(t + 1)) (`CPCAudio.labelAlignment`).
    public func labelAligned(_ audio: Tensor) -> Tensor {
        let (n, samples) = (audio.shape[0], audio.shape[1])
        let (left, right) = CPCAudio.labelAlignment(config, samples: samples)
        var padded = left < 0 ? audio.sliced(alongAxis: 1, start: -left, length: samples + left) : audio
        if left > 0 || right > 0 {
            padded = Tensor.concatenate([Tensor.zeros([n, max(left, 0)]), padded, Tensor.zeros([n, right])], alongAxis: 1)
        }
        let z = self(padded)
        let frames = min(max(1, samples / config.downsampling), z.shape[1])
        return z.shape[1] == frames ? z : z.sliced(alongAxis: 1, start: 0, length: frames)
    }
}

/// The recurrent context network of audio CPC (its parameters named as PyTorch's `nn.GRU`/`nn.LSTM`).
public enum RecurrentContext {
    /// A GRU (the paper).
    case gru(GRU)
    /// An LSTM (the modified CPC).
    case lstm(LSTM)

    /// The network for `config` over `inputSize`-wide frames.
    public init(config: CPCContextConfig, inputSize: Int, generator: inout RandomGenerator) {
        switch config.type {
        case .gru: self = .gru(GRU(inputSize: inputSize, hiddenSize: config.hidden, layers: config.layers, generator: &generator))
        case .lstm: self = .lstm(LSTM(inputSize: inputSize, hiddenSize: config.hidden, layers: config.layers, generator: &generator))
        }
    }

    /// The network as a layer (its parameters and mode).
    public var layer: any Layer {
        switch self {
        case .gru(let gru): return gru
        case .lstm(let lstm): return lstm
        }
    }

    /// c: `[N, T, C]` → `[N, T, H]`.
    public func callAsFunction(_ encoded: Tensor) -> Tensor {
        switch self {
        case .gru(let gru): return gru(encoded).output
        case .lstm(let lstm): return lstm(encoded).output
        }
    }
}

/// The CPC networks: `encoder.conv{i}`/`encoder.norm{i}`, `context` (GRU/LSTM), `predictor` (the optional
/// transformer layer), `predictors.{k-1}` (W_k, no bias, or CPC_audio's transformer layer for step k).
public final class CPCModel: Layer {
    /// The config the networks were built from.
    public let config: CPCConfig
    /// The strided convolutional encoder (`encoder.*`).
    public let encoder: CPCEncoder
    /// The recurrent context network (`context.*`).
    public let context: RecurrentContext
    /// W_k for k = 1…K: `[H] → [C]`, no bias (empty with CPC_audio's predictor).
    public let predictors: [Linear]
    /// The causal transformer layer of the transformer predictor, if chosen.
    public let transformer: TransformerEncoderLayer?
    /// CPC_audio's predictor: one transformer layer per step k (empty otherwise).
    public let stepTransformers: [RelativePositionTransformerLayer]
    public var isTraining = true

    /// Builds the networks, initialised from `generator` as PyTorch would. `positions` is the relative-position
    /// range of CPC_audio's predictor when the config leaves it to the window.
    public init(config: CPCConfig, positions: Int = 1, generator: inout RandomGenerator) {
        self.config = config
        encoder = CPCEncoder(config: config.encoder, generator: &generator)
        context = RecurrentContext(config: config.context, inputSize: config.encoder.channels, generator: &generator)
        transformer = config.predictor.type == .transformer
            ? TransformerEncoderLayer(width: config.context.hidden, heads: config.predictor.heads,
                                      feedForward: config.predictor.feedForward ?? 2 * config.context.hidden, causal: true,
                                      generator: &generator)
            : nil
        if config.predictor.type == .cpcAudioTransformer {
            predictors = []
            stepTransformers = (0..<config.predictionSteps).map { _ in
                RelativePositionTransformerLayer(width: config.context.hidden, heads: config.predictor.heads,
                                                 feedForward: config.predictor.feedForward ?? 2048,
                                                 positions: config.predictor.positions ?? positions, generator: &generator)
            }
        } else {
            predictors = (0..<config.predictionSteps).map { _ in
                Linear(inputSize: config.context.hidden, outputSize: config.encoder.channels, bias: false, generator: &generator)
            }
            stepTransformers = []
        }
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] {
        var list: [(name: String, layer: any Layer)] = [("encoder", encoder), ("context", context.layer)]
        if let transformer { list.append(("predictor", transformer)) }
        for (k, predictor) in predictors.enumerated() { list.append(("predictors.\(k)", predictor)) }
        for (k, layer) in stepTransformers.enumerated() { list.append(("predictors.\(k)", layer)) }
        return list
    }

    /// z: audio `[N, S]` → encodings `[N, T, C]`.
    public func encode(_ audio: Tensor) -> Tensor { encoder(audio) }

    /// c: encodings `[N, T, C]` → context `[N, T, H]`.
    public func contextualize(_ encoded: Tensor) -> Tensor { context(encoded) }

    /// Predictions W_k·c_t for t < W and all k, as one GEMM: context `[N, T, H]` → `[N, W, K, C]`.
    public func predict(_ context: Tensor, positions: Int) -> Tensor {
        if !stepTransformers.isEmpty {
            let window = context.sliced(alongAxis: 1, start: 0, length: positions)
            return Tensor.stack(stepTransformers.map { $0(window) }, alongAxis: 2)
        }
        let n = context.shape[0], h = context.shape[2], k = predictors.count
        let c = predictors[0].weight.shape[0]
        let weights = Tensor.concatenate(predictors.map(\.weight), alongAxis: 0)  // [K·C, H]
        var window = context.sliced(alongAxis: 1, start: 0, length: positions)
        if let transformer { window = transformer(window) }  // causal: position t still sees c_≤t only
        let scored = window.reshaped([n * positions, h])
        return matmul(scored, weights, transposeB: true).reshaped([n, positions, k, c])
    }
}

/// CPC as a `Method` (registry key `cpc`): InfoNCE over K steps with M negatives drawn by `negativeSampling`.
///
/// ### References
/// - van den Oord, Li and Vinyals 2018, "Representation learning with contrastive predictive coding".
/// - Rivière et al. 2020, "Unsupervised pretraining transfers well across languages" (the modified CPC).
public final class CPCAudio: Method, MethodSpec {
    public static let key = "cpc"
    public static let input = InputKind.audioWindows

    public static func validate(_ config: CPCConfig, input: InputShape) throws {
        guard input.window > 0 else { return }
        // Each layer keeps floor((L + 2p − kernel) / stride) + 1 frames, none when L + 2p < kernel.
        let frames = config.encoder.frameCount(samples: input.window)
        if frames <= config.predictionSteps {
            throw ConfigError(key: "data.window", message: "\(input.window) samples give \(frames) encoded frames (the encoder's "
                + "receptive field is \(config.encoder.receptiveField) samples); more than model.prediction_steps "
                + "(\(config.predictionSteps)) are needed")
        }
        if config.predictor.type == .cpcAudioTransformer, let positions = config.predictor.positions, positions < frames - config.predictionSteps {
            throw ConfigError(key: "model.predictor.positions", message: "\(positions) positions, but a window of \(input.window) samples "
                + "scores \(frames - config.predictionSteps) (its \(frames) frames less \(config.predictionSteps) steps)")
        }
        // What one training step holds, roughly (4-byte values; the encoder's outputs, normalisations, activations
        // and their gradients; the context's gates; the k-step scores): refuse what the machine cannot hold.
        let bytes = trainingStepBytes(config, window: input.window, batch: max(input.batchSize, 1))
        if bytes > Double(ProcessInfo.processInfo.physicalMemory) {
            throw ConfigError(key: "data.batch_size", message: String(format: "a training step of this config needs about %.0f GiB "
                + "(batch %d × window %d, encoder channels %d, context %d, %d negatives), more than this machine's %.0f GiB; "
                + "lower data.batch_size, data.window, the model's widths or model.negatives", bytes / Double(1 << 30),
                input.batchSize, input.window, config.encoder.channels, config.context.hidden, config.negatives,
                Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)))
        }
    }

    /// A rough count of the bytes one training step of `config` holds for `batch` windows of `window` samples.
    public static func trainingStepBytes(_ config: CPCConfig, window: Int, batch: Int) -> Double {
        var length = Double(window), values = 0.0
        for (kernel, stride) in zip(config.encoder.kernels, config.encoder.strides) {
            length = max(1, (length - Double(kernel)) / Double(stride) + 1)
            values += 4 * length * Double(config.encoder.channels)
        }
        values += 8 * length * Double(config.context.hidden) * Double(config.context.layers)
        values += 2 * length * Double(config.predictionSteps) * Double(config.negatives + 1)
        return 4 * Double(batch) * values
    }

    public static func make(_ config: CPCConfig, input: InputShape, seed: UInt64) throws -> any Method {
        CPCAudio(config: config, seed: seed, positions: config.scoredPositions(window: input.window))
    }

    /// The encoder, context and predictors.
    public let network: CPCModel
    /// The seed of the initialisation and of every batch's negatives.
    public let seed: UInt64
    public var model: any Layer { network }

    /// Audio CPC with `config`, initialised from `seed` (CPC_audio's predictor, if chosen, covering its
    /// `predictor.positions`, or the positions a 20480-sample window scores).
    public convenience init(config: CPCConfig, seed: UInt64) {
        self.init(config: config, seed: seed, positions: config.scoredPositions(window: 20480))
    }

    /// Audio CPC with `config`, initialised from `seed`; `positions` is the relative-position range of CPC_audio's
    /// predictor when `config.predictor.positions` is nil (the frames of a training window less K).
    public init(config: CPCConfig, seed: UInt64, positions: Int) {
        var generator = RandomGenerator(seed: seed, stream: 1)
        network = CPCModel(config: config, positions: positions, generator: &generator)
        self.seed = seed
    }

    /// The negatives of batch `index` depend only on (seed, index), like the batch itself.
    public func negativeGenerator(batch index: Int) -> RandomGenerator {
        RandomGenerator(seed: seed, stream: 0x4E45_4700_0000 &+ UInt64(index))
    }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput { loss(batch, negatives: nil, world: context.world) }

    /// The loss with the given negative frame indices (N·W·M of them, over the global batch), or sampled ones when nil.
    ///
    /// Across the ranks of `world` each rank predicts from its own windows and scores against the encodings of every
    /// rank's (gathered), with negatives drawn over the global batch exactly as one process would draw them: the
    /// mean of the ranks' losses is one process's loss on the global batch, with the same gradients.
    public func loss(_ batch: Batch, negatives given: [Int]?, world: any Collective = SingleProcess.world) -> StepOutput {
        let config = network.config
        let local = network.encode(batch.inputs)
        let (n, t) = (local.shape[0], local.shape[1])
        let k = config.predictionSteps
        precondition(t > k, "a window of \(batch.inputs.shape[1]) samples gives \(t) frames, too few for \(k) prediction steps")
        let positions = t - k
        let c = network.contextualize(local)
        let predictions = network.predict(c, positions: positions)
        let z = world.allGathered(local)
        var generator = negativeGenerator(batch: batch.index)
        // Only same-speaker sampling reads the speakers: the other modes skip gathering them across the ranks.
        let speakers = config.negativeSampling == .sameSpeaker
            ? world.gathered(batch.labels) : [Int](repeating: 0, count: n * world.size)
        let all = given ?? KStepInfoNCE.sampleNegatives(mode: config.negativeSampling, sequences: n * world.size, frames: t,
                                                         positions: positions, count: config.negatives,
                                                         speakers: speakers, generator: &generator)
        let rowsPerRank = n * positions * config.negatives
        precondition(all.count == rowsPerRank * world.size, "\(all.count) negatives for \(n * world.size)·\(positions)·\(config.negatives)")
        let negatives = world.isSingle ? all : Array(all[(world.rank * rowsPerRank)..<((world.rank + 1) * rowsPerRank)])
        let logits = KStepInfoNCE.logits(predictions: predictions, encoded: z, negatives: negatives, negativeCount: config.negatives,
                                         firstSequence: world.rank * n)
        let result = KStepInfoNCE.loss(logits: logits)
        var metrics: [String: Float] = [:]
        for step in 0..<k {
            metrics["accuracy_k\(step + 1)"] = result.accuracyPerStep[step]
            metrics["loss_k\(step + 1)"] = result.lossPerStep[step]
            metrics["mi_bound_k\(step + 1)"] = MutualInformationBounds.impliedLowerBound(loss: result.lossPerStep[step],
                                                                                         candidates: 1 + config.negatives)
        }
        metrics["mi_bound_limit"] = Float(Foundation.log(Double(1 + config.negatives)))
        metrics["accuracy"] = result.accuracyPerStep.reduce(0, +) / Float(k)
        return StepOutput(loss: result.loss, metrics: metrics, headline: ("acc@1", result.accuracyPerStep[0]))
    }

    /// `.context` (c_t, `[N, F, H]`) or `.encoder` (z_t, `[N, F, C]`) of audio `[N, S]`, aligned with the corpus's
    /// frame labels: F = floor(S / hop) frames (at least one), frame t centred on samples [hop·t, hop·(t + 1)), as
    /// `labelAlignment` arranges (hop = the product of the strides, 160 for the paper's encoder).
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? {
        guard request == .context || request == .encoder else { return nil }
        return withoutGrad {
            let z = network.encoder.labelAligned(inputs)
            return request == .context ? network.contextualize(z) : z
        }
    }

    /// The zeros to add before (or, when negative, the samples to drop from the start of) and after `samples` of
    /// audio so that the encoder's frame t is centred on label t's samples [hop·t, hop·(t + 1)) and there are at
    /// least floor(S / hop) frames.
    ///
    /// Frame t of the encoder covers samples [hop·t − L, hop·t − L + R) (R the receptive field, L its `leftReach`),
    /// centred at hop·t − L + (R − 1)/2; label t's centre is hop·t + (hop − 1)/2. The left shift is their
    /// difference, (R − hop)/2 − L, rounded towards zero: 152 samples for the paper's unpadded encoder (R = 465),
    /// 0 for CPC_audio's padded one (L = 153), whose frames are then within half a sample of their labels'
    /// centres. The right side gets the fewest zeros that give floor(S / hop) frames (none for CPC_audio's encoder,
    /// whose features are then exactly CPC_audio's).
    public static func labelAlignment(_ encoder: CPCEncoderConfig, samples: Int) -> (left: Int, right: Int) {
        let (field, hop) = (encoder.receptiveField, encoder.downsampling)
        let left = max((field - hop - 2 * encoder.leftReach) / 2, -samples + 1)
        let wanted = max(1, samples / hop)
        // The frame count grows with the length: the fewest zeros, by bisection over [0, R + hop].
        var (low, high) = (0, min(field, 1 << 40) + hop)
        while low < high {
            let middle = (low + high) / 2
            if encoder.frameCount(samples: samples + left + middle) >= wanted { high = middle } else { low = middle + 1 }
        }
        return (left, low)
    }
}
