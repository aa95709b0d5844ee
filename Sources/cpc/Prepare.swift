// `cpc prepare`: index and validate a corpus; summary of hours, speakers, labels, splits and every problem found.

import ArgumentParser
import AudioFrontEnd
import Foundation
import TensorCore

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Index and validate a corpus (LibriSpeech-style tree or TSV manifest), its phone labels and splits.",
        discussion: """
            Labels default to DIR/phones.txt and splits to DIR/train.txt and DIR/test.txt when those exist.
            Exits with status 1 when the corpus cannot be used as given. Audio is checked from its headers; --decode
            decodes every file (a FLAC cut after a valid header, or NaN samples, are then found here).
            """)

    @Option(help: "Corpus folder (<speaker>/<chapter>/<utterance>.flac) or TSV manifest (path, speaker[, duration]).")
    var corpus: String
    @Option(help: "Phone labels in the CPC format (utterance_id p1 p2 …, one class per 10 ms frame).")
    var labels: String?
    @Option(help: "Train split (one utterance id per line).") var trainSplit: String?
    @Option(help: "Test split (one utterance id per line).") var testSplit: String?
    @Flag(help: "Print one JSON object instead of a summary.") var json = false
    @Flag(help: "Decode every audio file whole instead of reading its header (slower; finds data cut short after a valid header, and NaN samples).")
    var decode = false

    func run() throws {
        try StageProgress.$console.withValue(json ? .standardError : .standardOutput, operation: perform)
    }

    func perform() throws {
        let index = try Corpus.load(corpus)
        let folder = URL(fileURLWithPath: corpus)
        func defaultFile(_ name: String) -> String? {
            let path = folder.appendingPathComponent(name).path
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
        let labelsPath = labels ?? defaultFile("phones.txt")
        let phoneLabels = try labelsPath.map { try PhoneLabels.read($0) }
        var splits: [(name: String, ids: [String])] = []
        if let path = trainSplit ?? defaultFile("train.txt") { splits.append(("train", try SplitFile.read(path))) }
        if let path = testSplit ?? defaultFile("test.txt") { splits.append(("test", try SplitFile.read(path))) }
        let report = CorpusValidator.validate(corpus: index, labels: phoneLabels, splits: splits, decode: decode)
        if json {
            let object: [String: Any] = [
                "corpus": corpus, "utterances": report.utterances, "speakers": report.speakers, "hours": report.hours,
                "labels": labelsPath ?? NSNull(), "labelled_utterances": report.labelledUtterances,
                "phone_classes": report.phoneClasses, "splits": report.splits, "errors": report.errors,
                "warnings": report.warnings, "usable": report.isUsable,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("corpus       \(corpus)")
            print("utterances   \(report.utterances)")
            print("speakers     \(report.speakers)")
            print(String(format: "hours        %.3f (%.1f minutes)", report.hours, report.hours * 60))
            if let labelsPath {
                print("labels       \(labelsPath): \(report.labelledUtterances) utterances labelled, \(report.phoneClasses) phone classes")
            } else {
                print("labels       none (give --labels for phone probes)")
            }
            for (name, ids) in splits { print("split        \(name): \(ids.count) utterances") }
            for warning in report.warnings { print("warning: \(warning)") }
            for error in report.errors { print("error: \(error)") }
            print(report.isUsable ? "ok: the corpus is usable" : "the corpus cannot be used as given (\(report.errors.count) problems)")
        }
        if !report.isUsable { throw ExitCode(1) }
    }
}
