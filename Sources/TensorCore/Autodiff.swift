// Reverse-mode automatic differentiation on a dynamic tape (define-by-run, as in PyTorch).
//
// Each op that sees an input requiring grad attaches a `GradNode` to its result: the inputs and a closure that maps
// the gradient of the result to the gradients of the inputs (the vector-Jacobian product, written beside the op's
// forward). `backward()` orders the nodes reachable from the loss, runs the closures in reverse under no-grad, sums
// the gradients of tensors used more than once, accumulates into `.grad` of leaves, and frees the nodes.

/// A recorded op: its inputs and its vector-Jacobian product.
final class GradNode {
    let inputs: [Tensor]
    /// Maps (gradient of the output, the output itself) to one gradient per input (nil where none flows).
    /// The output is passed in rather than captured so that no reference cycle forms.
    let vectorJacobianProduct: (Tensor, Tensor) -> [Tensor?]

    init(inputs: [Tensor], vectorJacobianProduct: @escaping (Tensor, Tensor) -> [Tensor?]) {
        self.inputs = inputs
        self.vectorJacobianProduct = vectorJacobianProduct
    }
}

/// Whether ops record gradient nodes. Scoped per task/thread, so parallel tests and workers do not interfere.
public enum GradMode {
    @TaskLocal static var isEnabled = true

    /// Whether ops currently record the tape.
    public static var isGradEnabled: Bool { isEnabled }

    /// Runs `body` without recording: for evaluation, probes, EMA targets and optimiser updates.
    public static func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
        try $isEnabled.withValue(false, operation: body)
    }
}

/// Runs `body` without recording the tape (shorthand for ``GradMode/withoutGrad(_:)``).
public func withoutGrad<R>(_ body: () throws -> R) rethrows -> R { try GradMode.withoutGrad(body) }

extension Tensor {
    /// Attaches a gradient node to `output` when grad mode is on and some input requires grad. Returns `output`.
    /// This is how ops are defined, here and in other modules (fused kernels such as InfoNCE scores): compute the
    /// result without recording, then call `record` with a closure that maps (gradient of the result, the result) to
    /// one gradient per input (nil where none flows), each of its input's shape. The closure runs under no-grad.
    @discardableResult
    public static func record(_ output: Tensor, inputs: [Tensor],
                       vectorJacobianProduct: @escaping (Tensor, Tensor) -> [Tensor?]) -> Tensor {
        guard inputs.contains(where: { $0.requiresGrad }), GradMode.isEnabled else { return output }
        output.gradNode = GradNode(inputs: inputs, vectorJacobianProduct: vectorJacobianProduct)
        output.requiresGrad = true
        return output
    }

    /// Back-propagates from this tensor: fills `.grad` (accumulating) of every leaf that requires grad and that this
    /// tensor depends on, then frees the recorded graph. A non-scalar tensor needs `gradient` (same shape).
    public func backward(_ gradient: Tensor? = nil) {
        precondition(requiresGrad, "backward() on a tensor that does not require grad")
        let seed: Tensor
        if let gradient {
            precondition(gradient.shape == shape, "backward gradient \(gradient.shape) does not match \(shape)")
            seed = gradient.detached()
        } else {
            precondition(count == 1, "backward() without a gradient needs a one-element tensor, found \(shape)")
            seed = Tensor.ones(shape)
        }
        let order = topologicalOrder()
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        withoutGrad {
            for tensor in order.reversed() {
                guard let gradient = pending.removeValue(forKey: ObjectIdentifier(tensor)) else { continue }
                guard let node = tensor.gradNode else {
                    if tensor.requiresGrad { tensor.accumulateGrad(gradient) }
                    continue
                }
                let inputGrads = node.vectorJacobianProduct(gradient, tensor)
                precondition(inputGrads.count == node.inputs.count, "VJP returned the wrong number of gradients")
                for (input, inputGrad) in zip(node.inputs, inputGrads) {
                    guard input.requiresGrad, let inputGrad else { continue }
                    precondition(inputGrad.shape == input.shape,
                                 "VJP gradient \(inputGrad.shape) does not match input \(input.shape)")
                    let key = ObjectIdentifier(input)
                    if let existing = pending[key] {
                        pending[key] = existing + inputGrad
                    } else {
                        pending[key] = inputGrad
                    }
                }
            }
        }
        // Free the tape: op results forget their nodes so the cached activations can be released.
        for tensor in order where tensor.gradNode != nil { tensor.gradNode = nil }
    }

    /// Every tensor reachable from this one through gradient nodes, inputs before the tensors made from them.
    private func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        // Iterative depth-first search: recurrent nets make graphs far deeper than the call stack allows.
        var stack: [(tensor: Tensor, expanded: Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded { order.append(tensor); continue }
            let key = ObjectIdentifier(tensor)
            if visited.contains(key) { continue }
            visited.insert(key)
            stack.append((tensor, true))
            if let node = tensor.gradNode {
                for input in node.inputs where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }
        return order
    }

    private func accumulateGrad(_ gradient: Tensor) {
        if let existing = grad {
            existing.withUnsafeMutableBufferPointer { destination in
                gradient.withUnsafeBufferPointer { source in
                    for i in 0..<count { destination[i] += source[i] }
                }
            }
        } else {
            // Own storage, so that later in-place accumulation never writes into a shared buffer.
            grad = gradient.copy()
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }
}
