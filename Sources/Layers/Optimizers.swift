// Optimisers with PyTorch's update rules (SGD, Adam, AdamW) and LARS, plus gradient clipping by global norm.
//
// Each optimiser keeps its per-parameter state as named tensors so that a checkpoint can save and restore it.

import Foundation
import TensorCore

/// Updates parameters from their `.grad`. Parameters without a gradient are skipped (as PyTorch).
public protocol Optimizer: AnyObject {
    /// The parameters, with the names used for their state in checkpoints.
    var parameters: [(name: String, tensor: Tensor)] { get }
    /// The learning rate of the next step (set it from a schedule before each step).
    var learningRate: Float { get set }
    /// Steps taken so far.
    var stepCount: Int { get }
    /// Applies one update.
    func step()
    /// Per-parameter state, named `<slot>/<parameter>`.
    func stateTensors() -> [(String, Tensor)]
    /// Restores state saved by `stateTensors()` and the step count.
    func loadState(_ tensors: [(String, Tensor)], stepCount: Int, source: String) throws
}

extension Optimizer {
    /// Clears the gradients of every parameter.
    public func zeroGrad() { for (_, p) in parameters { p.zeroGrad() } }
}

/// Per-parameter state slots shared by the optimisers: created lazily, saved and restored by name.
public final class OptimizerSlots {
    private(set) var slots: [String: [Int: Tensor]] = [:]
    let names: [String]
    let parameterNames: [String]

    init(names: [String], parameterNames: [String]) {
        self.names = names
        self.parameterNames = parameterNames
    }

    func get(_ slot: String, _ index: Int) -> Tensor? { slots[slot]?[index] }
    func set(_ slot: String, _ index: Int, _ value: Tensor) { slots[slot, default: [:]][index] = value }

    func tensors() -> [(String, Tensor)] {
        var result: [(String, Tensor)] = []
        for slot in names {
            for (index, name) in parameterNames.enumerated() {
                if let t = slots[slot]?[index] { result.append(("\(slot)/\(name)", t)) }
            }
        }
        return result
    }

    func load(_ tensors: [(String, Tensor)], shapes: [[Int]], source: String) throws {
        var restored: [String: [Int: Tensor]] = [:]
        let indexOf = Dictionary(parameterNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        for (key, tensor) in tensors {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, names.contains(parts[0]), let index = indexOf[parts[1]] else {
                throw StateDictError(source: source, missing: [], unexpected: [key], mismatched: [])
            }
            guard tensor.shape == shapes[index] else {
                throw StateDictError(source: source, missing: [], unexpected: [],
                                     mismatched: ["\(key): file has \(tensor.shape), parameter has \(shapes[index])"])
            }
            restored[parts[0], default: [:]][index] = tensor.copy()
        }
        slots = restored
    }
}

/// Applies `body` to (parameter, gradient) buffers, for parameters that have a gradient.
@inline(__always)
private func forEachParameter(_ parameters: [(name: String, tensor: Tensor)],
                              _ body: (Int, Tensor, UnsafeMutableBufferPointer<Float>, UnsafeBufferPointer<Float>) -> Void) {
    for (index, (_, parameter)) in parameters.enumerated() {
        guard let grad = parameter.grad else { continue }
        precondition(grad.shape == parameter.shape, "gradient \(grad.shape) for parameter \(parameter.shape)")
        grad.withUnsafeBufferPointer { g in
            parameter.withUnsafeMutableBufferPointer { p in body(index, parameter, p, g) }
        }
    }
}

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay (PyTorch `SGD`).
public final class SGD: Optimizer {
    public let parameters: [(name: String, tensor: Tensor)]
    public var learningRate: Float
    /// PyTorch's SGD settings.
    public let momentum, dampening, weightDecay: Float
    /// Nesterov momentum.
    public let nesterov: Bool
    public private(set) var stepCount = 0
    let slots: OptimizerSlots

    /// SGD over `parameters`, with PyTorch's update rule (momentum buffer, dampening, L2 weight decay, Nesterov).
    public init(parameters: [(name: String, tensor: Tensor)], learningRate: Float, momentum: Float = 0,
                dampening: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "Nesterov momentum needs momentum > 0 and no dampening")
        self.parameters = parameters
        (self.learningRate, self.momentum, self.dampening, self.weightDecay, self.nesterov) =
            (learningRate, momentum, dampening, weightDecay, nesterov)
        slots = OptimizerSlots(names: ["momentum_buffer"], parameterNames: parameters.map(\.name))
    }

    public func step() {
        let (lr, m, damp, wd, nesterov) = (learningRate, momentum, dampening, weightDecay, self.nesterov)
        forEachParameter(parameters) { index, parameter, p, g in
            var buffer: UnsafeMutablePointer<Float>?
            var fresh = false
            if m != 0 {
                if slots.get("momentum_buffer", index) == nil {
                    slots.set("momentum_buffer", index, Tensor.zeros(parameter.shape))
                    fresh = true
                }
                buffer = slots.get("momentum_buffer", index)!.withUnsafeMutableBufferPointer { $0.baseAddress! }
            }
            for i in 0..<p.count {
                var d = g[i] + wd * p[i]
                if let buffer {
                    buffer[i] = fresh ? d : m * buffer[i] + (1 - damp) * d
                    d = nesterov ? d + m * buffer[i] : buffer[i]
                }
                p[i] -= lr * d
            }
        }
        stepCount += 1
    }

    public func stateTensors() -> [(String, Tensor)] { slots.tensors() }
    public func loadState(_ tensors: [(String, Tensor)], stepCount: Int, source: String) throws {
        try slots.load(tensors, shapes: parameters.map(\.tensor.shape), source: source)
        self.stepCount = stepCount
    }
}

/// Adam (Kingma and Ba 2015) with PyTorch's arithmetic; `decoupledWeightDecay` makes it AdamW
/// (Loshchilov and Hutter 2019): p ← p·(1 − lr·wd) before the Adam step, instead of adding wd·p to the gradient.
///
/// ### References
/// - Kingma and Ba 2015, "Adam: a method for stochastic optimization".
/// - Loshchilov and Hutter 2019, "Decoupled weight decay regularization" (AdamW).
public final class Adam: Optimizer {
    public let parameters: [(name: String, tensor: Tensor)]
    public var learningRate: Float
    /// Adam's settings (β1, β2, ε, weight decay).
    public let beta1, beta2, epsilon, weightDecay: Float
    /// AdamW's decoupled weight decay instead of L2 added to the gradient.
    public let decoupledWeightDecay: Bool
    public private(set) var stepCount = 0
    let slots: OptimizerSlots

    /// Adam over `parameters`, with PyTorch's update rule.
    public init(parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999),
                epsilon: Float = 1e-8, weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
        self.parameters = parameters
        (self.learningRate, self.beta1, self.beta2, self.epsilon, self.weightDecay, self.decoupledWeightDecay) =
            (learningRate, betas.0, betas.1, epsilon, weightDecay, decoupledWeightDecay)
        slots = OptimizerSlots(names: ["exp_avg", "exp_avg_sq"], parameterNames: parameters.map(\.name))
    }

    /// AdamW with PyTorch's default weight decay (0.01).
    public static func adamW(parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3,
                             betas: (Float, Float) = (0.9, 0.999), epsilon: Float = 1e-8, weightDecay: Float = 0.01) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate, betas: betas, epsilon: epsilon, weightDecay: weightDecay,
             decoupledWeightDecay: true)
    }

    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let (lr, b1, b2, eps, wd, decoupled) = (learningRate, beta1, beta2, epsilon, weightDecay, decoupledWeightDecay)
        let correction1 = 1 - Foundation.pow(b1, t), correction2Root = (1 - Foundation.pow(b2, t)).squareRoot()
        let stepSize = lr / correction1
        forEachParameter(parameters) { index, parameter, p, g in
            if slots.get("exp_avg", index) == nil {
                slots.set("exp_avg", index, Tensor.zeros(parameter.shape))
                slots.set("exp_avg_sq", index, Tensor.zeros(parameter.shape))
            }
            let m = slots.get("exp_avg", index)!.withUnsafeMutableBufferPointer { $0.baseAddress! }
            let v = slots.get("exp_avg_sq", index)!.withUnsafeMutableBufferPointer { $0.baseAddress! }
            for i in 0..<p.count {
                var grad = g[i]
                if decoupled { p[i] *= 1 - lr * wd } else { grad += wd * p[i] }
                m[i] = b1 * m[i] + (1 - b1) * grad
                v[i] = b2 * v[i] + (1 - b2) * grad * grad
                let denominator = v[i].squareRoot() / correction2Root + eps
                p[i] -= stepSize * m[i] / denominator
            }
        }
    }

    public func stateTensors() -> [(String, Tensor)] { slots.tensors() }
    public func loadState(_ tensors: [(String, Tensor)], stepCount: Int, source: String) throws {
        try slots.load(tensors, shapes: parameters.map(\.tensor.shape), source: source)
        self.stepCount = stepCount
    }
}

/// LARS (You et al. 2017, "Large Batch Training of Convolutional Networks"), as used by SimCLR and BYOL:
/// for each adapted parameter, d = g + wd·p, then d ← η·‖p‖/‖d‖ · d (when both norms are non-zero), then SGD with
/// momentum: buf ← m·buf + d, p ← p − lr·buf. Parameters of rank 1 (biases and norm weights) are excluded from
/// weight decay and adaptation when `excludeBiasAndNormalization` is set.
///
/// ### References
/// - You, Gitman and Ginsburg 2017, "Large batch training of convolutional networks".
public final class LARS: Optimizer {
    public let parameters: [(name: String, tensor: Tensor)]
    public var learningRate: Float
    /// LARS's settings: momentum, weight decay and the trust coefficient η.
    public let momentum, weightDecay, trustCoefficient: Float
    /// Whether rank-1 parameters (biases, norm weights) skip weight decay and adaptation.
    public let excludeBiasAndNormalization: Bool
    /// solo-learn's `clip_lr`: the trust ratio is divided by the learning rate and capped at 1, so that a weight moves
    /// by at most trustCoefficient·‖w‖ per step (before momentum) whatever the learning rate.
    public let clipTrustRatio: Bool
    public private(set) var stepCount = 0
    let slots: OptimizerSlots

    /// LARS over `parameters`.
    public init(parameters: [(name: String, tensor: Tensor)], learningRate: Float, momentum: Float = 0.9,
                weightDecay: Float = 1e-6, trustCoefficient: Float = 0.001, excludeBiasAndNormalization: Bool = true,
                clipTrustRatio: Bool = false) {
        self.parameters = parameters
        (self.learningRate, self.momentum, self.weightDecay, self.trustCoefficient, self.excludeBiasAndNormalization) =
            (learningRate, momentum, weightDecay, trustCoefficient, excludeBiasAndNormalization)
        self.clipTrustRatio = clipTrustRatio
        slots = OptimizerSlots(names: ["momentum_buffer"], parameterNames: parameters.map(\.name))
    }

    public func step() {
        let (lr, m, eta) = (learningRate, momentum, trustCoefficient)
        forEachParameter(parameters) { index, parameter, p, g in
            let adapted = !(excludeBiasAndNormalization && parameter.rank <= 1)
            let wd = adapted ? weightDecay : 0
            var direction = [Float](repeating: 0, count: p.count)
            var parameterNorm: Double = 0, directionNorm: Double = 0
            for i in 0..<p.count {
                direction[i] = g[i] + wd * p[i]
                parameterNorm += Double(p[i]) * Double(p[i])
                directionNorm += Double(direction[i]) * Double(direction[i])
            }
            var trust: Float = 1
            if adapted && parameterNorm > 0 && directionNorm > 0 {
                trust = eta * Float(parameterNorm.squareRoot() / directionNorm.squareRoot())
                if clipTrustRatio { trust = Swift.min(trust / lr, 1) }
            }
            if slots.get("momentum_buffer", index) == nil { slots.set("momentum_buffer", index, Tensor.zeros(parameter.shape)) }
            let buffer = slots.get("momentum_buffer", index)!.withUnsafeMutableBufferPointer { $0.baseAddress! }
            for i in 0..<p.count {
                buffer[i] = m * buffer[i] + trust * direction[i]
                p[i] -= lr * buffer[i]
            }
        }
        stepCount += 1
    }

    public func stateTensors() -> [(String, Tensor)] { slots.tensors() }
    public func loadState(_ tensors: [(String, Tensor)], stepCount: Int, source: String) throws {
        try slots.load(tensors, shapes: parameters.map(\.tensor.shape), source: source)
        self.stepCount = stepCount
    }
}

/// Scales all gradients so that their global L2 norm is at most `maxNorm` (PyTorch `clip_grad_norm_`:
/// coefficient maxNorm / (norm + 1e-6), applied when below 1). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ tensors: [Tensor], maxNorm: Float) -> Float {
    var total: Double = 0
    for t in tensors { if let g = t.grad { g.withUnsafeBufferPointer { for v in $0 { total += Double(v) * Double(v) } } } }
    let norm = Float(total.squareRoot())
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 {
        for t in tensors { t.grad?.withUnsafeMutableBufferPointer { for i in 0..<$0.count { $0[i] *= coefficient } } }
    }
    return norm
}
