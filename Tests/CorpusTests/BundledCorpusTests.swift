// The committed corpus (Corpora/synth-small) is consistent: labels fit the audio, splits are by sentence, and every
// speaker is in both splits.

import CSndFile
import Foundation
import Testing
import TestSupport

private let corpus = repositoryRoot.appendingPathComponent("Corpora/synth-small")

private func lines(_ name: String) throws -> [String] {
    try String(contentsOf: corpus.appendingPathComponent(name), encoding: .utf8)
        .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
}

/// Utterance id → (speaker, split, sentence hash), from utterances.tsv.
private func utteranceTable() throws -> [String: (speaker: String, split: String, sentence: String)] {
    var table: [String: (String, String, String)] = [:]
    for line in try lines("utterances.tsv").dropFirst() {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        table[fields[0]] = (fields[1], fields[2], fields[3])
    }
    return table
}

@Suite struct BundledCorpusTests {
    @Test func labelsFitTheAudioAndUseKnownClasses() throws {
        let classes = try lines("phone-classes.txt")
        #expect(classes.count == 40)
        var seen = Set<Int>()
        let labelLines = try lines("phones.txt")
        #expect(labelLines.count >= 200)
        for line in labelLines {
            let fields = line.split(separator: " ")
            let id = String(fields[0])
            let labels = fields.dropFirst().map { Int($0)! }
            seen.formUnion(labels)
            let parts = id.split(separator: "-")
            let path = corpus.appendingPathComponent("\(parts[0])/\(parts[1])/\(id).flac").path
            var info = SF_INFO()
            let file = try #require(sf_open(path, Int32(SFM_READ), &info), "cannot open \(path)")
            sf_close(file)
            #expect(info.samplerate == 16000 && info.channels == 1, "\(id): \(info.samplerate) Hz, \(info.channels) channels")
            let frames = Int(info.frames) / 160
            #expect(Swift.abs(frames - labels.count) <= 2, "\(id): \(labels.count) labels for \(frames) frames")
        }
        #expect(seen.allSatisfy { $0 >= 0 && $0 < classes.count })
        #expect(seen.count >= 38, "the corpus should use nearly every phone class, used \(seen.count)")
    }

    @Test func splitsAreBySentenceWithEverySpeakerInBoth() throws {
        let table = try utteranceTable()
        let train = try lines("train.txt"), test = try lines("test.txt")
        let labelled = Set(try lines("phones.txt").map { String($0.split(separator: " ")[0]) })
        #expect(!train.isEmpty && !test.isEmpty)
        for id in train + test {
            #expect(table[id] != nil && labelled.contains(id), "\(id) is in a split but not in the corpus")
        }
        #expect(Set(train).isDisjoint(with: test))
        let trainSentences = Set(train.compactMap { table[$0]?.sentence })
        let testSentences = Set(test.compactMap { table[$0]?.sentence })
        #expect(trainSentences.isDisjoint(with: testSentences), "a sentence appears in both splits")
        let speakers = Set(try lines("speakers.tsv").dropFirst().map { String($0.split(separator: "\t")[0]) })
        #expect(speakers.count >= 12)
        #expect(Set(train.compactMap { table[$0]?.speaker }) == speakers)
        #expect(Set(test.compactMap { table[$0]?.speaker }) == speakers)
    }
}
