// Frozen features per 10 ms frame for every utterance of a split: CPC context (c_t) or encoder (z_t) outputs from a
// checkpoint or a random initialisation, MFCC (+Δ, ΔΔ, per-utterance normalised) or log-mel baselines.
//
// Glossary: F frames of one utterance, D feature dimensions, L phone labels of one utterance (floor(S/160)).

import AudioFrontEnd
import Foundation
import Layers
import Methods
import TensorCore
import Training

/// Which representation to extract.
public enum FeatureKind: String, CaseIterable, Sendable, Codable {
    case context, encoder, mfcc, logmel, random
}

/// Maps one utterance's audio to frame features [F, D].
public protocol FrameFeatureExtractor {
    var dimension: Int { get }
    func frames(_ audio: [Float]) -> Tensor
}

/// CPC encodings or contexts (any registered audio method's `.encoder`/`.context` features), computed without
/// gradients in evaluation mode.
public final class MethodFrameFeatures: FrameFeatureExtractor {
    public let method: any Method
    public let request: FeatureRequest

    /// Fails when the method has no such per-frame features.
    public init(method: any Method, request: FeatureRequest, source: String) throws {
        self.method = method
        self.request = request
        method.model.setTraining(false)
        guard let second = method.features(Tensor.zeros([1, 16000]), request) else {
            throw ConfigError(file: source, key: "method", message: "this model has no per-frame '\(request.rawValue)' features "
                + "(audio CPC has context and encoder); for image methods use cpc probe image")
        }
        // One frame per 10 ms label (docs/ARCHITECTURE.md, "Frame alignment").
        guard second.shape[1] == 100 else {
            throw ConfigError(file: source, key: "model.encoder.strides", message: "the model makes \(second.shape[1]) frames per "
                + "second of 16 kHz audio; the corpus labels one frame per 10 ms (100 per second), so the strides must multiply to 160")
        }
        dimension = second.shape[2]
    }

    public let dimension: Int

    public func frames(_ audio: [Float]) -> Tensor {
        withoutGrad {
            let features = method.features(Tensor(audio, shape: [1, audio.count]), request)!
            return features.reshaped([features.shape[1], features.shape[2]])
        }
    }

    /// Loads a checkpoint (its model config from its sidecar or `configFile`, `RunConfig.forCheckpoint`) and reads
    /// `request` from it.
    public static func load(checkpoint path: String, configFile: String? = nil, request: FeatureRequest) throws -> MethodFrameFeatures {
        let (_, method) = try MethodLoader.load(checkpoint: path, configFile: configFile, like: nil)
        return try MethodFrameFeatures(method: method, request: request, source: path)
    }

    /// A random initialisation of the model of `config`.
    public static func random(config: RunConfig, request: FeatureRequest, seed: UInt64 = 12345) throws -> MethodFrameFeatures {
        try MethodFrameFeatures(method: try MethodLoader.random(config: config, like: nil, seed: seed), request: request, source: "the config")
    }
}

/// MFCC (13 + Δ + ΔΔ = 39) or 40 log-mel bands, optionally mean/variance normalised per utterance. The probes use
/// them unnormalised: per-utterance normalisation removes the long-term spectrum, which is what tells speakers apart.
public final class SpectralFeatureExtractor: FrameFeatureExtractor {
    public let frontEnd: SpectralFrontEnd
    public let mfcc: Bool
    public let normalizePerUtterance: Bool

    public init(mfcc: Bool, normalizePerUtterance: Bool = false) throws {
        frontEnd = try SpectralFrontEnd()
        self.mfcc = mfcc
        self.normalizePerUtterance = normalizePerUtterance
    }

    public var dimension: Int { mfcc ? 3 * frontEnd.config.cepstralCoefficients : frontEnd.config.melBands }

    public func frames(_ audio: [Float]) -> Tensor {
        let aligned = frontEnd.labelAligned(audio) { [frontEnd, mfcc] in
            mfcc ? FeatureTransforms.withDeltas(frontEnd.mfcc($0)) : frontEnd.logMel($0)
        }
        return normalizePerUtterance ? FeatureTransforms.normalizedPerUtterance(aligned) : aligned
    }
}

/// Frame features of a set of utterances, stacked, with their utterance ranges.
public struct FrameSet {
    /// [total frames, D].
    public let features: Tensor
    /// Phone label of each frame (when labels were given).
    public let labels: [Int]
    /// Per utterance: id, first row, frame count, speaker index.
    public let utterances: [(id: String, start: Int, count: Int, speaker: Int)]

    public init(features: Tensor, labels: [Int], utterances: [(id: String, start: Int, count: Int, speaker: Int)]) {
        (self.features, self.labels, self.utterances) = (features, labels, utterances)
    }
}

public enum FrameFeatures {
    /// Extracts features for `ids`, cutting each utterance to min(feature frames, label frames) when labels are given.
    public static func extract(corpus: Corpus, ids: [String], extractor: any FrameFeatureExtractor, labels: PhoneLabels?,
                               cache: AudioCache) throws -> FrameSet {
        var blocks: [Tensor] = [], frameLabels: [Int] = []
        var ranges: [(id: String, start: Int, count: Int, speaker: Int)] = []
        var row = 0
        let stage = StageProgress.begin("features", total: ids.count, unit: "utterances")
        defer { stage?.finish() }
        for id in ids {
            defer { stage?.advance() }
            guard let utterance = corpus.utterance(id) else {
                throw CorpusError(path: corpus.root, problem: "utterance '\(id)' is not in the corpus")
            }
            let audio = try cache.samples(utterance.path)
            var features = extractor.frames(audio)
            var count = features.shape[0]
            if let labels {
                guard let phones = labels.labels[id] else {
                    throw CorpusError(path: labels.path, problem: "utterance '\(id)' has no phone labels")
                }
                count = min(count, phones.count)
                frameLabels += phones.prefix(count)
                if count < features.shape[0] { features = withoutGrad { features.sliced(alongAxis: 0, start: 0, length: count) } }
            }
            guard count > 0 else { continue }
            blocks.append(features)
            ranges.append((id, row, count, corpus.speakerIndex(utterance.speaker)!))
            row += count
        }
        guard !blocks.isEmpty else { throw CorpusError(path: corpus.root, problem: "no frames extracted for the split") }
        return FrameSet(features: withoutGrad { Tensor.concatenate(blocks, alongAxis: 0) }, labels: frameLabels, utterances: ranges)
    }
}
