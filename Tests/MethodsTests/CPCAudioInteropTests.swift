// CPC_audio interoperability: a model with CPC_audio's architecture, written and run in PyTorch by
// Tests/Fixtures/generate_cpc_audio.py and saved as CPC_audio saves it (converted to flat safetensors by
// scripts/cpc_audio_checkpoint.py), converts to ours and gives its features and scores; the way back is exact.

import Foundation
import Layers
import Methods
import Testing
import TensorCore
import TestSupport

private func fixtureCheckpoint(_ name: String) throws -> (tensors: [(String, Tensor)], arguments: [String: JSONValue]) {
    let path = repositoryRoot.appendingPathComponent("Tests/Fixtures/cpc_audio_\(name).safetensors").path
    let (tensors, metadata) = try SafeTensors.read(path)
    let arguments = try JSONDecoder().decode([String: JSONValue].self, from: Data(metadata[CPCAudioCheckpoint.argumentsKey]!.utf8))
    return (tensors, arguments)
}

private func maxRelativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
    let scale = max(b.scalars.map(abs).max() ?? 1, 1e-6)
    return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()! / scale
}

@Suite struct CPCAudioInteropTests {
    static let cases = ["gru_layernorm", "lstm_batchnorm", "lstm_transformer"]

    @Test(arguments: cases) func argumentsBecomeOurModelConfig(name: String) throws {
        let (_, arguments) = try fixtureCheckpoint(name)
        let imported = try CPCAudioCheckpoint.imported(arguments: arguments, source: name)
        let model = imported.model
        #expect(model.encoder.kernels == [10, 8, 4, 4, 4] && model.encoder.strides == [5, 4, 2, 2, 2] && model.encoder.padding == [3, 2, 1, 1, 1])
        let transformer = name == "lstm_transformer"
        #expect(model.encoder.channels == 16 && model.context.hidden == (transformer ? 16 : 12) && model.predictionSteps == 3 && model.negatives == 32)
        #expect(model.encoder.normalization == (name == "lstm_batchnorm" ? .batch : .channel))
        #expect(model.context.type == (name == "gru_layernorm" ? .gru : .lstm))
        #expect(model.context.layers == (name == "lstm_batchnorm" ? 2 : 1))
        #expect(model.negativeSampling == .withinSequence && imported.window == (transformer ? 3200 : 20480) && imported.learningRate == 2e-4)
        #expect(model.predictor.type == (transformer ? .cpcAudioTransformer : .linear))
        if transformer { #expect(model.predictor.heads == 8 && model.predictor.feedForward == 2048 && model.predictor.positions == 17) }
        // And back: the arguments that decide the model are the same.
        let back = try CPCAudioCheckpoint.arguments(for: model, window: imported.window!, learningRate: 2e-4)
        for key in ["hiddenEncoder", "hiddenGar", "nLevelsGRU", "arMode", "normMode", "nPredicts", "negativeSamplingExt", "samplingType",
                    "sizeWindow", "rnnMode"] {
            #expect(back[key] == arguments[key], "\(key): \(String(describing: back[key])) vs \(String(describing: arguments[key]))")
        }
    }

    @Test(arguments: cases) func convertedModelGivesPyTorchsFeaturesAndScores(name: String) throws {
        let fixture = try Fixture("cpc_audio")
        let (tensors, arguments) = try fixtureCheckpoint(name)
        let config = try CPCAudioCheckpoint.imported(arguments: arguments, source: name).model
        let method = CPCAudio(config: config, seed: 1)
        try method.model.loadStateDict(try CPCAudioCheckpoint.ourTensors(from: tensors, config: config, source: name), source: name)
        method.model.setTraining(false)
        let audio = try fixture.tensor(name, "audio")
        // CPC_audio's padded encoder needs no alignment shift: our aligned features are its raw outputs.
        #expect(CPCAudio.labelAlignment(config.encoder, samples: audio.shape[1]) == (0, 0))
        let encoded = try #require(method.features(audio, .encoder)), context = try #require(method.features(audio, .context))
        #expect(encoded.shape == [2, 20, 16] && context.shape == [2, 20, config.context.hidden])
        #expect(maxRelativeError(encoded, try fixture.tensor(name, "encoded")) < 1e-5)
        #expect(maxRelativeError(context, try fixture.tensor(name, "context")) < 1e-5)
        // Scores of the true futures: CPC_audio's channel mean equals our dot product with W_k / C.
        let expected = try fixture.tensor(name, "positive_scores")  // [N, W, K]
        let (n, frames, k) = (2, 20, config.predictionSteps)
        let positions = frames - k
        let predictions = withoutGrad { method.network.predict(context, positions: positions) }  // [N, W, K, C]
        var scores = [Float](), c = config.encoder.channels
        for i in 0..<n {
            for t in 0..<positions {
                for step in 0..<k {
                    var dot: Float = 0
                    for channel in 0..<c {
                        dot += predictions.scalars[((i * positions + t) * k + step) * c + channel]
                            * encoded.scalars[(i * frames + t + step + 1) * c + channel]
                    }
                    scores.append(dot)
                }
            }
        }
        #expect(maxRelativeError(Tensor(scores, shape: [n, positions, k]), expected) < 1e-5)
    }

    @Test(arguments: cases) func theRoundTripIsExact(name: String) throws {
        let (tensors, arguments) = try fixtureCheckpoint(name)
        let config = try CPCAudioCheckpoint.imported(arguments: arguments, source: name).model
        let ours = try CPCAudioCheckpoint.ourTensors(from: tensors, config: config, source: name)
        #expect(ours.contains { $0.0 == "encoder.norm0.weight" && $0.1.shape == [16] || name == "lstm_batchnorm" })
        let back = try CPCAudioCheckpoint.theirTensors(from: ours, config: config, source: name)
        let original = Dictionary(uniqueKeysWithValues: tensors), returned = Dictionary(uniqueKeysWithValues: back)
        #expect(Set(original.keys) == Set(returned.keys))
        for (key, tensor) in original {
            #expect(returned[key]?.shape == tensor.shape && returned[key]?.scalars == tensor.scalars, "\(key)")
        }
    }

    @Test func whatHasNoEquivalentIsRefusedByName() throws {
        let (tensors, arguments) = try fixtureCheckpoint("gru_layernorm")
        for (key, value) in [("rnnMode", "ffd"), ("arMode", "RNN"), ("normMode", "instanceNorm"), ("encoder_type", "mfcc"), ("cpc_mode", "reverse")] {
            var changed = arguments
            changed[key] = .string(value)
            #expect { try CPCAudioCheckpoint.imported(arguments: changed, source: "args.json") } throws: { error in
                "\(error)".contains("args.json: key '\(key)': '\(value)'")
            }
        }
        // The transformer predictor needs the context as wide as the encoder, and relative positions.
        var transformerArguments = arguments
        transformerArguments["rnnMode"] = .string("transformer")
        #expect { try CPCAudioCheckpoint.imported(arguments: transformerArguments, source: "args.json") }
            throws: { "\($0)".contains("key 'hiddenGar': is 12") }
        transformerArguments["hiddenGar"] = .number(16)
        transformerArguments["abspos"] = .bool(true)
        #expect { try CPCAudioCheckpoint.imported(arguments: transformerArguments, source: "args.json") }
            throws: { "\($0)".contains("key 'abspos'") }
        var speakers = arguments
        speakers["speakerEmbedding"] = .number(8)
        #expect(throws: ConfigError.self) { try CPCAudioCheckpoint.imported(arguments: speakers, source: "args.json") }
        let config = try CPCAudioCheckpoint.imported(arguments: arguments, source: "x").model
        // A tensor that maps to nothing is named.
        #expect { try CPCAudioCheckpoint.ourTensors(from: tensors + [("cpcCriterion.speakerEmb.weight", Tensor.zeros([3, 2]))], config: config, source: "in.safetensors") }
            throws: { "\($0)".contains("cpcCriterion.speakerEmb.weight") }
        // Our unpadded encoder (or a transformer predictor) cannot become CPC_audio's.
        var unpadded = config
        unpadded.encoder.padding = []
        #expect(CPCAudioCheckpoint.incompatibility(unpadded)?.contains("padding") == true)
        #expect(throws: ConfigError.self) { try CPCAudioCheckpoint.arguments(for: unpadded, window: 20480, learningRate: 2e-4) }
        var transformer = config
        transformer.predictor.type = .transformer
        #expect(CPCAudioCheckpoint.incompatibility(transformer)?.contains("model.predictor") == true)
    }
}
