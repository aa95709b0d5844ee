// A checkpoint stands alone: `embed`, `probe` and `inspect` rebuild its model from a sidecar that holds only the model
// config, or from `--config FILE` when there is no sidecar; a missing or contradictory model config is an error that
// says what is missing, never a silent default.

import Foundation
import TensorCore
import Testing
import TestSupport

@Suite struct CheckpointConfigCommandTests {
    let corpus = repositoryRoot.appendingPathComponent("Corpora/synth-small").path
    let shipped = repositoryRoot.appendingPathComponent("models/cpc-audio-pretrained.safetensors").path
    let config = repositoryRoot.appendingPathComponent("configs/cpc-audio-pretrained.yaml").path

    /// A folder with a copy of the shipped model (no sidecar) and a two-utterance split.
    func workspace() throws -> (folder: URL, model: String, split: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-standalone-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let model = folder.appendingPathComponent("model.safetensors").path
        try FileManager.default.copyItem(atPath: shipped, toPath: model)
        let ids = try String(contentsOfFile: corpus + "/test.txt", encoding: .utf8).split(separator: "\n").prefix(2)
        let split = folder.appendingPathComponent("two.txt").path
        try (ids.joined(separator: "\n") + "\n").write(toFile: split, atomically: true, encoding: .utf8)
        return (folder, model, split)
    }

    func embed(_ model: String, split: String, out: String, config: String? = nil) throws -> CommandResult {
        try runCPC(["embed", "--corpus", corpus, "--checkpoint", model, "--split", split, "--out", out, "--threads", "1"]
                   + (config.map { ["--config", $0] } ?? []))
    }

    /// The shipped sidecar's `config.model`, as JSON text.
    func shippedModelJSON() throws -> String {
        let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: String(shipped.dropLast(12)) + ".json"))) as! [String: Any]
        let model = (sidecar["config"] as! [String: Any])["model"]!
        return String(decoding: try JSONSerialization.data(withJSONObject: model, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func aCheckpointWithoutSidecarNeedsAndUsesAConfig() throws {
        let (folder, model, split) = try workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let reference = folder.appendingPathComponent("reference.npy").path
        let referenceRun = try embed(shipped, split: split, out: reference)
        #expect(referenceRun.status == 0, "\(referenceRun.standardError)")

        let bare = try embed(model, split: split, out: folder.appendingPathComponent("bare.npy").path)
        #expect(bare.status != 0 && bare.standardError.contains("\(model): has no sidecar") && bare.standardError.contains("--config FILE"),
                "\(bare.standardError)")

        let withConfig = folder.appendingPathComponent("with-config.npy").path
        let configured = try embed(model, split: split, out: withConfig, config: config)
        #expect(configured.status == 0, "\(configured.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: withConfig)) == Data(contentsOf: URL(fileURLWithPath: reference)))

        // A config without a model section would build the default model: refused.
        let modelless = folder.appendingPathComponent("modelless.yaml").path
        try "method: cpc\ntraining:\n  steps: 10\n".write(toFile: modelless, atomically: true, encoding: .utf8)
        let noModel = try embed(model, split: split, out: folder.appendingPathComponent("x.npy").path, config: modelless)
        #expect(noModel.status != 0 && noModel.standardError.contains("\(modelless): key 'model': missing"), "\(noModel.standardError)")

        // The wrong architecture: the shape differences are listed.
        let wide = folder.appendingPathComponent("wide.yaml").path
        try "model:\n  encoder:\n    channels: 64\n    normalization: channel\n  context:\n    hidden: 128\n  prediction_steps: 8\n"
            .write(toFile: wide, atomically: true, encoding: .utf8)
        let wrong = try embed(model, split: split, out: folder.appendingPathComponent("y.npy").path, config: wide)
        #expect(wrong.status != 0 && wrong.standardError.contains("encoder.conv0.weight"), "\(wrong.standardError)")
    }

    @Test func aSidecarNeedsOnlyTheModelConfig() throws {
        let (folder, model, split) = try workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let sidecar = folder.appendingPathComponent("model.json").path
        try "{\"config\": {\"method\": \"cpc\", \"model\": \(try shippedModelJSON())}}".write(toFile: sidecar, atomically: true, encoding: .utf8)
        let reference = folder.appendingPathComponent("reference.npy").path, minimal = folder.appendingPathComponent("minimal.npy").path
        #expect(try embed(shipped, split: split, out: reference).status == 0)
        let run = try embed(model, split: split, out: minimal)
        #expect(run.status == 0, "\(run.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: minimal)) == Data(contentsOf: URL(fileURLWithPath: reference)))

        // With --config too, the two must agree; a difference is named key by key.
        let other = folder.appendingPathComponent("other.yaml").path
        try "model:\n  encoder:\n    channels: 128\n    normalization: channel\n  context:\n    hidden: 64\n  prediction_steps: 8\n  negatives: 64\n  negative_sampling: within_sequence\n"
            .write(toFile: other, atomically: true, encoding: .utf8)
        let contradiction = try embed(model, split: split, out: folder.appendingPathComponent("z.npy").path, config: other)
        #expect(contradiction.status != 0 && contradiction.standardError.contains("contradicts the checkpoint's sidecar")
                && contradiction.standardError.contains("model.context.hidden: 128 vs 64"), "\(contradiction.standardError)")
        let agreeing = try embed(model, split: split, out: folder.appendingPathComponent("agree.npy").path, config: config)
        #expect(agreeing.status == 0, "\(agreeing.standardError)")

        // A sidecar whose config has no model section is not read as the default model.
        try "{\"step\": 3, \"config\": {\"method\": \"cpc\"}}".write(toFile: sidecar, atomically: true, encoding: .utf8)
        let modelless = try embed(model, split: split, out: folder.appendingPathComponent("w.npy").path)
        #expect(modelless.status != 0 && modelless.standardError.contains("key 'config.model': missing"), "\(modelless.standardError)")
    }

    @Test func inspectChecksTheTensorsAgainstAConfig() throws {
        let (folder, model, _) = try workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let unchecked = try runCPC(["inspect", model])
        #expect(unchecked.status == 0 && unchecked.standardOutput.contains("model: not checked"), "\(unchecked.standardOutput)")
        let checked = try runCPC(["inspect", model, "--config", config])
        #expect(checked.status == 0 && checked.standardOutput.contains("model: matches the 'cpc' model of \(config)"),
                "\(checked.standardOutput)\(checked.standardError)")
        let small = repositoryRoot.appendingPathComponent("configs/cpc-audio-paper.yaml").path
        let mismatch = try runCPC(["inspect", model, "--config", small])
        #expect(mismatch.status != 0 && mismatch.standardError.contains("encoder.conv0.weight"), "\(mismatch.standardError)")
    }

    @Test func embedMakesPreparesChecksOnItsSplit() throws {
        let (folder, _, split) = try workspace()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bad = folder.appendingPathComponent("bad.txt").path
        try (String(contentsOfFile: split, encoding: .utf8) + "no-such-utterance\n").write(toFile: bad, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("bad.npy").path
        let result = try embed(shipped, split: bad, out: out)
        #expect(result.status != 0)
        #expect(result.standardError.contains("cannot be embedded") && result.standardError.contains("no-such-utterance"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

@Suite struct ConvertCommandTests {
    @Test func cpcAudioCheckpointsConvertBothWaysExactly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-convert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let theirs = repositoryRoot.appendingPathComponent("Tests/Fixtures/cpc_audio_lstm_batchnorm.safetensors").path
        let ours = folder.appendingPathComponent("ours.safetensors").path, back = folder.appendingPathComponent("back.safetensors").path
        let imported = try runCPC(["convert", theirs, "--from", "cpc-audio", "--out", ours])
        #expect(imported.status == 0, "\(imported.standardError)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("ours.json").path))
        let inspected = try runCPC(["inspect", ours])
        #expect(inspected.status == 0 && inspected.standardOutput.contains("model: matches the 'cpc' model"), "\(inspected.standardOutput)")
        let exported = try runCPC(["convert", ours, "--to", "cpc-audio", "--out", back])
        #expect(exported.status == 0, "\(exported.standardError)")
        let (a, metadataA) = try SafeTensors.read(theirs), (b, metadataB) = try SafeTensors.read(back)
        #expect(a.map(\.0).sorted() == b.map(\.0).sorted())
        let returned = Dictionary(uniqueKeysWithValues: b)
        for (name, tensor) in a { #expect(returned[name]?.scalars == tensor.scalars && returned[name]?.shape == tensor.shape, "\(name)") }
        let argumentsA = try JSONSerialization.jsonObject(with: Data(metadataA["cpc_audio_args"]!.utf8)) as! [String: Any]
        let argumentsB = try JSONSerialization.jsonObject(with: Data(metadataB["cpc_audio_args"]!.utf8)) as! [String: Any]
        for key in ["hiddenEncoder", "hiddenGar", "nLevelsGRU", "nPredicts", "negativeSamplingExt", "sizeWindow"] {
            #expect((argumentsA[key] as? NSNumber) == (argumentsB[key] as? NSNumber), "\(key)")
        }
        // Nothing is overwritten unasked; the shipped (unpadded) model cannot become CPC_audio's.
        let again = try runCPC(["convert", ours, "--to", "cpc-audio", "--out", back])
        #expect(again.status != 0 && again.standardError.contains("exists; pass --overwrite"), "\(again.standardError)")
        let shipped = repositoryRoot.appendingPathComponent("models/cpc-audio-pretrained.safetensors").path
        let unpadded = try runCPC(["convert", shipped, "--to", "cpc-audio", "--out", folder.appendingPathComponent("x.safetensors").path])
        #expect(unpadded.status != 0 && unpadded.standardError.contains("padding [3, 2, 1, 1, 1]"), "\(unpadded.standardError)")
        let neither = try runCPC(["convert", ours, "--out", folder.appendingPathComponent("y.safetensors").path])
        #expect(neither.status != 0 && neither.standardError.contains("give one of --from cpc-audio or --to cpc-audio"))
    }
}
