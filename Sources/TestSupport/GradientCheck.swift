// Test helpers shared by every test target: finite-difference gradient checks and fixture loading.

import Foundation
import TensorCore

/// The worst disagreement a gradient check found.
public struct GradientCheckResult: CustomStringConvertible {
    public var maxAbsoluteError: Double = 0
    public var worst: String = "none"
    public var passed = true
    public var description: String { "max |analytic − numeric| = \(maxAbsoluteError) at \(worst)" }
}

/// Compares the analytic gradients of `function` with central differences.
///
/// The scalar checked is Σ w ⊙ f(inputs) for fixed random weights w (so every output element matters), summed in
/// Double. Each input element is perturbed by ±`epsilon`; an element passes when
/// |analytic − numeric| ≤ `absoluteTolerance` + `relativeTolerance`·|numeric|.
public func checkGradients(_ inputs: [Tensor], epsilon: Float = 1e-3, absoluteTolerance: Double = 2e-3,
                           relativeTolerance: Double = 2e-2, seed: UInt64 = 7,
                           _ function: ([Tensor]) -> Tensor) -> GradientCheckResult {
    for input in inputs {
        precondition(input.isLeaf, "checkGradients needs leaf inputs (copy() an op result first)")
        input.requiresGrad = true
        input.zeroGrad()
    }
    let probe = function(inputs)
    var generator = RandomGenerator(seed: seed, stream: 99)
    let weights = Tensor.uniform(probe.shape, low: -1, high: 1, generator: &generator)
    (probe * weights).sum().backward()
    let weightValues = weights.scalars

    func objective() -> Double {
        let output = withoutGrad { function(inputs) }
        return zip(output.scalars, weightValues).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    var result = GradientCheckResult()
    for (inputIndex, input) in inputs.enumerated() {
        let analytic = input.grad?.scalars ?? [Float](repeating: 0, count: input.count)
        for element in 0..<input.count {
            let original = input.scalars[element]
            input.withUnsafeMutableBufferPointer { $0[element] = original + epsilon }
            let plus = objective()
            input.withUnsafeMutableBufferPointer { $0[element] = original - epsilon }
            let minus = objective()
            input.withUnsafeMutableBufferPointer { $0[element] = original }
            let numeric = (plus - minus) / (2 * Double(epsilon))
            let error = Swift.abs(Double(analytic[element]) - numeric)
            if error > result.maxAbsoluteError {
                result.maxAbsoluteError = error
                result.worst = "input \(inputIndex) element \(element) (analytic \(analytic[element]), numeric \(numeric))"
            }
            if error > absoluteTolerance + relativeTolerance * Swift.abs(numeric) { result.passed = false }
        }
    }
    return result
}

/// Largest absolute difference between two equally long arrays (infinity when the lengths differ).
public func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}
