// Argument and config errors of `cpc train`, `cpc probe` and `cpc embed` are one clear line and a non-zero exit.

import Foundation
import Testing
import TestSupport

@Suite struct TrainProbeCommandTests {
    @Test func trainNamesTheBadConfigKey() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "model:\n  context:\n    hiden: 12\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try runCPC(["train", "--config", path])
        #expect(result.status != 0)
        #expect(result.standardError.contains("\(path): key 'model.context.hiden': unknown key"))
        let missing = try runCPC(["train", "--config", "/nonexistent/config.yaml"])
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("/nonexistent/config.yaml"))
    }

    @Test func probeAndEmbedValidateTheirFeatureArguments() throws {
        let corpus = repositoryRoot.appendingPathComponent("Corpora/synth-small").path
        let noCheckpoint = try runCPC(["probe", "phone", "--corpus", corpus, "--features", "context"])
        #expect(noCheckpoint.status != 0)
        #expect(noCheckpoint.standardError.contains("--features context needs --checkpoint FILE"))
        let badKind = try runCPC(["probe", "speaker", "--corpus", corpus, "--features", "pixels"])
        #expect(badKind.status != 0)
        let missingCheckpoint = try runCPC(["embed", "--corpus", corpus, "--checkpoint", "/nonexistent/model.safetensors",
                                            "--split", "\(corpus)/test.txt", "--out", "/tmp/x.npy"])
        #expect(missingCheckpoint.status != 0)
        #expect(missingCheckpoint.standardError.contains("/nonexistent/model"))
    }
}
