// CPC checkpoints to and from CPC_audio (facebookresearch/CPC_audio, the modified CPC of Rivière et al. 2020).
//
// The networks compute the same functions once the encoder is padded as CPC_audio's; what differs is the naming,
// three shapes and one scale:
//
//   ours                              CPC_audio (flat form of scripts/cpc_audio_checkpoint.py)
//   encoder.conv{i}.weight / .bias    gEncoder.conv{i}.weight / .bias                     same shapes
//   encoder.norm{i}.weight / .bias    gEncoder.batchNorm{i}.weight / .bias                [C] ↔ [1, C, 1] (ChannelNorm)
//   encoder.norm{i}.running_*         gEncoder.batchNorm{i}.running_* (batchNorm mode)    same shapes
//   context.{weight,bias}_{ih,hh}_l{k} gAR.baseNet.{weight,bias}_{ih,hh}_l{k}             same (GRU or LSTM)
//   predictors.{k}.weight             cpcCriterion.wPrediction.predictors.{k}.weight      ours = theirs / C
//   predictors.{k}.<layer>            cpcCriterion.wPrediction.predictors.{k}.0.<layer>   (rnnMode transformer)
//                                     ln_ffnetwork.{weight,bias}: ours = theirs / C; Att.z, Att.mask: constants
//
// CPC_audio scores a prediction against a candidate by the mean over the C encoder channels of their product; we take
// the dot product. Dividing W_k by C on import (multiplying on export) keeps every score, hence the loss, the same;
// for a power-of-two C (CPC_audio's 256 or 512) both directions are exact.
//
// CPC_audio's transformer predictor (its default: one post-norm transformer layer per step with learned relative
// positions, Layers/RelativeAttention.swift) is our `cpc_audio_transformer` predictor; its output is the prediction, so
// the 1/C goes into its last layer norm's weight and bias. What has no equivalent is refused with the argument named:
// absolute positions (abspos), RNN or transformer contexts, instanceNorm, speaker embeddings, the reverse and BERT
// modes, and MFCC/LFB encoders.

import Foundation
import Layers
import TensorCore

/// Converts CPC models and training arguments between CPC_audio's checkpoints and ours.
public enum CPCAudioCheckpoint {
    /// CPC_audio's encoder: its kernels, strides and padding (floor(S / 160) frames, each centred on its label).
    public static let encoderGeometry = (kernels: [10, 8, 4, 4, 4], strides: [5, 4, 2, 2, 2], padding: [3, 2, 1, 1, 1])

    /// The metadata key of the flat safetensors form that holds CPC_audio's training arguments as JSON.
    public static let argumentsKey = "cpc_audio_args"

    /// What CPC_audio's training arguments say about a run, in our terms.
    public struct Imported: Equatable, Sendable {
        /// The model config.
        public var model: CPCConfig
        /// `sizeWindow`: samples per training window.
        public var window: Int?
        /// `learningRate`.
        public var learningRate: Float?
    }

    /// Our model config for CPC_audio's training arguments (`checkpoint_args.json`); an argument with no equivalent
    /// here is an error naming it, with `source` as the file.
    public static func imported(arguments: [String: JSONValue], source: String) throws -> Imported {
        func string(_ key: String, default value: String?) throws -> String? {
            switch arguments[key] {
            case nil, .null?: return value
            case .string(let s)?: return s
            case let other?: throw ConfigError(file: source, key: key, message: "expected a string, found \(other.compact)")
            }
        }
        func integer(_ key: String, default value: Int?) throws -> Int? {
            switch arguments[key] {
            case nil, .null?: return value
            case .number(let n)? where n == n.rounded() && abs(n) < 1e9: return Int(n)
            case let other?: throw ConfigError(file: source, key: key, message: "expected an integer, found \(other.compact)")
            }
        }
        func refuse(_ key: String, _ value: String, _ why: String) -> ConfigError {
            ConfigError(file: source, key: key, message: "'\(value)' \(why)")
        }
        var model = CPCConfig()
        model.encoder.kernels = encoderGeometry.kernels
        model.encoder.strides = encoderGeometry.strides
        model.encoder.padding = encoderGeometry.padding
        if let encoder = try string("encoder_type", default: "cpc"), encoder != "cpc" {
            throw refuse("encoder_type", encoder, "has no equivalent here (only CPC_audio's convolutional encoder, 'cpc')")
        }
        model.encoder.channels = try integer("hiddenEncoder", default: 256)!
        switch try string("normMode", default: "layerNorm")! {
        case "layerNorm": model.encoder.normalization = .channel  // CPC_audio's "layerNorm" is its ChannelNorm
        case "batchNorm": model.encoder.normalization = .batch
        case "ID": model.encoder.normalization = .none
        case let other: throw refuse("normMode", other, "has no equivalent here (layerNorm, batchNorm and ID have)")
        }
        switch try string("arMode", default: "LSTM")! {
        case "GRU": model.context.type = .gru
        case "LSTM": model.context.type = .lstm
        case let other: throw refuse("arMode", other, "has no equivalent here (GRU and LSTM contexts have)")
        }
        model.context.hidden = try integer("hiddenGar", default: 256)!
        model.context.layers = try integer("nLevelsGRU", default: 1)!
        if let mode = try string("cpc_mode", default: nil), mode != "none" {
            throw refuse("cpc_mode", mode, "has no equivalent here")
        }
        if let speakers = try integer("speakerEmbedding", default: 0), speakers != 0 {
            throw refuse("speakerEmbedding", String(speakers), "(speaker embeddings fed to the predictors) has no equivalent here")
        }
        if case .bool(true)? = arguments["multihead_rnn"] { throw refuse("multihead_rnn", "true", "has no equivalent here") }
        model.predictionSteps = try integer("nPredicts", default: 12)!
        model.negatives = try integer("negativeSamplingExt", default: 128)!
        let window = try integer("sizeWindow", default: nil)
        switch try string("rnnMode", default: "transformer")! {
        case "linear", "none": model.predictor.type = .linear
        case "transformer":
            // One post-norm transformer layer per step (8 heads, feed-forward 2048, relative positions over
            // sizeWindow / 160 − nPredicts frames) whose output is the prediction.
            if case .bool(true)? = arguments["abspos"] {
                throw refuse("abspos", "true", "(absolute position embeddings instead of relative ones) has no equivalent here")
            }
            guard model.context.hidden == model.encoder.channels else {
                throw ConfigError(file: source, key: "hiddenGar", message: "is \(model.context.hidden); CPC_audio's transformer predictor "
                    + "needs it equal to hiddenEncoder (\(model.encoder.channels))")
            }
            model.predictor.type = .cpcAudioTransformer
            (model.predictor.heads, model.predictor.feedForward) = (8, 2048)
            model.predictor.positions = window.map { max(1, $0 / 160 - model.predictionSteps) }
        case let other: throw refuse("rnnMode", other, "has no equivalent here (linear and transformer predictors convert)")
        }
        // CPC_audio draws negatives anywhere in the batch; its samplingType decides what a batch holds.
        switch try string("samplingType", default: "samespeaker")! {
        case "samespeaker": model.negativeSampling = .sameSpeaker
        case "samesequence": model.negativeSampling = .withinSequence
        default: model.negativeSampling = .mixed
        }
        for (key, value) in [("hiddenEncoder", model.encoder.channels), ("hiddenGar", model.context.hidden), ("nLevelsGRU", model.context.layers),
                             ("nPredicts", model.predictionSteps), ("negativeSamplingExt", model.negatives)] where value < 1 || value > 65536 {
            throw ConfigError(file: source, key: key, message: "must be in 1...65536, found \(value)")
        }
        var learningRate: Float? = nil
        if case .number(let rate)? = arguments["learningRate"], rate > 0, rate.isFinite { learningRate = Float(rate) }
        return Imported(model: model, window: window, learningRate: learningRate)
    }

    /// Why `config` cannot be a CPC_audio model, or nil when it can.
    public static func incompatibility(_ config: CPCConfig) -> String? {
        let encoder = config.encoder
        if encoder.kernels != encoderGeometry.kernels || encoder.strides != encoderGeometry.strides || encoder.padding != encoderGeometry.padding {
            return "model.encoder: CPC_audio's encoder has kernels \(encoderGeometry.kernels), strides \(encoderGeometry.strides) and "
                + "padding \(encoderGeometry.padding); this model has kernels \(encoder.kernels), strides \(encoder.strides), padding "
                + "\(encoder.padding.isEmpty ? "none" : "\(encoder.padding)") (an unpadded encoder gives other frames there)"
        }
        if ![.channel, .batch, .none].contains(encoder.normalization) {
            return "model.encoder.normalization: '\(encoder.normalization.rawValue)' has no CPC_audio equivalent (channel, batch and none have)"
        }
        switch config.predictor.type {
        case .linear: return nil
        case .transformer:
            return "model.predictor: CPC_audio has no equivalent of the shared causal transformer predictor (linear and "
                + "cpc_audio_transformer predictors convert)"
        case .cpcAudioTransformer:
            if config.predictor.heads != 8 || config.predictor.feedForward != 2048 {
                return "model.predictor: CPC_audio's transformer layers have 8 heads and feed-forward width 2048; this model has "
                    + "\(config.predictor.heads) and \(config.predictor.feedForward.map(String.init) ?? "none")"
            }
            return nil
        }
    }

    /// CPC_audio's training arguments for `config` (those that decide the model, plus the window and learning rate).
    public static func arguments(for config: CPCConfig, window: Int, learningRate: Float) throws -> [String: JSONValue] {
        if let problem = incompatibility(config) { throw ConfigError(key: "model", message: problem) }
        if config.predictor.type == .cpcAudioTransformer, let positions = config.predictor.positions,
           positions != window / 160 - config.predictionSteps {
            throw ConfigError(key: "model.predictor.positions", message: "is \(positions); CPC_audio sizes its relative positions "
                + "from sizeWindow / 160 − nPredicts = \(window / 160 - config.predictionSteps) (data.window \(window))")
        }
        let norm: String = switch config.encoder.normalization { case .channel: "layerNorm"; case .batch: "batchNorm"; default: "ID" }
        let sampling: String = switch config.negativeSampling {
        case .sameSpeaker: "samespeaker"
        case .withinSequence: "samesequence"
        default: "uniform"
        }
        return [
            "encoder_type": .string("cpc"), "hiddenEncoder": .number(Double(config.encoder.channels)), "normMode": .string(norm),
            "arMode": .string(config.context.type == .gru ? "GRU" : "LSTM"), "hiddenGar": .number(Double(config.context.hidden)),
            "nLevelsGRU": .number(Double(config.context.layers)),
            "rnnMode": .string(config.predictor.type == .cpcAudioTransformer ? "transformer" : "linear"), "cpc_mode": .null,
            "speakerEmbedding": .number(0), "nPredicts": .number(Double(config.predictionSteps)),
            "negativeSamplingExt": .number(Double(config.negatives)), "samplingType": .string(sampling),
            "sizeWindow": .number(Double(window)), "learningRate": .number(Double(learningRate)),
        ]
    }

    /// Our state dict for CPC_audio's (flat form), for a model of `config`. Every tensor must map: an unknown or
    /// missing name is an error listing them, with `source` as the file.
    public static func ourTensors(from theirs: [(String, Tensor)], config: CPCConfig, source: String) throws -> [(String, Tensor)] {
        if let problem = incompatibility(config) { throw CheckpointError(path: source, problem: problem) }
        let scale = 1 / Float(config.encoder.channels)
        var result: [(String, Tensor)] = [], unknown: [String] = []
        for (name, tensor) in theirs {
            guard let (ours, kind) = ourName(theirs: name, normalization: config.encoder.normalization) else { unknown.append(name); continue }
            switch kind {
            case .same: result.append((ours, tensor))
            case .channelVector:
                guard tensor.rank == 3, tensor.shape[0] == 1, tensor.shape[2] == 1 else {
                    throw CheckpointError(path: source, problem: "'\(name)' has shape \(tensor.shape); CPC_audio's ChannelNorm has [1, C, 1]")
                }
                result.append((ours, tensor.reshaped([tensor.shape[1]])))
            case .predictor:
                result.append((ours, withoutGrad { tensor * scale }))
            case .derived:
                continue  // the transformer's constant buffers (a zero column and the causal mask), rebuilt on export
            }
        }
        if !unknown.isEmpty {
            throw CheckpointError(path: source, problem: "\(unknown.count) tensor(s) have no counterpart in a CPC model: "
                + unknown.prefix(8).joined(separator: ", ") + (unknown.count > 8 ? ", …" : ""))
        }
        return result
    }

    /// CPC_audio's state dict (flat form) for ours, for a model of `config`.
    public static func theirTensors(from ours: [(String, Tensor)], config: CPCConfig, source: String) throws -> [(String, Tensor)] {
        if let problem = incompatibility(config) { throw CheckpointError(path: source, problem: problem) }
        let channels = Float(config.encoder.channels)
        var result: [(String, Tensor)] = [], unknown: [String] = []
        for (name, tensor) in ours {
            guard let (theirs, kind) = theirName(ours: name, normalization: config.encoder.normalization) else { unknown.append(name); continue }
            switch kind {
            case .same: result.append((theirs, tensor))
            case .channelVector: result.append((theirs, tensor.reshaped([1, tensor.count, 1])))
            case .predictor: result.append((theirs, withoutGrad { tensor * channels }))
            case .derived: continue
            }
        }
        if config.predictor.type == .cpcAudioTransformer, let table = ours.first(where: { $0.0.hasSuffix("multihead.Att.Krelpos") }) {
            // CPC_audio's ScaledDotProductAttention buffers: `z` (zeros, [1, S, 1]) and `mask` (−∞ above the diagonal).
            let s = table.1.shape[1]
            let mask = Tensor((0..<(s * s)).map { ($0 % s) > ($0 / s) ? -Float.infinity : 0 }, shape: [1, s, s])
            for k in 0..<config.predictionSteps {
                let prefix = "cpcCriterion.wPrediction.predictors.\(k).0.multihead.Att."
                result += [(prefix + "z", Tensor.zeros([1, s, 1])), (prefix + "mask", mask)]
            }
        }
        if !unknown.isEmpty {
            throw CheckpointError(path: source, problem: "\(unknown.count) tensor(s) have no counterpart in CPC_audio: "
                + unknown.prefix(8).joined(separator: ", ") + (unknown.count > 8 ? ", …" : ""))
        }
        return result
    }

    /// How a tensor changes on the way: unchanged, `[C]` ↔ `[1, C, 1]`, scaled by 1/C (ours) ↔ C (theirs), or a
    /// constant buffer of theirs that is not stored here.
    enum Mapping { case same, channelVector, predictor, derived }

    static func ourName(theirs name: String, normalization: NormalizationKind) -> (String, Mapping)? {
        let parts = name.split(separator: ".").map(String.init)
        switch (parts.first, parts.count) {
        case ("gEncoder", 3) where parts[1].hasPrefix("conv"):
            return ("encoder.\(parts[1]).\(parts[2])", .same)
        case ("gEncoder", 3) where parts[1].hasPrefix("batchNorm"):
            let index = parts[1].dropFirst("batchNorm".count)
            let channelVector = normalization == .channel && (parts[2] == "weight" || parts[2] == "bias")
            return ("encoder.norm\(index).\(parts[2])", channelVector ? .channelVector : .same)
        case ("gAR", 3) where parts[1] == "baseNet":
            return ("context.\(parts[2])", .same)
        case ("cpcCriterion", 5) where parts[1] == "wPrediction" && parts[2] == "predictors" && parts[4] == "weight":
            return ("predictors.\(parts[3]).weight", .predictor)
        case ("cpcCriterion", 7...) where parts[1] == "wPrediction" && parts[2] == "predictors" && parts[4] == "0":
            // A step's transformer layer (nn.Sequential index 0); its output is the prediction, scaled by its last norm.
            let rest = parts[5...].joined(separator: ".")
            if rest == "multihead.Att.z" || rest == "multihead.Att.mask" { return ("", .derived) }
            return ("predictors.\(parts[3]).\(rest)", rest.hasPrefix("ln_ffnetwork.") ? .predictor : .same)
        default: return nil
        }
    }

    static func theirName(ours name: String, normalization: NormalizationKind) -> (String, Mapping)? {
        let parts = name.split(separator: ".").map(String.init)
        switch (parts.first, parts.count) {
        case ("encoder", 3) where parts[1].hasPrefix("conv"):
            return ("gEncoder.\(parts[1]).\(parts[2])", .same)
        case ("encoder", 3) where parts[1].hasPrefix("norm"):
            let index = parts[1].dropFirst("norm".count)
            let channelVector = normalization == .channel && (parts[2] == "weight" || parts[2] == "bias")
            return ("gEncoder.batchNorm\(index).\(parts[2])", channelVector ? .channelVector : .same)
        case ("context", 2):
            return ("gAR.baseNet.\(parts[1])", .same)
        case ("predictors", 3) where parts[2] == "weight":
            return ("cpcCriterion.wPrediction.predictors.\(parts[1]).weight", .predictor)
        case ("predictors", 4...):
            let rest = parts[2...].joined(separator: ".")
            return ("cpcCriterion.wPrediction.predictors.\(parts[1]).0.\(rest)", rest.hasPrefix("ln_ffnetwork.") ? .predictor : .same)
        default: return nil
        }
    }
}
