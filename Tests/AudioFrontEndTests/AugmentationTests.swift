// Time-domain augmentation: each transform does what it says on signals with a known answer, and a batch with
// augmentation is a pure function of (seed, batch index).

import AudioFrontEnd
import Foundation
import Testing
import TensorCore
import TestSupport

private func tone(hertz: Float, count: Int = 8000, amplitude: Float = 0.5) -> [Float] {
    (0..<count).map { amplitude * Foundation.sin(2 * Float.pi * hertz * Float($0) / 16000) }
}

private func rms(_ x: ArraySlice<Float>) -> Float { (x.reduce(0) { $0 + $1 * $1 } / Float(x.count)).squareRoot() }

@Suite struct AugmentationTests {
    @Test func bandRejectionRemovesTheBandAndKeepsTheRest() {
        var inside = tone(hertz: 2000), outside = tone(hertz: 500)
        let original = outside
        WaveformAugmentation.rejectBand(&inside, lowHertz: 1800, highHertz: 2200, sampleRate: 16000)
        WaveformAugmentation.rejectBand(&outside, lowHertz: 1800, highHertz: 2200, sampleRate: 16000)
        #expect(rms(inside[...]) < 1e-4, "a 2 kHz tone left at rms \(rms(inside[...]))")
        #expect(zip(outside, original).allSatisfy { abs($0 - $1) < 1e-4 })
    }

    @Test func noiseIsAddedAtTheRequestedRatio() {
        for exponent: Float in [0, 1, 2] {
            let clean = tone(hertz: 440)
            var noisy = clean
            var generator = RandomGenerator(seed: 3)
            WaveformAugmentation.addNoise(&noisy, snrDecibels: 10, exponent: exponent, generator: &generator)
            let noise = zip(noisy, clean).map { $0 - $1 }
            let snr = 20 * Foundation.log10(rms(clean[...]) / rms(noise[...]))
            #expect(abs(snr - 10) < 0.01, "colour \(exponent): SNR \(snr) dB")
        }
        var silent = [Float](repeating: 0, count: 100)
        var generator = RandomGenerator(seed: 1)
        WaveformAugmentation.addNoise(&silent, snrDecibels: 10, exponent: 0, generator: &generator)
        #expect(silent.allSatisfy { $0 == 0 })
    }

    @Test func reverberationIsAConvolutionWithADecayingRoomResponse() {
        var generator = RandomGenerator(seed: 2)
        let response = WaveformAugmentation.roomResponse(rt60: 0.3, tailRatio: 1, sampleRate: 16000, generator: &generator)
        #expect(response.count == Int(1.2 * 0.3 * 16000) && response[0] == 1)
        // The tail holds the requested energy and falls about 60 dB from its start to RT60.
        #expect(abs(response.dropFirst().reduce(0) { $0 + $1 * $1 } - 1) < 1e-3)
        let early = rms(response[1..<481]), late = rms(response[(4800 - 240)..<(4800 + 240)])
        #expect(abs(20 * Foundation.log10(early / late) - 57) < 4, "decay \(20 * Foundation.log10(early / late)) dB")
        // An impulse comes out as the response (its level restored to the impulse's).
        var impulse = [Float](repeating: 0, count: 8000)
        impulse[100] = 1
        WaveformAugmentation.reverberate(&impulse, response: response)
        let scale = impulse[100]
        #expect(impulse[..<100].allSatisfy { abs($0) < 1e-5 })
        #expect(zip(impulse[100...].prefix(2000), response.prefix(2000)).allSatisfy { abs($0 - scale * $1) < 1e-4 * max(1, abs(scale)) })
        #expect(abs(rms(impulse[...]) - rms(([Float](repeating: 0, count: 7999) + [1])[...])) < 1e-5)
    }

    @Test func augmentedBatchesArePureFunctionsOfSeedAndIndex() throws {
        let corpus = try Corpus.load(repositoryRoot.appendingPathComponent("Corpora/synth-small").path)
        let ids = Array(corpus.utterances.prefix(8).map(\.id))
        var lengths: [String: Int] = [:]
        for id in ids { lengths[id] = try AudioDecoder.info(corpus.utterance(id)!.path).frames(atRate: 16000) }
        var sampler = try WindowSampler(corpus: corpus, utteranceIDs: ids, lengths: lengths, windowLength: 4000, batchSize: 3,
                                        mode: .mixed, seed: 9)
        let cache = AudioCache()
        let plain = try sampler.batch(2, cache: cache).samples.scalars
        sampler.augmentation.reverb = 1
        sampler.augmentation.bandReject = 1
        sampler.augmentation.noise = 1
        let first = try sampler.batch(2, cache: cache).samples.scalars, again = try sampler.batch(2, cache: cache).samples.scalars
        #expect(first == again && first != plain)
        #expect(try sampler.batch(3, cache: cache).samples.scalars != first)
        // The windows themselves do not move: the plan is the same with and without augmentation.
        sampler.augmentation = WaveformAugmentation()
        #expect(try sampler.batch(2, cache: cache).samples.scalars == plain)
    }
}
