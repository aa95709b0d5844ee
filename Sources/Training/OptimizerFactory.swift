// Builds the optimiser and learning-rate schedule of a run from its `optimizer:` section, with parameter groups:
// biases and normalisation parameters (rank ≤ 1) get no weight decay and no LARS adaptation unless the config
// says otherwise; tensors that do not require grad (momentum encoders) are left out.

import Layers
import TensorCore

/// Several optimisers of one kind over disjoint parameter groups, stepping together as one.
public final class GroupedOptimizer: Optimizer {
    public let groups: [any Optimizer]
    public var parameters: [(name: String, tensor: Tensor)] { groups.flatMap(\.parameters) }
    public var learningRate: Float {
        get { groups[0].learningRate }
        set { for group in groups { group.learningRate = newValue } }
    }
    public var stepCount: Int { groups[0].stepCount }

    public init(_ groups: [any Optimizer]) {
        precondition(!groups.isEmpty, "a grouped optimiser needs a group")
        self.groups = groups
    }

    public func step() { for group in groups { group.step() } }
    public func stateTensors() -> [(String, Tensor)] { groups.flatMap { $0.stateTensors() } }
    public func loadState(_ tensors: [(String, Tensor)], stepCount: Int, source: String) throws {
        for group in groups {
            let names = Set(group.parameters.map(\.name))
            let mine = tensors.filter { key, _ in key.split(separator: "/", maxSplits: 1).last.map { names.contains(String($0)) } ?? false }
            try group.loadState(mine, stepCount: stepCount, source: source)
        }
        let known = Set(parameters.map(\.name))
        let unexpected = tensors.map(\.0).filter { key in !(key.split(separator: "/", maxSplits: 1).last.map { known.contains(String($0)) } ?? false) }
        if !unexpected.isEmpty { throw StateDictError(source: source, missing: [], unexpected: unexpected, mismatched: []) }
    }
}

public enum OptimizerFactory {
    /// The optimiser for the trainable parameters of `model`.
    public static func make(_ o: OptimizerConfig, model: any Layer) -> any Optimizer {
        let trainable = model.parameters.filter { $0.tensor.requiresGrad }
        func single(_ parameters: [(name: String, tensor: Tensor)], weightDecay: Float) -> any Optimizer {
            switch o.type {
            case .adam: return Adam(parameters: parameters, learningRate: o.learningRate, betas: (o.betas[0], o.betas[1]),
                                    epsilon: o.epsilon, weightDecay: weightDecay)
            case .adamw: return Adam.adamW(parameters: parameters, learningRate: o.learningRate, betas: (o.betas[0], o.betas[1]),
                                           epsilon: o.epsilon, weightDecay: weightDecay)
            case .sgd: return SGD(parameters: parameters, learningRate: o.learningRate, momentum: o.momentum, weightDecay: weightDecay)
            case .lars: return LARS(parameters: parameters, learningRate: o.learningRate, momentum: o.momentum,
                                    weightDecay: weightDecay, trustCoefficient: o.trustCoefficient,
                                    excludeBiasAndNormalization: o.excludeBiasAndNorm, clipTrustRatio: o.clipLR)
            }
        }
        guard o.excludeBiasAndNorm && o.weightDecay > 0 && o.type != .lars else { return single(trainable, weightDecay: o.weightDecay) }
        let decayed = trainable.filter { $0.tensor.rank > 1 }, plain = trainable.filter { $0.tensor.rank <= 1 }
        if plain.isEmpty || decayed.isEmpty { return single(trainable, weightDecay: plain.isEmpty ? o.weightDecay : 0) }
        return GroupedOptimizer([single(decayed, weightDecay: o.weightDecay), single(plain, weightDecay: 0)])
    }

    /// The learning rate at each step: constant (after an optional linear warm-up) or warm-up then cosine decay.
    public static func schedule(_ o: OptimizerConfig, totalSteps: Int) -> any LearningRateSchedule {
        switch o.schedule {
        case .constant:
            return o.warmupSteps > 0
                ? WarmupCosineSchedule(baseRate: o.learningRate, warmupSteps: o.warmupSteps, totalSteps: Int.max / 2,
                                       finalRate: o.learningRate)
                : ConstantSchedule(rate: o.learningRate)
        case .cosine:
            return WarmupCosineSchedule(baseRate: o.learningRate, warmupSteps: o.warmupSteps,
                                        totalSteps: max(totalSteps, o.warmupSteps), finalRate: o.finalLearningRate)
        }
    }
}
