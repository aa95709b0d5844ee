// Training batches of fixed-length windows: deterministic sampling from the seed, a decoded-audio cache, and a
// background loader with a bounded queue.
//
// Batch i is a pure function of (seed, i): the generator for batch i is RandomGenerator(seed, stream: i). A resumed
// run therefore needs only the index of its next batch, and prefetching in a thread changes nothing.

import Foundation
import TensorCore

/// How the windows of one batch are chosen (the negatives of CPC come from the batch).
public enum SamplingMode: String, Codable, Sendable, CaseIterable {
    /// Windows from anywhere in the corpus (so, mixed speakers), each utterance weighted by its length.
    case mixed
    /// All windows of a batch from one speaker (same-speaker negatives); speakers weighted by their audio.
    case sameSpeaker = "same_speaker"
}

/// A training batch.
public struct AudioBatch: @unchecked Sendable {
    /// `[N, windowLength]` samples.
    public let samples: Tensor
    /// Speaker index (into `Corpus.speakers`) of each window.
    public let speakers: [Int]
    /// Utterance position (into `Corpus.utterances`) and sample offset of each window.
    public let utterances: [Int]
    public let offsets: [Int]
    /// The batch's index in the run (0-based).
    public let index: Int
    /// The phone label of each frame of each window, `[N, windowLength / 160]` row-major, when the sampler has labels.
    public var frameLabels: [Int] = []

    /// The method-facing view: samples, speakers as labels, utterances as items, the index and the frame labels.
    public var batch: Batch { Batch(inputs: samples, labels: speakers, items: utterances, index: index, frameLabels: frameLabels) }
}

/// Decoded audio kept in memory up to a byte budget (the oldest entries are dropped first). Thread-safe.
public final class AudioCache: @unchecked Sendable {
    public let capacityBytes: Int
    public let sampleRate: Int
    private let lock = NSLock()
    private var entries: [String: [Float]] = [:]
    private var order: [String] = []
    private var bytes = 0

    public init(capacityBytes: Int = 1 << 30, sampleRate: Int = 16000) {
        self.capacityBytes = capacityBytes
        self.sampleRate = sampleRate
    }

    /// The decoded samples of `path`, from the cache or decoded now.
    public func samples(_ path: String) throws -> [Float] {
        lock.lock()
        if let hit = entries[path] { lock.unlock(); return hit }
        lock.unlock()
        let decoded = try AudioDecoder.decode(path, sampleRate: sampleRate)
        let size = decoded.count * MemoryLayout<Float>.size
        lock.lock()
        defer { lock.unlock() }
        if entries[path] == nil && size <= capacityBytes {
            while bytes + size > capacityBytes, let oldest = order.first {
                order.removeFirst()
                bytes -= (entries.removeValue(forKey: oldest)?.count ?? 0) * MemoryLayout<Float>.size
            }
            entries[path] = decoded
            order.append(path)
            bytes += size
        }
        return decoded
    }

    public var cachedBytes: Int { lock.lock(); defer { lock.unlock() }; return bytes }
}

/// Chooses the windows of each batch.
public struct WindowSampler: Sendable {
    public let corpus: Corpus
    public let windowLength: Int
    public let batchSize: Int
    public let mode: SamplingMode
    public let seed: UInt64
    /// What each window of a batch goes through (nothing by default); its draws come from (seed, batch index) too.
    public var augmentation = WaveformAugmentation()
    /// Phone labels (one per 160 samples) of the utterances, to give every batch its frame labels; nil: none.
    public var frameLabels: PhoneLabels? = nil

    /// The label of each of the floor(W / 160) frames of the window at `offset` in an utterance labelled `labels`:
    /// frame t is centred on sample offset + 160·t + 80, so it takes the label of the 10 ms holding that sample
    /// (the last label past the end; label counts may be two short of the audio's).
    public static func windowFrameLabels(_ labels: [Int], offset: Int, windowLength: Int) -> [Int] {
        (0..<(windowLength / 160)).map { t in labels[min((offset + 160 * t + 80) / 160, labels.count - 1)] }
    }
    /// Utterance positions long enough for a window, and their lengths in samples.
    public let eligible: [Int]
    let lengths: [Int]
    /// Cumulative window counts over `eligible` (for length-weighted draws).
    let cumulative: [Int]
    /// Per speaker index: eligible positions (indices into `eligible`) and its cumulative window counts.
    let bySpeaker: [[Int]]
    let speakerCumulative: [Int]
    let speakerOfEligible: [Int]

    /// - Parameters:
    ///   - utteranceIDs: the utterances to draw from (e.g. a train split); nil for all.
    ///   - lengths: sample counts at the training rate, by utterance id (from headers).
    public init(corpus: Corpus, utteranceIDs: [String]?, lengths: [String: Int], windowLength: Int, batchSize: Int,
                mode: SamplingMode, seed: UInt64) throws {
        precondition(windowLength > 0 && batchSize > 0, "window length and batch size must be positive")
        self.corpus = corpus
        self.windowLength = windowLength
        self.batchSize = batchSize
        self.mode = mode
        self.seed = seed
        let ids = utteranceIDs ?? corpus.utterances.map(\.id)
        var eligible: [Int] = [], kept: [Int] = []
        for id in ids {
            guard let position = corpus.position(of: id) else {
                throw CorpusError(path: corpus.root, problem: "utterance '\(id)' is not in the corpus")
            }
            if let length = lengths[id], length >= windowLength {
                eligible.append(position)
                kept.append(length)
            }
        }
        if eligible.isEmpty {
            throw CorpusError(path: corpus.root, problem: "no utterance is at least \(windowLength) samples long "
                + "(\(Double(windowLength) / 16000) s at 16 kHz); use shorter windows")
        }
        self.eligible = eligible
        self.lengths = kept
        var running = 0
        cumulative = kept.map { running += $0 - windowLength + 1; return running }
        var groups = [[Int]](repeating: [], count: corpus.speakers.count)
        var speakerOf: [Int] = []
        for (k, position) in eligible.enumerated() {
            let speaker = corpus.speakerIndex(corpus.utterances[position].speaker)!
            groups[speaker].append(k)
            speakerOf.append(speaker)
        }
        bySpeaker = groups
        speakerOfEligible = speakerOf
        running = 0
        speakerCumulative = groups.map { group in
            running += group.reduce(0) { $0 + kept[$1] - windowLength + 1 }
            return running
        }
    }

    /// The skipped (too short) utterance count.
    public func skippedCount(of total: Int) -> Int { total - eligible.count }

    /// Index of the first cumulative value above `draw`.
    private static func pick(_ cumulative: [Int], _ draw: Int) -> Int {
        var low = 0, high = cumulative.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] > draw { high = mid } else { low = mid + 1 }
        }
        return low
    }

    /// The (utterance position, offset) pairs of batch `index`.
    public func plan(batch index: Int) -> [(utterance: Int, offset: Int)] {
        var generator = RandomGenerator(seed: seed, stream: UInt64(index) &+ 1)
        var choices: [Int] = []  // indices into `eligible`
        switch mode {
        case .mixed:
            for _ in 0..<batchSize { choices.append(Self.pick(cumulative, generator.nextInt(below: cumulative.last!))) }
        case .sameSpeaker:
            let speaker = Self.pick(speakerCumulative, generator.nextInt(below: speakerCumulative.last!))
            let group = bySpeaker[speaker]
            var groupCumulative: [Int] = []
            var running = 0
            for k in group { running += lengths[k] - windowLength + 1; groupCumulative.append(running) }
            for _ in 0..<batchSize { choices.append(group[Self.pick(groupCumulative, generator.nextInt(below: running))]) }
        }
        return choices.map { k in (eligible[k], generator.nextInt(below: lengths[k] - windowLength + 1)) }
    }

    /// Builds batch `index`, decoding through `cache`.
    public func batch(_ index: Int, cache: AudioCache) throws -> AudioBatch {
        let plan = plan(batch: index)
        let samples = Tensor.zeros([batchSize, windowLength])
        try samples.withUnsafeMutableBufferPointer { out in
            for (row, (position, offset)) in plan.enumerated() {
                let audio = try cache.samples(corpus.utterances[position].path)
                guard offset + windowLength <= audio.count else {
                    throw AudioError(path: corpus.utterances[position].path,
                                     problem: "decoded to \(audio.count) samples, shorter than its header said")
                }
                audio.withUnsafeBufferPointer { source in
                    (out.baseAddress! + row * windowLength).update(from: source.baseAddress! + offset, count: windowLength)
                }
            }
        }
        if augmentation.isEnabled {
            var generator = RandomGenerator(seed: seed, stream: 0x4155_4700_0000 &+ UInt64(index))
            samples.withUnsafeMutableBufferPointer { out in
                for row in 0..<batchSize {
                    var window = Array(out[(row * windowLength)..<((row + 1) * windowLength)])
                    augmentation.apply(to: &window, generator: &generator)
                    for i in 0..<windowLength { out[row * windowLength + i] = window[i] }
                }
            }
        }
        let speakers = plan.map { corpus.speakerIndex(corpus.utterances[$0.utterance].speaker)! }
        var batch = AudioBatch(samples: samples, speakers: speakers, utterances: plan.map(\.utterance),
                               offsets: plan.map(\.offset), index: index)
        if let frameLabels {
            batch.frameLabels = try plan.flatMap { position, offset in
                let utterance = corpus.utterances[position]
                guard let labels = frameLabels.labels[utterance.id], !labels.isEmpty else {
                    throw CorpusError(path: frameLabels.path, problem: "utterance '\(utterance.id)' has no phone labels")
                }
                return Self.windowFrameLabels(labels, offset: offset, windowLength: windowLength)
            }
        }
        return batch
    }
}

/// Builds audio batches in a background thread, at most `prefetch` ahead of the consumer.
public typealias BatchLoader = PrefetchLoader<AudioBatch>

extension PrefetchLoader where Item == AudioBatch {
    /// Starts building batches `firstBatch`, `firstBatch + 1`, … of `sampler` in the background.
    public convenience init(sampler: WindowSampler, cache: AudioCache, firstBatch: Int = 0, prefetch: Int = 4) {
        self.init(firstBatch: firstBatch, prefetch: prefetch) { try sampler.batch($0, cache: cache) }
    }
}
