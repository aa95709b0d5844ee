// Corpus indexing (LibriSpeech tree, TSV manifest), labels and splits, and validation with deliberately wrong inputs.

import AudioFrontEnd
import Foundation
import Testing
import TensorCore
import TestSupport

let bundledCorpus = repositoryRoot.appendingPathComponent("Corpora/synth-small").path

/// A scratch folder holding a tiny LibriSpeech-style corpus made of copies of the bundled files.
final class ScratchCorpus {
    let root: URL
    init(utterances: [String] = ["100-1-0000", "100-1-0001", "101-1-0000", "101-1-0001"]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-corpus-\(UUID().uuidString)")
        for id in utterances {
            let parts = id.split(separator: "-")
            let folder = root.appendingPathComponent("\(parts[0])/\(parts[1])")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(bundledCorpus)/\(parts[0])/\(parts[1])/\(id).flac",
                                             toPath: folder.appendingPathComponent("\(id).flac").path)
        }
    }
    func write(_ name: String, _ text: String) throws -> String {
        let url = root.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
    /// The bundled labels of `ids`, optionally with one utterance's labels cut short.
    func labels(_ ids: [String], shortening: String? = nil) throws -> String {
        let all = try PhoneLabels.read("\(bundledCorpus)/phones.txt")
        return ids.map { id in
            var values = all.labels[id]!
            if id == shortening { values.removeLast(10) }
            return ([id] + values.map(String.init)).joined(separator: " ")
        }.joined(separator: "\n") + "\n"
    }
    deinit { try? FileManager.default.removeItem(at: root) }
}

@Suite struct CorpusIndexTests {
    @Test func indexesTheBundledCorpusLikeLibriSpeech() throws {
        let corpus = try Corpus.load(bundledCorpus)
        #expect(corpus.utterances.count == 256)
        #expect(corpus.speakers.count == 16)
        #expect(corpus.utterance("103-1-0005")?.speaker == "103")
        let labels = try PhoneLabels.read("\(bundledCorpus)/phones.txt")
        #expect(labels.classCount == 40 && labels.classNames?.first == "sil")
        let report = CorpusValidator.validate(corpus: corpus, labels: labels, splits: [
            ("train", try SplitFile.read("\(bundledCorpus)/train.txt")), ("test", try SplitFile.read("\(bundledCorpus)/test.txt")),
        ])
        #expect(report.isUsable, "\(report.errors)")
        #expect(report.warnings.isEmpty)
        #expect(report.hours > 0.15 && report.hours < 0.25)
        #expect(report.splits == ["train": 192, "test": 64])
    }

    @Test func speakerFoldersThatAreSymbolicLinksAreFollowedAndLoopsSkipped() throws {
        let fileManager = FileManager.default
        let base = fileManager.temporaryDirectory.appendingPathComponent("swiftcpc-links-\(UUID().uuidString)")
        defer { try? fileManager.removeItem(at: base) }
        let root = base.appendingPathComponent("corpus"), elsewhere = base.appendingPathComponent("storage/alice")
        for folder in [root.appendingPathComponent("bob/1"), elsewhere.appendingPathComponent("7")] {
            try fileManager.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        let audio = repositoryRoot.appendingPathComponent("Tests/Fixtures/audio/sweep-pcm16.wav")
        try fileManager.copyItem(at: audio, to: root.appendingPathComponent("bob/1/bob-1-0.wav"))
        try fileManager.copyItem(at: audio, to: elsewhere.appendingPathComponent("7/alice-7-0.wav"))
        // alice's folder lives elsewhere and is linked in; bob/1/again links back to the corpus root (a loop).
        try fileManager.createSymbolicLink(at: root.appendingPathComponent("alice"), withDestinationURL: elsewhere)
        try fileManager.createSymbolicLink(at: root.appendingPathComponent("bob/1/again"), withDestinationURL: root)
        let corpus = try Corpus.load(root.path)
        #expect(corpus.utterances.map(\.id).sorted() == ["alice-7-0", "bob-1-0"])
        #expect(corpus.speakers.sorted() == ["alice", "bob"])
    }

    @Test func readsATSVManifest() throws {
        let scratch = try ScratchCorpus()
        let manifest = try scratch.write("manifest.tsv", "path\tspeaker\tduration\n100/1/100-1-0000.flac\talice\t2.5\n101/1/101-1-0000.flac\tbob\t\n")
        let corpus = try Corpus.load(manifest)
        #expect(corpus.utterances.map(\.id) == ["100-1-0000", "101-1-0000"])
        #expect(corpus.speakers == ["alice", "bob"])
        let bad = try scratch.write("bad.tsv", "100/1/100-1-0000.flac\n")
        #expect(throws: CorpusError(path: "\(bad):1", problem: "expected 'path<TAB>speaker[<TAB>duration]', found '100/1/100-1-0000.flac'")) {
            try Corpus.load(bad)
        }
    }

    @Test func labelLengthMismatchesAreListed() throws {
        let scratch = try ScratchCorpus()
        let ids = ["100-1-0000", "100-1-0001", "101-1-0000", "101-1-0001"]
        let labelsPath = try scratch.write("phones.txt", try scratch.labels(ids, shortening: "101-1-0000"))
        let report = CorpusValidator.validate(corpus: try Corpus.load(scratch.root.path), labels: try PhoneLabels.read(labelsPath), splits: [])
        #expect(!report.isUsable)
        #expect(report.errors.count == 1)
        #expect(report.errors.first?.contains("101-1-0000") == true)
        #expect(report.errors.first?.contains("more than 2 frames") == true)
    }

    @Test func unknownIdsOverlappingAndEmptySplitsAreErrors() throws {
        let scratch = try ScratchCorpus()
        let corpus = try Corpus.load(scratch.root.path)
        let labels = try PhoneLabels.read(try scratch.write("phones.txt", try scratch.labels(["100-1-0000", "100-1-0001", "101-1-0000"])))
        let report = CorpusValidator.validate(corpus: corpus, labels: labels, splits: [
            ("train", ["100-1-0000", "999-1-0000"]), ("test", ["100-1-0000", "101-1-0001"]),
        ])
        let text = report.errors.joined(separator: "\n")
        #expect(text.contains("train: 1 ids are not in the corpus: 999-1-0000"))
        #expect(text.contains("1 ids are in both train and test: 100-1-0000"))
        #expect(text.contains("test: 1 utterances have no labels: 101-1-0001"))
        let empty = try scratch.write("empty.txt", "\n\n")
        #expect(throws: CorpusError(path: empty, problem: "the split is empty")) { try SplitFile.read(empty) }
        let twice = try scratch.write("twice.txt", "a\nb\na\n")
        #expect(throws: CorpusError(path: "\(twice):3", problem: "utterance 'a' is listed twice")) { try SplitFile.read(twice) }
    }

    @Test func malformedLabelsAndDuplicateIdsNameTheLine() throws {
        let scratch = try ScratchCorpus()
        let bad = try scratch.write("bad.txt", "u1 0 1 2\nu2 0 x 1\n")
        #expect(throws: CorpusError(path: "\(bad):2", problem: "expected a phone class in 0..<65536, found 'x'")) {
            try PhoneLabels.read(bad)
        }
        // A class index of 2^62 is a damaged file, not a reason to allocate 2^62 classes.
        let huge = try scratch.write("huge.txt", "u1 0 4611686018427387904\n")
        #expect(throws: CorpusError(path: "\(huge):1", problem: "expected a phone class in 0..<65536, found '4611686018427387904'")) {
            try PhoneLabels.read(huge)
        }
        let duplicate = try scratch.write("dup.txt", "u1 0 1\nu1 1 1\n")
        #expect(throws: CorpusError(path: "\(duplicate):2", problem: "utterance 'u1' is labelled twice")) {
            try PhoneLabels.read(duplicate)
        }
        // Two files with the same stem under different speakers.
        let folder = scratch.root.appendingPathComponent("102/1")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: scratch.root.appendingPathComponent("100/1/100-1-0000.flac").path,
                                         toPath: folder.appendingPathComponent("100-1-0000.flac").path)
        do {
            _ = try Corpus.load(scratch.root.path)
            Issue.record("duplicate ids must fail")
        } catch let error as CorpusError {
            #expect(error.problem.contains("duplicate utterance id '100-1-0000'"))
        }
        #expect(throws: CorpusError.self) { try Corpus.load("/nonexistent/corpus") }
    }

    @Test func filesSavedWithWindowsLineEndsReadAsWithUnixOnes() throws {
        let scratch = try ScratchCorpus()
        let ids = ["100-1-0000", "101-1-0001"]
        #expect(try SplitFile.read(try scratch.write("crlf.txt", ids.joined(separator: "\r\n") + "\r\n")) == ids)
        let unix = try scratch.labels(ids)
        let labels = try PhoneLabels.read(try scratch.write("phones-crlf.txt", unix.replacingOccurrences(of: "\n", with: "\r\n")))
        #expect(labels.labels == (try PhoneLabels.read(try scratch.write("phones.txt", unix))).labels)
        let manifest = try scratch.write("manifest.tsv", "path\tspeaker\r\n100/1/100-1-0000.flac\t100\r\n101/1/101-1-0001.flac\t101\r\n")
        #expect(try Corpus.load(manifest).utterances.map(\.speaker) == ["100", "101"])
        #expect("a\r\nb\n\nc\rd".textLines == ["a", "b", "", "c", "d"])
    }
}
