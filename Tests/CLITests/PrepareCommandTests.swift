// `cpc prepare` end to end on the bundled corpus and on a broken copy.

import Foundation
import Testing
import TestSupport

@Suite struct PrepareCommandTests {
    let corpus = repositoryRoot.appendingPathComponent("Corpora/synth-small").path

    @Test func reportsTheBundledCorpusClean() throws {
        let result = try runCPC(["prepare", "--corpus", corpus, "--json"])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(object["usable"] as? Bool == true)
        #expect(object["utterances"] as? Int == 256)
        #expect(object["speakers"] as? Int == 16)
        #expect(object["phone_classes"] as? Int == 40)
        #expect((object["errors"] as? [String])?.isEmpty == true)
        let text = try runCPC(["prepare", "--corpus", corpus])
        #expect(text.standardOutput.contains("ok: the corpus is usable"))
    }

    @Test func exitsNonZeroAndListsProblems() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-prepare-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let speakerFolder = folder.appendingPathComponent("100/1")
        try FileManager.default.createDirectory(at: speakerFolder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(corpus)/100/1/100-1-0000.flac",
                                         toPath: speakerFolder.appendingPathComponent("100-1-0000.flac").path)
        try "100-1-0000 0 0 0\n".write(to: folder.appendingPathComponent("phones.txt"), atomically: true, encoding: .utf8)
        try "100-1-0000\nghost\n".write(to: folder.appendingPathComponent("train.txt"), atomically: true, encoding: .utf8)
        let result = try runCPC(["prepare", "--corpus", folder.path])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("100-1-0000 (3 labels"))
        #expect(result.standardOutput.contains("train: 1 ids are not in the corpus: ghost"))
        // A FLAC cut short after a valid header: its header passes; --decode finds it.
        try "100-1-0000\n".write(to: folder.appendingPathComponent("train.txt"), atomically: true, encoding: .utf8)
        try "100-1-0000 \(String(repeating: "0 ", count: 300))\n".write(to: folder.appendingPathComponent("phones.txt"), atomically: true, encoding: .utf8)
        let flac = speakerFolder.appendingPathComponent("100-1-0000.flac")
        let whole = try Data(contentsOf: flac)
        try whole.prefix(whole.count * 6 / 10).write(to: flac)
        let headers = try runCPC(["prepare", "--corpus", folder.path])
        #expect(!headers.standardOutput.contains("unreadable"), "\(headers.standardOutput)")
        let decoded = try runCPC(["prepare", "--corpus", folder.path, "--decode"])
        #expect(decoded.status == 1 && decoded.standardOutput.contains("1 unreadable audio files") && decoded.standardOutput.contains("100-1-0000.flac"),
                "\(decoded.standardOutput)")
        let missing = try runCPC(["prepare", "--corpus", "/nonexistent/corpus"])
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("/nonexistent/corpus: no such corpus folder or manifest"))
    }
}
