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

    @Test func abxRecordsItsSegmentAndRefusesAnUnknownOne() throws {
        let corpus = repositoryRoot.appendingPathComponent("Corpora/synth-small").path
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-abx-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        for segment in [nil, "phone"] {
            let result = try runCPC(["abx", "--corpus", corpus, "--features", "mfcc", "--threads", "1", "--json", json, "--append"]
                                    + (segment.map { ["--segment", $0] } ?? []))
            #expect(result.status == 0, "\(result.standardError)")
        }
        let rows = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [[String: Any]]
        #expect(rows.map { $0["segment"] as? String } == ["triphone", "phone"])
        let results = rows.map { $0["result"] as! [String: Any] }
        // The same tokens either way; the triphone spans see other frames, so the errors differ.
        #expect(results[0]["items"] as? Int == results[1]["items"] as? Int && (results[0]["items"] as? Int ?? 0) > 100)
        #expect(results[0]["across"] as? Double != results[1]["across"] as? Double)
        let bad = try runCPC(["abx", "--corpus", corpus, "--features", "mfcc", "--segment", "word"])
        #expect(bad.status != 0 && bad.standardError.contains("--segment") && bad.standardError.contains("triphone"))
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

    @Test func probesCheckTheirDataAsPrepareDoes() throws {
        let corpus = repositoryRoot.appendingPathComponent("Corpora/synth-small").path
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-splits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let train = try String(contentsOfFile: corpus + "/train.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        // A test split that repeats training utterances.
        let overlapping = folder.appendingPathComponent("test.txt").path
        try (train.prefix(3).joined(separator: "\n") + "\n").write(toFile: overlapping, atomically: true, encoding: .utf8)
        let leak = try runCPC(["probe", "phone", "--corpus", corpus, "--features", "mfcc", "--test-split", overlapping])
        #expect(leak.status != 0 && leak.standardError.contains("3 ids are in both") && leak.standardError.contains(train[0]),
                "\(leak.standardError)")
        // The same file as both splits.
        let same = try runCPC(["probe", "phone", "--corpus", corpus, "--features", "mfcc", "--train-split", overlapping,
                               "--test-split", overlapping])
        #expect(same.status != 0 && same.standardError.contains("\(overlapping) is given as two splits"), "\(same.standardError)")
        // A split saved with Windows line ends (CRLF) reads as the same ids.
        let crlf = folder.appendingPathComponent("crlf.txt").path
        try (train.prefix(3).joined(separator: "\r\n") + "\r\n").write(toFile: crlf, atomically: true, encoding: .utf8)
        let windows = try runCPC(["probe", "phone", "--corpus", corpus, "--features", "mfcc", "--test-split", crlf])
        #expect(windows.status != 0 && windows.standardError.contains("3 ids are in both"), "\(windows.standardError)")
        // A speaker probe over one speaker.
        let speaker = String(train[0].split(separator: "-")[0])
        let one = folder.appendingPathComponent("one.txt").path
        try (train.filter { $0.hasPrefix(speaker + "-") }.joined(separator: "\n") + "\n").write(toFile: one, atomically: true, encoding: .utf8)
        let single = try runCPC(["probe", "speaker", "--corpus", corpus, "--features", "mfcc", "--train-split", one])
        #expect(single.status != 0 && single.standardError.contains("has 1 speaker(s)"), "\(single.standardError)")
        let epochs = try runCPC(["probe", "phone", "--corpus", corpus, "--features", "mfcc", "--epochs", "0"])
        #expect(epochs.status != 0 && epochs.standardError.contains("--epochs must be in 1...100000, got 0"), "\(epochs.standardError)")
    }

    @Test func messagesAreOneCleanLine() throws {
        let report = try runCPC(["report", "--run", "/nonexistent/run"])
        #expect(report.status != 0 && report.standardError.contains("/nonexistent/run/log.jsonl: no training log"))
        #expect(!report.standardError.contains("NSCocoaErrorDomain") && !report.standardError.contains("UserInfo"), "\(report.standardError)")
        // A 300 000-character value is not echoed whole.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-long-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ("method: " + String(repeating: "x", count: 300_000) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let long = try runCPC(["train", "--config", path])
        #expect(long.status != 0 && long.standardError.contains("key 'method': unknown method") && long.standardError.count < 2000,
                "\(long.standardError.prefix(300))")
    }

    @Test func spectrumValidatesItsArguments() throws {
        let missing = try runCPC(["spectrum", "--checkpoint", "/nonexistent/model.safetensors"])
        #expect(missing.status != 0 && missing.standardError.contains("/nonexistent/model"), "\(missing.standardError)")
        let few = try runCPC(["spectrum", "--checkpoint", "/nonexistent/model.safetensors", "--images", "1"])
        #expect(few.status != 0 && few.standardError.contains("--images must be in 2...65536, got 1"), "\(few.standardError)")
        // An audio model has no image representation to take the spectrum of.
        let audio = repositoryRoot.appendingPathComponent("models/cpc-audio-pretrained.safetensors").path
        let result = try runCPC(["spectrum", "--checkpoint", audio])
        #expect(result.status != 0 && result.standardError.contains("trains on audio"), "\(result.standardError)")
    }
}

@Suite struct ImageProbeCommandTests {
    @Test func pixelProbeOnAClassFolderCorpusWritesJSON() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-cli-images-\(UUID().uuidString)").path
        let fixtures = repositoryRoot.appendingPathComponent("Tests/Fixtures/images").path
        for name in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            for i in 0..<5 {
                try FileManager.default.copyItem(atPath: "\(fixtures)/\(name == "a" ? "grey.png" : "grey.jpg")", toPath: "\(root)/\(name)/\(i).png")
            }
        }
        // grey.png is 5×7 and grey.jpg 16×16: a corpus of mixed sizes is refused with the file named.
        let mixed = try runCPC(["probe", "image", "--corpus", root, "--features", "pixels"])
        #expect(mixed.status != 0)
        #expect(mixed.standardError.contains("b/0.png") || mixed.standardError.contains("a/0.png"), "\(mixed.standardError)")
        try FileManager.default.removeItem(atPath: "\(root)/b")
        try FileManager.default.createDirectory(atPath: "\(root)/b", withIntermediateDirectories: true)
        for i in 0..<5 { try FileManager.default.copyItem(atPath: "\(fixtures)/grey.png", toPath: "\(root)/b/\(i).png") }
        let json = root + "/probe.json"
        let result = try runCPC(["probe", "image", "--corpus", root, "--features", "pixels", "--epochs", "2", "--json", json])
        #expect(result.status == 0, "\(result.standardError)")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [[String: Any]])
        #expect(list.first?["features"] as? String == "pixels" && list.first?["task"] as? String == "linear")
        #expect(list.first?["test_items"] as? Int == 2)
        // Pixels have no patch grid to keep.
        let grid = try runCPC(["probe", "image", "--corpus", root, "--features", "pixels", "--pool", "mean,grid"])
        #expect(grid.status != 0 && grid.standardError.contains("needs image CPC's patch grid"), "\(grid.standardError)")
    }

    @Test func imageProbeArgumentErrors() throws {
        let none = try runCPC(["probe", "image", "--corpus", "/nonexistent"])
        #expect(none.status != 0 && none.standardError.contains("--checkpoint"))
        let missing = try runCPC(["probe", "image", "--corpus", "/nonexistent", "--features", "pixels"])
        #expect(missing.status != 0 && missing.standardError.contains("/nonexistent"))
        let pooling = try runCPC(["probe", "image", "--corpus", "/nonexistent", "--features", "pixels", "--pool", "mean,median"])
        #expect(pooling.status != 0 && pooling.standardError.contains("'median' is not one of mean, grid"), "\(pooling.standardError)")
    }
}
