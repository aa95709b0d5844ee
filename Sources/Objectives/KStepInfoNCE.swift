// InfoNCE for k-step future prediction (van den Oord et al. 2018): score each prediction against its true future
// and sampled negatives, and classify the true one.
//
// Glossary: N sequences, T encoded frames per sequence, W = T − K scored positions per sequence, K prediction
// steps, C encoding channels, M negatives per position. Predictions [N, W, K, C]; encodings [N, T, C];
// negatives: M flat frame indices (n'·T + t') per (n, w), shared by all k; logits [N, W, K, 1 + M] with the
// positive in column 0.

import CBLAS
import TensorCore

/// Where negatives come from.
public enum NegativeSampling: String, Codable, Sendable, CaseIterable {
    /// Any frame of any sequence in the batch.
    case mixed
    /// Frames of sequences with the same speaker as the current one (within-sequence when it is alone).
    case sameSpeaker = "same_speaker"
    /// Frames of the current sequence only.
    case withinSequence = "within_sequence"
    /// Frames of the other sequences only.
    case otherSequences = "other_sequences"
}

/// CPC's k-step loss: each prediction classifies its true future frame among sampled negatives.
///
/// ### References
/// - van den Oord, Li and Vinyals 2018, "Representation learning with contrastive predictive coding".
public enum KStepInfoNCE {
    /// Draws M negative frame indices for every scored position (n, w), as flat indices n'·T + t'.
    /// - Parameters:
    ///   - mode: where negatives come from.
    ///   - n: N sequences.
    ///   - t: T frames per sequence.
    ///   - w: W scored positions per sequence.
    ///   - m: M negatives per position.
    ///   - speakers: the speaker of each sequence (used by `.sameSpeaker`).
    ///   - generator: the draws' source (a batch's own, so that negatives depend only on (seed, batch)).
    public static func sampleNegatives(mode: NegativeSampling, sequences n: Int, frames t: Int, positions w: Int,
                                       count m: Int, speakers: [Int], generator: inout RandomGenerator) -> [Int] {
        precondition(n >= 1 && t >= 1 && w >= 1 && m >= 1, "sampleNegatives needs positive sizes")
        precondition(mode != .otherSequences || n >= 2, "other_sequences negatives need at least two sequences")
        precondition(speakers.count == n, "one speaker per sequence")
        var result = [Int](repeating: 0, count: n * w * m)
        var sameSpeaker: [[Int]] = []
        if mode == .sameSpeaker {
            sameSpeaker = (0..<n).map { i in (0..<n).filter { speakers[$0] == speakers[i] } }
        }
        for i in 0..<n {
            for p in 0..<w {
                let base = (i * w + p) * m
                for j in 0..<m {
                    let sequence: Int
                    switch mode {
                    case .mixed: sequence = generator.nextInt(below: n)
                    case .withinSequence: sequence = i
                    case .otherSequences:
                        let draw = generator.nextInt(below: n - 1)
                        sequence = draw >= i ? draw + 1 : draw
                    case .sameSpeaker:
                        let group = sameSpeaker[i]
                        sequence = group[generator.nextInt(below: group.count)]
                    }
                    result[base + j] = sequence * t + generator.nextInt(below: t)
                }
            }
        }
        return result
    }

    /// Fused scores: logits[n, w, k, 0] = ⟨pred[n, w, k], z[s + n, w + k + 1]⟩ and
    /// logits[n, w, k, 1 + j] = ⟨pred[n, w, k], z_flat[negatives[(n·W + w)·M + j]]⟩, s = `firstSequence`.
    /// Differentiable in both inputs. Shapes: predictions [N, W, K, C], encoded [N', T, C] with T ≥ W + K and
    /// N' ≥ s + N (the encodings of a larger batch whose sequences s ..< s + N made the predictions: one rank's
    /// windows scored against every rank's) → [N, W, K, 1 + M].
    public static func logits(predictions: Tensor, encoded: Tensor, negatives: [Int], negativeCount m: Int,
                              firstSequence s: Int = 0) -> Tensor {
        precondition(predictions.rank == 4 && encoded.rank == 3, "InfoNCE logits: predictions [N, W, K, C], encoded [N, T, C]")
        let (n, w, k, c) = (predictions.shape[0], predictions.shape[1], predictions.shape[2], predictions.shape[3])
        let t = encoded.shape[1]
        precondition(s >= 0 && encoded.shape[0] >= s + n && encoded.shape[2] == c && t >= w + k,
                     "InfoNCE logits: encoded \(encoded.shape) does not fit predictions \(predictions.shape) from sequence \(s)")
        precondition(negatives.count == n * w * m, "InfoNCE logits: \(negatives.count) negatives for \(n)·\(w)·\(m)")
        let width = 1 + m
        let result = Tensor.zeros([n, w, k, width])
        let gathered = UnsafeMutablePointer<Float>.allocate(capacity: max(m * c, 1))
        defer { gathered.deallocate() }
        predictions.withUnsafeBufferPointer { pp in
            encoded.withUnsafeBufferPointer { zp in
                result.withUnsafeMutableBufferPointer { lp in
                    let p = pp.baseAddress!, z = zp.baseAddress!, l = lp.baseAddress!
                    for i in 0..<n {
                        for position in 0..<w {
                            let row = i * w + position
                            for j in 0..<m { (gathered + j * c).update(from: z + negatives[row * m + j] * c, count: c) }
                            let predRow = p + row * k * c, logitRow = l + row * k * width
                            // Negatives: [K, C] · [M, C]ᵀ → columns 1…M.
                            BLAS.sgemm(transposeA: false, transposeB: true, m: k, n: m, k: c, a: predRow, lda: c,
                                       b: gathered, ldb: c, c: logitRow + 1, ldc: width)
                            for step in 0..<k {
                                let future = z + ((s + i) * t + position + step + 1) * c, q = predRow + step * c
                                var dot: Float = 0
                                for d in 0..<c { dot += q[d] * future[d] }
                                logitRow[step * width] = dot
                            }
                        }
                    }
                }
            }
        }
        return Tensor.record(result, inputs: [predictions, encoded]) { g, _ in
            let gradPredictions = Tensor.zeros(predictions.shape), gradEncoded = Tensor.zeros(encoded.shape)
            let gathered = UnsafeMutablePointer<Float>.allocate(capacity: max(m * c, 1))
            let gatheredGrad = UnsafeMutablePointer<Float>.allocate(capacity: max(m * c, 1))
            defer { gathered.deallocate(); gatheredGrad.deallocate() }
            predictions.withUnsafeBufferPointer { pp in
                encoded.withUnsafeBufferPointer { zp in
                    g.withUnsafeBufferPointer { gp in
                        gradPredictions.withUnsafeMutableBufferPointer { dpp in
                            gradEncoded.withUnsafeMutableBufferPointer { dzp in
                                let p = pp.baseAddress!, z = zp.baseAddress!, gl = gp.baseAddress!
                                let dp = dpp.baseAddress!, dz = dzp.baseAddress!
                                for i in 0..<n {
                                    for position in 0..<w {
                                        let row = i * w + position
                                        for j in 0..<m { (gathered + j * c).update(from: z + negatives[row * m + j] * c, count: c) }
                                        let predRow = p + row * k * c, gradRow = gl + row * k * width
                                        let dPredRow = dp + row * k * c
                                        // dPred[K, C] = dL_neg[K, M] · G[M, C]
                                        BLAS.sgemm(transposeA: false, transposeB: false, m: k, n: c, k: m, a: gradRow + 1,
                                                   lda: width, b: gathered, ldb: c, c: dPredRow, ldc: c)
                                        // dG[M, C] = dL_negᵀ[M, K] · pred[K, C], scattered onto the sampled frames.
                                        BLAS.sgemm(transposeA: true, transposeB: false, m: m, n: c, k: k, a: gradRow + 1,
                                                   lda: width, b: predRow, ldb: c, c: gatheredGrad, ldc: c)
                                        for j in 0..<m {
                                            let target = dz + negatives[row * m + j] * c, source = gatheredGrad + j * c
                                            for d in 0..<c { target[d] += source[d] }
                                        }
                                        for step in 0..<k {
                                            let scale = gradRow[step * width]
                                            let futureIndex = ((s + i) * t + position + step + 1) * c
                                            let q = predRow + step * c, dq = dPredRow + step * c
                                            for d in 0..<c {
                                                dq[d] += scale * z[futureIndex + d]
                                                dz[futureIndex + d] += scale * q[d]
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            return [gradPredictions, gradEncoded]
        }
    }

    /// The loss and metrics of k-step InfoNCE given logits [N, W, K, 1 + M] (positive in column 0).
    public struct Result {
        /// Mean over steps, positions and sequences of −log softmax(positive).
        public let loss: Tensor
        /// Per step k = 1…K: the mean loss.
        public let lossPerStep: [Float]
        /// Per step k = 1…K: the fraction of positions whose positive scores highest (ties count).
        public let accuracyPerStep: [Float]
    }

    /// Whether `scores[target]` is the highest of `count` scores. A negative drawn at the positive's own frame ties it
    /// up to rounding, so scores within a relative 1e-5 count as ties, and ties count as correct (as argmax's
    /// first-index rule does).
    static func scoresHighest(_ scores: UnsafePointer<Float>, count: Int, target: Int) -> Bool {
        let positive = scores[target]
        let slack = 1e-5 * max(1, Swift.abs(positive))
        for j in 0..<count where scores[j] > positive + slack { return false }
        return true
    }

    /// Cross-entropy with the positive as the target, per step and overall.
    public static func loss(logits: Tensor) -> Result {
        let (n, w, k, width) = (logits.shape[0], logits.shape[1], logits.shape[2], logits.shape[3])
        let rows = n * w * k
        let flat = logits.reshaped([rows, width])
        let perRow = crossEntropy(logits: flat, targets: [Int](repeating: 0, count: rows), reduction: .none)
        var lossPerStep = [Float](repeating: 0, count: k), accuracyPerStep = [Float](repeating: 0, count: k)
        perRow.withUnsafeBufferPointer { values in
            logits.withUnsafeBufferPointer { l in
                for r in 0..<rows {
                    let step = r % k
                    lossPerStep[step] += values[r]
                    if scoresHighest(l.baseAddress! + r * width, count: width, target: 0) { accuracyPerStep[step] += 1 }
                }
            }
        }
        let scale = 1 / Float(n * w)
        return Result(loss: perRow.mean(), lossPerStep: lossPerStep.map { $0 * scale },
                      accuracyPerStep: accuracyPerStep.map { $0 * scale })
    }
}
