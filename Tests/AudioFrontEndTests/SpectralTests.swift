// STFT, mel filterbanks, log-mel, MFCC and deltas against librosa 0.11 / numpy
// (Tests/Fixtures/audio_features.json, written by Tests/Fixtures/generate_audio_features.py).

import AudioFrontEnd
import Testing
import TensorCore
import TestSupport

/// max |a − b| / max |b|: the relative error of a whole matrix.
private func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    guard a.shape == b.shape else { return .infinity }
    let scale = b.scalars.map { Swift.abs($0) }.max() ?? 1
    return maxAbsoluteDifference(a.scalars, b.scalars) / max(scale, 1e-12)
}

@Suite struct SpectralTests {
    let fixture: Fixture
    let samples: [Float]

    init() throws {
        fixture = try Fixture("audio_features")
        samples = try fixture.tensor("utterance", "samples").scalars
    }

    func frontEnd(_ change: (inout SpectralConfig) -> Void = { _ in }) throws -> SpectralFrontEnd {
        var config = SpectralConfig()
        change(&config)
        return try SpectralFrontEnd(config: config)
    }

    @Test func stftPowerMatchesNumpy() throws {
        let power = try frontEnd().spectrogram(samples)
        let expected = try fixture.tensor("utterance", "power")
        #expect(power.shape == [51, 201])
        #expect(relativeError(power, expected) < 1e-4)
    }

    @Test func melFilterbanksMatchLibrosa() throws {
        let slaney = try frontEnd().melSpectrogram([Float](repeating: 0, count: 160))  // touch the basis
        #expect(slaney.shape == [2, 40])
        // The bank itself: a power spectrum that is one-hot at each bin recovers each basis row.
        let identity = Tensor((0..<(201 * 201)).map { $0 % 202 == 0 ? 1 : 0 }, shape: [201, 201])
        for (scale, key) in [(MelScale.slaney, "mel_basis_slaney"), (.htk, "mel_basis_htk")] {
            let end = try frontEnd { $0.melScale = scale; $0.melAreaNormalization = scale == .slaney }
            let basis = matmul(identity, end.melBasisForTesting)
            #expect(relativeError(basis, try fixture.tensor("utterance", key)) < 1e-5, "\(key)")
        }
    }

    @Test func logMelMatchesLibrosa() throws {
        let slaney = try frontEnd { $0.topDecibels = nil }.logMel(samples)
        let expected = try fixture.tensor("utterance", "logmel_slaney")
        #expect(maxAbsoluteDifference(slaney.scalars, expected.scalars) < 2e-3, "dB values (range ~100 dB)")
        #expect(relativeError(slaney, expected) < 1e-4)
        let clamped = try frontEnd().logMel(samples)
        #expect(relativeError(clamped, try fixture.tensor("utterance", "logmel_slaney_top80")) < 1e-4)
        let htk = try frontEnd { $0.melScale = .htk; $0.melAreaNormalization = false; $0.topDecibels = nil }.logMel(samples)
        #expect(relativeError(htk, try fixture.tensor("utterance", "logmel_htk")) < 1e-4)
    }

    @Test func mfccAndDeltasMatchLibrosa() throws {
        let mfcc = try frontEnd().mfcc(samples)
        let expected = try fixture.tensor("utterance", "mfcc")
        #expect(mfcc.shape == [51, 13])
        #expect(relativeError(mfcc, expected) < 1e-4)
        let deltas = FeatureTransforms.deltas(expected)
        #expect(relativeError(deltas, try fixture.tensor("utterance", "mfcc_delta")) < 1e-5)
        let all = FeatureTransforms.withDeltas(expected)
        #expect(all.shape == [51, 39])
        let second = all.sliced(alongAxis: 1, start: 26, length: 13)
        #expect(relativeError(second, try fixture.tensor("utterance", "mfcc_delta_delta")) < 1e-5)
    }

    @Test func framesAlignWithPhoneLabels() throws {
        let end = try frontEnd()
        #expect(end.frameCount(16000) == 101)
        #expect(end.labelAligned([Float](repeating: 0.01, count: 16000 + 77), end.logMel).shape == [100, 40])
    }

    @Test func perUtteranceNormalisationCentresAndScales() {
        var g = RandomGenerator(seed: 1)
        let x = Tensor.normal([200, 3], mean: 5, standardDeviation: 3, generator: &g)
        let y = FeatureTransforms.normalizedPerUtterance(x)
        let mean = y.mean(alongAxis: 0).scalars, variance = y.variance(alongAxis: 0, unbiased: false).scalars
        #expect(mean.allSatisfy { Swift.abs($0) < 1e-4 } && variance.allSatisfy { Swift.abs($0 - 1) < 1e-3 })
    }

    @Test func badSettingsNameTheKey() {
        #expect(throws: FeatureConfigError.self) { try frontEnd { $0.windowLength = 800 } }
        do {
            _ = try frontEnd { $0.cepstralCoefficients = 60 }
            Issue.record("60 coefficients from 40 bands must fail")
        } catch let error as FeatureConfigError {
            #expect(error.key == "cepstral_coefficients")
        } catch { Issue.record("unexpected \(error)") }
    }
}
