// Decoding with libsndfile (formats, encodings, mix-down), resampling with libsamplerate, and broken files.
// The files come from Tests/Fixtures/audio/make_audio_fixtures.sh (sox).

import AudioFrontEnd
import Foundation
import Testing
import TestSupport

func audioFixture(_ name: String) -> String { repositoryRoot.appendingPathComponent("Tests/Fixtures/audio/\(name)").path }

/// The dominant frequency of `samples` by a direct DFT scan (1 Hz steps in `range`).
func dominantFrequency(_ samples: [Float], rate: Int, range: ClosedRange<Int>) -> Int {
    var best = range.lowerBound, bestPower = -1.0
    for f in range {
        var re = 0.0, im = 0.0
        for (i, s) in samples.enumerated() {
            let phase = 2 * Double.pi * Double(f) * Double(i) / Double(rate)
            re += Double(s) * cos(phase)
            im += Double(s) * sin(phase)
        }
        if re * re + im * im > bestPower { bestPower = re * re + im * im; best = f }
    }
    return best
}

@Suite struct DecodingTests {
    @Test func losslessFormatsDecodeToTheSameSamples() throws {
        let reference = try AudioDecoder.decode(audioFixture("sweep-pcm16.wav"))
        #expect(reference.count == 4800)
        #expect(reference.map { Swift.abs($0) }.max()! > 0.4)
        for (name, tolerance) in [("sweep-pcm24.wav", Float(1e-4)), ("sweep-float32.wav", 1e-4), ("sweep.flac", 1e-4),
                                  ("sweep-stereo.wav", 1e-4)] {
            let decoded = try AudioDecoder.decode(audioFixture(name))
            #expect(decoded.count == reference.count, "\(name): \(decoded.count) samples")
            #expect(maxAbsoluteDifference(decoded, reference) < tolerance, "\(name) differs from the PCM16 decode")
        }
    }

    @Test func oggVorbisDecodesCloseToTheOriginal() throws {
        let reference = try AudioDecoder.decode(audioFixture("sweep-pcm16.wav"))
        let decoded = try AudioDecoder.decode(audioFixture("sweep.ogg"))
        #expect(Swift.abs(decoded.count - reference.count) < 200)
        let n = min(decoded.count, reference.count)
        var dot = 0.0, a = 0.0, b = 0.0
        for i in 0..<n { dot += Double(decoded[i] * reference[i]); a += Double(decoded[i] * decoded[i]); b += Double(reference[i] * reference[i]) }
        #expect(dot / (a * b).squareRoot() > 0.95, "lossy decode should correlate with the original")
    }

    @Test func resamplingKeepsATonesFrequency() throws {
        let info = try AudioDecoder.info(audioFixture("tone440-44k-stereo.wav"))
        #expect(info.sampleRate == 44100 && info.channels == 2)
        let decoded = try AudioDecoder.decode(audioFixture("tone440-44k-stereo.wav"), sampleRate: 16000)
        #expect(Swift.abs(decoded.count - 8000) <= 2, "0.5 s at 16 kHz, found \(decoded.count)")
        #expect(dominantFrequency(Array(decoded[1000..<7000]), rate: 16000, range: 400...480) == 440)
        let upsampled = try AudioDecoder.decode(audioFixture("sweep-8k.wav"), sampleRate: 16000)
        #expect(Swift.abs(upsampled.count - 4800) <= 2)
    }

    @Test func aStreamedFLACWithoutALengthDecodesWhole() throws {
        // Its header says "length unknown" (libsndfile reports 2^63 − 1 frames): nothing may be sized from it.
        let reference = try AudioDecoder.decode(audioFixture("sweep-pcm16.wav"))
        #expect(try AudioDecoder.info(audioFixture("streamed.flac")).frames == 4800)
        let decoded = try AudioDecoder.decode(audioFixture("streamed.flac"))
        #expect(decoded.count == 4800 && maxAbsoluteDifference(decoded, reference) < 1e-4)
    }

    @Test func nonFiniteSamplesAreAnErrorNamingTheSample() {
        let path = audioFixture("nan-float32.wav")
        #expect { try AudioDecoder.decode(path) } throws: { error in
            guard let error = error as? AudioError else { return false }
            return error.path == path && error.problem.contains("sample 1000") && error.problem.contains("nan")
        }
    }

    @Test func brokenFilesNameTheFileAndTheReason() {
        for (name, fragment) in [("truncated.flac", "cannot read audio"), ("empty.wav", "cannot read audio"), ("text.wav", "cannot read audio"),
                                 ("no-frames.wav", "empty"), ("missing.wav", "cannot read audio")] {
            let path = audioFixture(name)
            do {
                _ = try AudioDecoder.decode(path)
                Issue.record("\(name) must not decode")
            } catch let error as AudioError {
                #expect(error.path == path)
                #expect(error.problem.contains(fragment), "\(name): \(error.problem)")
                #expect(!error.problem.isEmpty)
            } catch {
                Issue.record("\(name): unexpected error \(error)")
            }
        }
    }
}
