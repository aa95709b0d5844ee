// `cpc abx`: the within- and across-speaker ABX phone discriminability of frame features on a labelled split.

import ArgumentParser
import AudioFrontEnd
import Evaluation
import Foundation
import TensorCore

/// One row of an ABX table (`cpc abx --json`).
struct ABXRow: Codable {
    var features: String
    var split: String
    /// Which frames made an item (`triphone` or `phone`); absent in rows written before the option existed.
    var segment: String?
    var result: ABXResult

    enum CodingKeys: String, CodingKey { case features, split, segment, result }
}

extension ABXSegment: ExpressibleByArgument {}

struct ABXCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "abx",
        abstract: "ABX phone discriminability (error %, within and across speakers) of frame features on a labelled split.",
        discussion: """
            Items are the phone tokens of the split's frame labels with a phone on each side (silence makes no item), \
            each spanning its triphone as in Libri-light's item files (--segment phone: the phone alone); distances \
            are DTW over the angular distance of frames, normalised by the path length; errors are averaged over \
            contexts, speakers, then phone pairs (docs/RESULTS.md, "ABX").
            """)
    @OptionGroup var data: FeatureOptions
    @Option(help: "Split to score (default: CORPUS/test.txt).") var split: String?
    @Option(help: "Phone labels (default: CORPUS/phones.txt).") var labels: String?
    @Option(help: "Phone names that make no items (comma-separated).") var exclude = "sil"
    @Option(help: "Frames of an item: the triphone around the phone (Libri-light's item files) or the phone alone.")
    var segment: ABXSegment = .triphone
    @Option(help: "Items kept per (context, speaker, phone) group, chosen with a fixed seed.") var maxGroupSize = 30
    @Option(help: "Write the rows as JSON (a list of objects with features, split, segment, result).") var json: String?
    @Flag(help: "Add the row to the list already in --json FILE, and print them all.") var append = false
    @Option(help: "Name of the features in the table (default: cpc-context, mfcc, …).") var name: String?

    func validate() throws {
        if maxGroupSize < 2 || maxGroupSize > 100_000 { throw ValidationError("--max-group-size must be in 2...100000, got \(maxGroupSize)") }
    }

    func run() throws { try withStageProgress(perform) }

    func perform() throws {
        if let json { try SafeTensors.requireReplaceable(json) }  // before any work
        let corpus = try Corpus.load(data.corpus)
        let base = URL(fileURLWithPath: data.corpus)
        let phoneLabels = try PhoneLabels.read(labels ?? base.appendingPathComponent("phones.txt").path)
        let splitPath = split ?? base.appendingPathComponent("test.txt").path
        let ids = try SplitFile.read(splitPath)
        try CorpusValidator.requireUsable(corpus, folder: data.corpus, labels: phoneLabels, splits: [(splitPath, ids)], purpose: "scored")
        var excluded = Set<Int>()
        for phone in exclude.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !phone.isEmpty {
            guard let index = phoneLabels.classNames?.firstIndex(of: phone) ?? Int(phone) else {
                throw ValidationError("--exclude \(phone): no such phone in \(phoneLabels.path)'s phone-classes.txt")
            }
            excluded.insert(index)
        }
        let set = try FrameFeatures.extract(corpus: corpus, ids: ids, extractor: try data.makeExtractor(), labels: phoneLabels,
                                            cache: AudioCache(), directory: data.featureCache,
                                            key: data.featureCache == nil ? "" : try data.cacheKey())
        let items = ABX.items(of: set, excluding: excluded, segment: segment)
        guard !items.isEmpty else { throw ValidationError("\(splitPath): no phone token with a phone on each side; nothing to score") }
        let result = ABX.evaluate(features: set.features, items: items, maxGroupSize: maxGroupSize)
        var rows = [ABXRow(features: name ?? data.name, split: splitPath, segment: segment.rawValue, result: result)]
        if let path = json { rows = try writeJSONList(rows, to: path, appending: append, kind: "ABX result") }
        print(Self.table(rows))
    }

    static func table(_ rows: [ABXRow]) -> String {
        func percent(_ value: Double?) -> String { value.map { String(format: "%.1f %%", 100 * $0) } ?? "–" }
        return (["| features | ABX within speaker (error) | ABX across speakers (error) | items |", "|---|---|---|---|"]
            + rows.map { "| \($0.features) | \(percent($0.result.within)) | \(percent($0.result.across)) | \($0.result.items) |" })
            .joined(separator: "\n")
    }
}
