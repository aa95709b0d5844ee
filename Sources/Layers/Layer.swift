// The Layer protocol: named parameters and buffers (PyTorch names), children, train/eval mode, state dicts.

import TensorCore

/// A building block with named parameters, as a PyTorch `nn.Module`.
///
/// Names follow PyTorch (`weight`, `bias`, `weight_ih_l0`, `running_mean`); a child's entries are prefixed with its
/// attribute name and a dot (`encoder.0.weight`), so state dicts interoperate with PyTorch models of the same shape.
public protocol Layer: AnyObject {
    /// This layer's own trainable tensors, in registration order.
    var ownParameters: [(name: String, tensor: Tensor)] { get }
    /// This layer's own non-trainable state (running statistics), in registration order.
    var ownBuffers: [(name: String, tensor: Tensor)] { get }
    /// Sub-layers with their attribute names.
    var children: [(name: String, layer: any Layer)] { get }
    /// Whether the layer is in training mode (batch statistics, dropout) or evaluation mode.
    var isTraining: Bool { get set }
}

/// A layer with one input and one output.
public protocol UnaryLayer: Layer {
    func callAsFunction(_ input: Tensor) -> Tensor
}

extension Layer {
    public var ownBuffers: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] { [] }

    /// Every trainable tensor of this layer and its descendants, with dotted names.
    public var parameters: [(name: String, tensor: Tensor)] {
        var result = ownParameters
        for (childName, child) in children {
            result += child.parameters.map { ("\(childName).\($0.name)", $0.tensor) }
        }
        return result
    }

    /// Every buffer of this layer and its descendants, with dotted names.
    public var buffers: [(name: String, tensor: Tensor)] {
        var result = ownBuffers
        for (childName, child) in children {
            result += child.buffers.map { ("\(childName).\($0.name)", $0.tensor) }
        }
        return result
    }

    /// Parameters then buffers: what a checkpoint stores (PyTorch's `state_dict` keys).
    public var stateDict: [(name: String, tensor: Tensor)] { parameters + buffers }

    /// The number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.tensor.count } }

    /// Sets training mode on this layer and every descendant.
    public func setTraining(_ training: Bool) {
        isTraining = training
        for (_, child) in children { child.setTraining(training) }
    }

    /// Makes every `BatchNorm` of this layer and its descendants take its training statistics over the ranks of
    /// `world` (synchronised batch norm); `SingleProcess.world` makes them per process again.
    public func synchronizeBatchNorm(over world: any Collective) {
        if let norm = self as? BatchNorm { norm.world = world.size > 1 ? world : nil }
        for (_, child) in children { child.synchronizeBatchNorm(over: world) }
    }

    /// Marks every parameter as requiring grad (or not), e.g. to freeze a pre-trained encoder.
    public func setRequiresGrad(_ requiresGrad: Bool) {
        for (_, tensor) in parameters { tensor.requiresGrad = requiresGrad }
    }

    /// Clears the gradients of every parameter.
    public func zeroGrad() {
        for (_, tensor) in parameters { tensor.zeroGrad() }
    }

    /// Copies values into the layer's tensors by name, in place (parameters keep their identity).
    /// Strict: any missing, unexpected or shape-mismatched name is an error that lists them all.
    public func loadStateDict(_ entries: [(String, Tensor)], source: String) throws {
        let own = stateDict
        let provided = Dictionary(entries, uniquingKeysWith: { first, _ in first })
        let expected = Set(own.map(\.name))
        let missing = own.map(\.name).filter { provided[$0] == nil }
        let unexpected = entries.map(\.0).filter { !expected.contains($0) }
        var mismatched: [String] = []
        for (name, tensor) in own {
            if let value = provided[name], value.shape != tensor.shape {
                mismatched.append("\(name): file has \(value.shape), model has \(tensor.shape)")
            }
        }
        if !missing.isEmpty || !unexpected.isEmpty || !mismatched.isEmpty {
            throw StateDictError(source: source, missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
        for (name, tensor) in own { tensor.assign(provided[name]!) }
    }

    /// Copies every parameter and buffer value from a layer of the same structure.
    public func copyState(from other: any Layer) {
        let source = other.stateDict
        let target = stateDict
        precondition(source.map(\.name) == target.map(\.name), "copyState: the two layers differ in structure")
        for ((_, destination), (_, value)) in zip(target, source) { destination.assign(value) }
    }
}

/// A state dict that does not fit a model, listing every problem.
public struct StateDictError: Error, CustomStringConvertible {
    /// The file or object the state dict came from.
    public let source: String
    /// Names the model has and the state dict lacks.
    public let missing: [String]
    /// Names the state dict has and the model lacks.
    public let unexpected: [String]
    /// Names present in both with different shapes (with both shapes).
    public let mismatched: [String]

    /// A mismatch report for `source`.
    public init(source: String, missing: [String], unexpected: [String], mismatched: [String]) {
        (self.source, self.missing, self.unexpected, self.mismatched) = (source, missing, unexpected, mismatched)
    }

    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing \(missing.count): \(missing.joined(separator: ", "))") }
        if !unexpected.isEmpty { parts.append("unexpected \(unexpected.count): \(unexpected.joined(separator: ", "))") }
        if !mismatched.isEmpty { parts.append("shape mismatch: \(mismatched.joined(separator: "; "))") }
        return "\(source): the tensors do not fit the model (\(parts.joined(separator: "; ")))"
    }
}

/// Layers in order, named "0", "1", … as in `torch.nn.Sequential`.
public final class Sequential: UnaryLayer {
    /// The layers, applied in order; named `0`, `1`, … as in `nn.Sequential`.
    public let layers: [any UnaryLayer]
    public var isTraining = true

    /// Applies `layers` in order.
    public init(_ layers: [any UnaryLayer]) { self.layers = layers }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] { layers.enumerated().map { ("\($0.offset)", $0.element) } }

    public func callAsFunction(_ input: Tensor) -> Tensor { layers.reduce(input) { $1($0) } }
}

/// An activation function as a parameterless layer.
public final class Activation: UnaryLayer {
    /// The activation functions.
    public enum Kind: String, Sendable, Codable { case relu, gelu, tanh, sigmoid, identity }
    /// Which activation this layer applies.
    public let kind: Kind
    public var isTraining = true
    /// An activation layer of `kind`.
    public init(_ kind: Kind) { self.kind = kind }
    public var ownParameters: [(name: String, tensor: Tensor)] { [] }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        switch kind {
        case .relu: return input.relu()
        case .gelu: return input.gelu()
        case .tanh: return input.tanh()
        case .sigmoid: return input.sigmoid()
        case .identity: return input
        }
    }
}
