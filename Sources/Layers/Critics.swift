// Critics for mutual-information bounds (Poole et al. 2019, §4): networks that score every pair (x_i, y_j) of a batch,
// so that the bounds in Objectives see the N joint pairs on the diagonal and N(N − 1) product-of-marginals pairs off it.
//
// Glossary: N batch size, D input width (x and y alike), H hidden width, E embedding width.

import TensorCore

/// A network that scores every pair of a batch: `scores(x, y)[i, j] = f(x_i, y_j)`.
public protocol Critic: Layer {
    /// Shapes: `x`, `y` `[N, D]` → `[N, N]`.
    func scores(_ x: Tensor, _ y: Tensor) -> Tensor
}

/// The separable critic f(x, y) = g(x)ᵀh(y): two MLPs (D → H × layers → E, ReLU) and one GEMM for all N² pairs.
/// Parameters: `g.*` and `h.*`, each a `Sequential` of Linear and activation layers (PyTorch's `nn.Sequential` names).
///
/// ### References
/// - Poole et al. 2019, "On variational bounds of mutual information" (§4).
public final class SeparableCritic: Critic {
    /// g (on x) and h (on y): each D → H × layers → E.
    public let g: Sequential, h: Sequential
    public var isTraining = true

    /// MLPs of `hiddenLayers` hidden layers of width `hiddenSize` and output width `embeddingSize` (Poole et al.: 256, 2, 32).
    public init(inputSize: Int, hiddenSize: Int = 256, hiddenLayers: Int = 2, embeddingSize: Int = 32,
                generator: inout RandomGenerator) {
        let hidden = [Int](repeating: hiddenSize, count: hiddenLayers)
        g = makeMLP(inputSize: inputSize, hiddenSizes: hidden, outputSize: embeddingSize, generator: &generator)
        h = makeMLP(inputSize: inputSize, hiddenSizes: hidden, outputSize: embeddingSize, generator: &generator)
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] { [("g", g), ("h", h)] }

    public func scores(_ x: Tensor, _ y: Tensor) -> Tensor { matmul(g(x), h(y), transposeB: true) }
}

/// The concatenated critic f(x, y) = MLP([x, y]) (2D → H × layers → 1, ReLU), evaluated on all N² pairs. The first
/// layer is applied to x and y apart (W·[x; y] = W_x·x + W_y·y) and broadcast over the pairs, which gives the same
/// scores as concatenating each pair for N² · 2D · H fewer multiply-adds.
/// Parameters: `f.*`, a `Sequential` of Linear and activation layers (`f.0.weight` is `[H, 2D]`, x's columns first).
///
/// ### References
/// - Poole et al. 2019, "On variational bounds of mutual information" (§4).
public final class ConcatCritic: Critic {
    /// The MLP on [x, y]: 2D → H × layers → 1.
    public let f: Sequential
    public var isTraining = true
    let inputSize: Int

    /// An MLP of `hiddenLayers` hidden layers of width `hiddenSize` on pairs of `inputSize`-wide x and y.
    public init(inputSize: Int, hiddenSize: Int = 256, hiddenLayers: Int = 2, generator: inout RandomGenerator) {
        precondition(hiddenLayers >= 1, "the concatenated critic needs at least one hidden layer")
        self.inputSize = inputSize
        f = makeMLP(inputSize: 2 * inputSize, hiddenSizes: [Int](repeating: hiddenSize, count: hiddenLayers), outputSize: 1,
                    generator: &generator)
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var children: [(name: String, layer: any Layer)] { [("f", f)] }

    public func scores(_ x: Tensor, _ y: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.shape == y.shape && x.shape[1] == inputSize,
                     "the concatenated critic expects x and y [N, \(inputSize)], found \(x.shape), \(y.shape)")
        guard let first = f.layers.first as? Linear, let bias = first.bias else { preconditionFailure("f.0 must be a Linear with a bias") }
        let n = x.shape[0], hidden = first.weight.shape[0]
        let fromX = matmul(x, first.weight.sliced(alongAxis: 1, start: 0, length: inputSize), transposeB: true)       // [N, H]
        let fromY = matmul(y, first.weight.sliced(alongAxis: 1, start: inputSize, length: inputSize), transposeB: true) + bias
        let pairs = (fromX.reshaped([n, 1, hidden]) + fromY.reshaped([1, n, hidden])).reshaped([n * n, hidden])  // row i·N + j
        return f.layers.dropFirst().reduce(pairs) { $1($0) }.reshaped([n, n])
    }
}
