// Window sampling is deterministic from the seed, respects the sampling mode, and the background loader delivers
// the same batches in order.

import AudioFrontEnd
import Foundation
import Testing
import TensorCore
import TestSupport

private func sampler(mode: SamplingMode, seed: UInt64 = 5, batch: Int = 6, window: Int = 20480) throws -> WindowSampler {
    let corpus = try Corpus.load(bundledCorpus)
    var lengths: [String: Int] = [:]
    for u in corpus.utterances { lengths[u.id] = try AudioDecoder.info(u.path).frames(atRate: 16000) }
    return try WindowSampler(corpus: corpus, utteranceIDs: try SplitFile.read("\(bundledCorpus)/train.txt"),
                             lengths: lengths, windowLength: window, batchSize: batch, mode: mode, seed: seed)
}

@Suite struct BatchingTests {
    @Test func plansAreAFunctionOfSeedAndIndex() throws {
        let a = try sampler(mode: .mixed), b = try sampler(mode: .mixed), c = try sampler(mode: .mixed, seed: 6)
        for i in 0..<5 {
            #expect(a.plan(batch: i).map { "\($0.utterance):\($0.offset)" } == b.plan(batch: i).map { "\($0.utterance):\($0.offset)" })
        }
        #expect(a.plan(batch: 0).map(\.offset) != c.plan(batch: 0).map(\.offset))
        #expect(a.plan(batch: 0).map(\.offset) != a.plan(batch: 1).map(\.offset))
        for (position, offset) in a.plan(batch: 3) {
            let length = try AudioDecoder.info(a.corpus.utterances[position].path).frames
            #expect(offset >= 0 && offset + 20480 <= length)
        }
    }

    @Test func modesChooseSpeakersAsDocumented() throws {
        let same = try sampler(mode: .sameSpeaker), mixed = try sampler(mode: .mixed)
        var mixedSpeakers = Set<String>()
        for i in 0..<20 {
            let speakers = Set(same.plan(batch: i).map { same.corpus.utterances[$0.utterance].speaker })
            #expect(speakers.count == 1, "same-speaker batch \(i) mixes \(speakers)")
            mixedSpeakers.formUnion(mixed.plan(batch: i).map { mixed.corpus.utterances[$0.utterance].speaker })
        }
        #expect(mixedSpeakers.count >= 12, "mixed sampling should reach most speakers, reached \(mixedSpeakers.count)")
        let train = Set(try SplitFile.read("\(bundledCorpus)/train.txt"))
        #expect(mixed.plan(batch: 0).allSatisfy { train.contains(mixed.corpus.utterances[$0.utterance].id) })
    }

    @Test func batchesHoldTheDecodedWindowsAndTheLoaderKeepsOrder() throws {
        let s = try sampler(mode: .mixed, batch: 3, window: 4000)
        let cache = AudioCache(capacityBytes: 64 << 20)
        let direct = try s.batch(7, cache: cache)
        #expect(direct.samples.shape == [3, 4000])
        let (position, offset) = s.plan(batch: 7)[1]
        let audio = try AudioDecoder.decode(s.corpus.utterances[position].path)
        #expect(Array(direct.samples.scalars[4000..<8000]) == Array(audio[offset..<(offset + 4000)]))
        #expect(direct.speakers[1] == s.corpus.speakerIndex(s.corpus.utterances[position].speaker))
        #expect(cache.cachedBytes > 0)
        let loader = BatchLoader(sampler: s, cache: cache, firstBatch: 5, prefetch: 2)
        defer { loader.stop() }
        for expected in 5..<10 {
            let batch = try loader.next()
            #expect(batch.index == expected)
            #expect(batch.samples.scalars == (try s.batch(expected, cache: cache)).samples.scalars)
        }
    }

    @Test func tooLongWindowsAreAClearError() throws {
        #expect(throws: CorpusError.self) { try sampler(mode: .mixed, window: 16000 * 60) }
    }

    @Test func theCacheRespectsItsBudget() throws {
        let corpus = try Corpus.load(bundledCorpus)
        let cache = AudioCache(capacityBytes: 300_000)
        for u in corpus.utterances.prefix(6) { _ = try cache.samples(u.path) }
        #expect(cache.cachedBytes <= 300_000)
        #expect(cache.cachedBytes > 0)
    }
}
