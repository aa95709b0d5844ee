// k-step InfoNCE: gradient checks, PyTorch reference values for each negative-sampling mode
// (Tests/Fixtures/cpc.json, written by Tests/Fixtures/generate_cpc.py), and the sampler's rules.

import Methods
import Objectives
import Testing
import TensorCore
import TestSupport

@Suite struct KStepInfoNCETests {
    @Test func gradientsMatchFiniteDifferences() {
        var g = RandomGenerator(seed: 3)
        let p = Tensor.uniform([2, 4, 3, 5], low: -1, high: 1, generator: &g)
        let z = Tensor.uniform([2, 7, 5], low: -1, high: 1, generator: &g)
        for mode in NegativeSampling.allCases {
            var ng = RandomGenerator(seed: 4)
            let negatives = KStepInfoNCE.sampleNegatives(mode: mode, sequences: 2, frames: 7, positions: 4, count: 6,
                                                    speakers: [0, 0], generator: &ng)
            let logits = checkGradients([p, z]) { t in
                KStepInfoNCE.logits(predictions: t[0], encoded: t[1], negatives: negatives, negativeCount: 6)
            }
            #expect(logits.passed, "\(mode) logits: \(logits)")
            let loss = checkGradients([p, z]) { t in
                KStepInfoNCE.loss(logits: KStepInfoNCE.logits(predictions: t[0], encoded: t[1], negatives: negatives, negativeCount: 6)).loss
            }
            #expect(loss.passed, "\(mode) loss: \(loss)")
        }
    }

    @Test(arguments: NegativeSampling.allCases)
    func matchesPyTorch(mode: NegativeSampling) throws {
        let fixture = try Fixture("cpc")
        let name = "infonce_\(mode.rawValue)"
        let p = try fixture.tensor(name, "pred"), z = try fixture.tensor(name, "z")
        p.requiresGrad = true
        z.requiresGrad = true
        let negatives = try fixture.integers(name, "negatives")
        let result = KStepInfoNCE.loss(logits: KStepInfoNCE.logits(predictions: p, encoded: z, negatives: negatives, negativeCount: 4))
        #expect(Swift.abs(Double(result.loss.item) - (try fixture.number(name, "loss"))) < 1e-5)
        #expect(maxAbsoluteDifference(result.lossPerStep, try fixture.tensor(name, "loss_per_k").scalars) < 1e-5)
        #expect(maxAbsoluteDifference(result.accuracyPerStep, try fixture.tensor(name, "accuracy_per_k").scalars) < 1e-6)
        result.loss.backward()
        #expect(maxAbsoluteDifference(p.grad!.scalars, try fixture.tensor(name, "grad_pred").scalars) < 1e-6)
        #expect(maxAbsoluteDifference(z.grad!.scalars, try fixture.tensor(name, "grad_z").scalars) < 1e-6)
    }

    @Test func samplerFollowsEachModesRule() {
        let (n, t, w, m) = (4, 10, 6, 50)
        let speakers = [3, 3, 8, 5]
        for mode in NegativeSampling.allCases {
            var g = RandomGenerator(seed: 11)
            let negatives = KStepInfoNCE.sampleNegatives(mode: mode, sequences: n, frames: t, positions: w, count: m,
                                                    speakers: speakers, generator: &g)
            #expect(negatives.count == n * w * m)
            var sequencesSeen = Set<Int>()
            for i in 0..<n {
                for p in 0..<w {
                    for j in 0..<m {
                        let index = negatives[(i * w + p) * m + j]
                        #expect(index >= 0 && index < n * t)
                        let sequence = index / t
                        sequencesSeen.insert(sequence)
                        switch mode {
                        case .mixed: break
                        case .withinSequence: #expect(sequence == i)
                        case .otherSequences: #expect(sequence != i)
                        case .sameSpeaker: #expect(speakers[sequence] == speakers[i])
                        }
                    }
                }
            }
            if mode == .mixed || mode == .otherSequences { #expect(sequencesSeen.count == n) }
        }
    }
}
