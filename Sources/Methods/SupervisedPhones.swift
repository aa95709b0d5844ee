// The supervised reference for audio CPC's representations: the same encoder and context as CPC, trained with a
// linear classifier on the frame labels (cross-entropy per 10 ms frame). Its context is what a representation
// learnt with the labels reaches under the same probes (the CPC paper's "supervised" row, which bounds CPC above).
//
// Glossary: N windows, S samples per window, F = floor(S / 160) frames, C encoder channels, H context size,
// L phone classes.

import Foundation
import Layers
import Objectives
import TensorCore

/// The supervised reference model: CPC's encoder and context, and a linear classifier over L phone classes.
public struct SupervisedPhonesConfig: MethodConfig {
    /// The strided convolutional encoder (as CPC's).
    public var encoder = CPCEncoderConfig()
    /// The recurrent context network (as CPC's).
    public var context = CPCContextConfig()
    /// L: phone classes of the labels it trains on.
    public var classes = 40

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case encoder, context, classes }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        encoder = try c.value(.encoder, default: CPCEncoderConfig())
        context = try c.value(.context, default: CPCContextConfig())
        classes = try c.value(.classes, default: 40)
        if classes < 2 || classes > 65536 { throw decoder.invalid("classes", "must be in 2...65536, found \(classes)") }
    }
}

/// The networks: `encoder.*`, `context.*` (named as CPC's), `classifier` (`[H] → [L]`).
public final class SupervisedPhonesModel: Layer {
    /// The encoder.
    public let encoder: CPCEncoder
    /// The context network.
    public let context: RecurrentContext
    /// The frame classifier.
    public let classifier: Linear
    public var isTraining = true

    /// Builds the networks from `generator`.
    public init(config: SupervisedPhonesConfig, generator: inout RandomGenerator) {
        encoder = CPCEncoder(config: config.encoder, generator: &generator)
        context = RecurrentContext(config: config.context, inputSize: config.encoder.channels, generator: &generator)
        classifier = Linear(inputSize: config.context.hidden, outputSize: config.classes, generator: &generator)
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] { [("encoder", encoder), ("context", context.layer), ("classifier", classifier)] }
}

/// Frame-level phone classification (registry key `supervised-phones`); needs `data.labels`.
public final class SupervisedPhones: Method, MethodSpec {
    public static let key = "supervised-phones"
    public static let input = InputKind.audioWindows

    public static func validate(_ config: SupervisedPhonesConfig, input: InputShape) throws {
        if !input.frameLabels {
            throw ConfigError(key: "data.labels", message: "missing: the supervised reference trains on frame labels "
                + "(e.g. Corpora/synth-small/phones.txt)")
        }
        if input.frameClasses > config.classes {
            throw ConfigError(key: "model.classes", message: "is \(config.classes), but the labels have \(input.frameClasses) classes")
        }
        if input.window > 0, config.encoder.frameCount(samples: input.window) < 1 {
            throw ConfigError(key: "data.window", message: "\(input.window) samples are shorter than the encoder's receptive field "
                + "(\(config.encoder.receptiveField) samples)")
        }
        if config.encoder.downsampling != 160 {
            throw ConfigError(key: "model.encoder.strides", message: "must multiply to 160 (one frame per 10 ms label), found \(config.encoder.strides)")
        }
    }

    public static func make(_ config: SupervisedPhonesConfig, input: InputShape, seed: UInt64) throws -> any Method {
        SupervisedPhones(config: config, seed: seed)
    }

    /// The networks.
    public let network: SupervisedPhonesModel
    public var model: any Layer { network }

    /// The model of `config`, initialised from `seed`.
    public init(config: SupervisedPhonesConfig, seed: UInt64) {
        var generator = RandomGenerator(seed: seed, stream: 1)
        network = SupervisedPhonesModel(config: config, generator: &generator)
    }

    /// Cross-entropy of every frame's phone, the frames aligned with their labels as the probes align them.
    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        let z = network.encoder.labelAligned(batch.inputs)
        let (n, frames) = (z.shape[0], z.shape[1])
        precondition(batch.frameLabels.count == n * frames,
                     "the batch has \(batch.frameLabels.count) frame labels for \(n) windows of \(frames) frames (data.labels)")
        let c = network.context(z)
        let logits = network.classifier(c.reshaped([n * frames, c.shape[2]]))
        let loss = crossEntropy(logits: logits, targets: batch.frameLabels)
        let predicted = logits.argmax(alongAxis: 1)
        let correct = zip(predicted, batch.frameLabels).filter { $0 == $1 }.count
        let accuracy = Float(correct) / Float(max(1, n * frames))
        return StepOutput(loss: loss, metrics: ["frame_accuracy": accuracy], headline: ("acc", accuracy))
    }

    /// `.context` (`[N, F, H]`) or `.encoder` (`[N, F, C]`) of audio `[N, S]`, aligned with the labels as CPC's.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? {
        guard request == .context || request == .encoder else { return nil }
        return withoutGrad {
            let z = network.encoder.labelAligned(inputs)
            return request == .context ? network.context(z) : z
        }
    }
}
