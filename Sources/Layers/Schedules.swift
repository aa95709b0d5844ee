// Learning-rate schedules: linear warm-up, cosine decay, step decay.

import Foundation

/// The learning rate as a function of the step (0-based: the rate used by the step with that index).
public protocol LearningRateSchedule: Sendable {
    func learningRate(atStep step: Int) -> Float
}

/// A constant rate.
public struct ConstantSchedule: LearningRateSchedule {
    /// The rate at every step.
    public let rate: Float
    /// A constant `rate`.
    public init(rate: Float) { self.rate = rate }
    public func learningRate(atStep step: Int) -> Float { rate }
}

/// Linear warm-up from `warmupStartRate` to `baseRate` over `warmupSteps`, then cosine decay to `finalRate` at
/// `totalSteps` (held there after). With `warmupSteps` 0 it is `CosineAnnealingLR(T_max = totalSteps)`.
///
/// ### References
/// - Loshchilov and Hutter 2017, "SGDR: stochastic gradient descent with warm restarts".
public struct WarmupCosineSchedule: LearningRateSchedule {
    /// The peak rate, the rate at the end and the rate the warm-up starts from.
    public let baseRate, finalRate, warmupStartRate: Float
    /// The warm-up length and the step the cosine reaches `finalRate`.
    public let warmupSteps, totalSteps: Int

    /// Warm-up over `warmupSteps`, then cosine decay until `totalSteps`.
    public init(baseRate: Float, warmupSteps: Int, totalSteps: Int, finalRate: Float = 0, warmupStartRate: Float = 0) {
        precondition(warmupSteps >= 0 && totalSteps >= warmupSteps, "warm-up \(warmupSteps) must lie within \(totalSteps) steps")
        (self.baseRate, self.finalRate, self.warmupStartRate, self.warmupSteps, self.totalSteps) =
            (baseRate, finalRate, warmupStartRate, warmupSteps, totalSteps)
    }

    public func learningRate(atStep step: Int) -> Float {
        if step < warmupSteps {
            return warmupStartRate + (baseRate - warmupStartRate) * Float(step) / Float(warmupSteps)
        }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = min(Double(step - warmupSteps) / Double(span), 1)
        return finalRate + (baseRate - finalRate) * Float(0.5 * (1 + cos(Double.pi * progress)))
    }
}

/// Multiplies the rate by `gamma` every `stepSize` steps (PyTorch `StepLR`), after an optional linear warm-up.
public struct StepSchedule: LearningRateSchedule {
    /// The rate after warm-up and the factor applied every `stepSize` steps.
    public let baseRate, gamma: Float
    /// The decay period and the warm-up length.
    public let stepSize, warmupSteps: Int

    /// A step schedule.
    public init(baseRate: Float, stepSize: Int, gamma: Float = 0.1, warmupSteps: Int = 0) {
        precondition(stepSize > 0, "step size must be positive, got \(stepSize)")
        (self.baseRate, self.stepSize, self.gamma, self.warmupSteps) = (baseRate, stepSize, gamma, warmupSteps)
    }

    public func learningRate(atStep step: Int) -> Float {
        if step < warmupSteps { return baseRate * Float(step + 1) / Float(warmupSteps + 1) }
        return baseRate * Foundation.pow(gamma, Float((step - warmupSteps) / stepSize))
    }
}
