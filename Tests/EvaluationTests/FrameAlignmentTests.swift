// Frame alignment (docs/ARCHITECTURE.md, "Frame alignment"): every per-frame feature kind gives floor(S / 160)
// frames, and frame t is centred on phone label t's samples [160·t, 160·(t + 1)). Checked with an impulse at a
// known sample: the frames it reaches must lie symmetrically around the frame of the label that holds it.

import AudioFrontEnd
import Evaluation
import Foundation
import Layers
import Methods
import Testing
import TensorCore

/// The first and last frame whose features change when an impulse is added at `sample`.
private func reach(_ extractor: any FrameFeatureExtractor, samples: Int, impulseAt sample: Int) -> (first: Int, last: Int, frames: Int) {
    var background = RandomGenerator(seed: 5)
    let quiet = (0..<samples).map { _ in 1e-3 * background.nextNormal() }
    var loud = quiet
    loud[sample] += 0.9
    let a = extractor.frames(quiet), b = extractor.frames(loud)
    #expect(a.shape == b.shape)
    let d = a.shape[1]
    let changed = (0..<a.shape[0]).filter { t in
        (0..<d).contains { abs(a.scalars[t * d + $0] - b.scalars[t * d + $0]) > 1e-5 * max(1, abs(a.scalars[t * d + $0])) }
    }
    return (changed.first ?? -1, changed.last ?? -1, a.shape[0])
}

private func cpc(padding: [Int], seed: UInt64 = 3) -> CPCAudio {
    var config = CPCConfig()
    config.encoder.channels = 16
    config.encoder.normalization = .channel
    config.encoder.padding = padding
    config.context.hidden = 8
    config.predictionSteps = 2
    return CPCAudio(config: config, seed: seed)
}

@Suite struct FrameAlignmentTests {
    static let samples = 16000 + 77  // 100 labels

    @Test func spectralFramesAreCentredOnTheirLabels() throws {
        for mfcc in [false, true] {
            let extractor = try SpectralFeatureExtractor(mfcc: mfcc)
            for label in [37, 50] {
                let r = reach(extractor, samples: Self.samples, impulseAt: 160 * label + 80)
                #expect(r.frames == 100)
                #expect(r.first + r.last == 2 * label, "mfcc \(mfcc): an impulse in label \(label) reaches frames \(r.first)...\(r.last)")
                #expect(r.first < label && r.last > label)
            }
        }
    }

    @Test func cpcEncoderFramesAreCentredOnTheirLabels() throws {
        // The paper's unpadded encoder (aligned by an explicit 152-sample shift) and CPC_audio's padded one.
        for padding in [[], [3, 2, 1, 1, 1]] {
            let method = cpc(padding: padding)
            #expect(CPCAudio.labelAlignment(method.network.config.encoder, samples: Self.samples).left == (padding.isEmpty ? 152 : 0))
            let encoder = try MethodFrameFeatures(method: method, request: .encoder, source: "test")
            for label in [37, 50] {
                let r = reach(encoder, samples: Self.samples, impulseAt: 160 * label + 80)
                #expect(r.frames == 100)
                #expect(r.first + r.last == 2 * label, "padding \(padding): label \(label) reaches frames \(r.first)...\(r.last)")
                #expect(r.first == label - 1 && r.last == label + 1)
            }
            // The context is causal: it first changes at the encoder's first changed frame, and carries the change on.
            let context = try MethodFrameFeatures(method: method, request: .context, source: "test")
            let r = reach(context, samples: Self.samples, impulseAt: 160 * 50 + 80)
            #expect(r.frames == 100 && r.first == 49 && r.last > 51)
        }
    }

    @Test func frameCountsEqualLabelCounts() throws {
        let extractors: [any FrameFeatureExtractor] = [
            try SpectralFeatureExtractor(mfcc: true), try SpectralFeatureExtractor(mfcc: false),
            try MethodFrameFeatures(method: cpc(padding: []), request: .context, source: "test"),
            try MethodFrameFeatures(method: cpc(padding: [3, 2, 1, 1, 1]), request: .encoder, source: "test"),
        ]
        for extractor in extractors {
            for samples in [480, 639, 640, 641, 3200, 3359, 12345] {
                #expect(extractor.frames([Float](repeating: 0.01, count: samples)).shape[0] == samples / 160,
                        "\(type(of: extractor)) on \(samples) samples")
            }
        }
    }

    @Test func modelsWithAnotherHopAreRefusedForFrameFeatures() {
        var config = CPCConfig()
        config.encoder.channels = 8
        config.encoder.strides = [5, 4, 2, 2, 1]
        config.context.hidden = 8
        #expect(throws: ConfigError.self) { try MethodFrameFeatures(method: CPCAudio(config: config, seed: 1), request: .context, source: "x") }
    }
}
