// Multi-layer GRU and LSTM, batch-first `[N, T, C]`, with PyTorch's gate equations and parameter names.

import TensorCore

/// A multi-layer GRU (PyTorch `nn.GRU(batch_first=True)`).
///
/// Shapes: input `[N, T, inputSize]`, initial state `[layers, N, hiddenSize]` (zeros when nil) →
/// output `[N, T, hiddenSize]` (the last layer's states) and final state `[layers, N, hiddenSize]`.
/// Parameters per layer k: `weight_ih_lk` `[3H, in]`, `weight_hh_lk` `[3H, H]`, `bias_ih_lk`, `bias_hh_lk` `[3H]`,
/// all initialised U(−1/√H, 1/√H).
///
/// ### References
/// - Cho et al. 2014, "Learning phrase representations using RNN encoder-decoder for statistical machine translation".
public final class GRU: Layer {
    /// The input width, hidden width H and number of stacked layers.
    public let inputSize, hiddenSize, layerCount: Int
    let weights: RecurrentParameters
    /// `weight_ih_lk` per layer, `[3H, in]`.
    public var inputWeights: [Tensor] { weights.inputWeights }
    /// `weight_hh_lk` per layer, `[3H, H]`.
    public var hiddenWeights: [Tensor] { weights.hiddenWeights }
    /// `bias_ih_lk` per layer, `[3H]` (nil without biases).
    public var inputBiases: [Tensor]? { weights.inputBiases }
    /// `bias_hh_lk` per layer, `[3H]` (nil without biases).
    public var hiddenBiases: [Tensor]? { weights.hiddenBiases }
    public var isTraining = true

    /// A GRU of `layers` stacked layers, initialised as PyTorch's `nn.GRU`.
    public init(inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true, generator: inout RandomGenerator) {
        (self.inputSize, self.hiddenSize, self.layerCount) = (inputSize, hiddenSize, layers)
        weights = RecurrentParameters(gates: 3, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
                                      generator: &generator)
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { weights.named }

    public func callAsFunction(_ input: Tensor, initialState: Tensor? = nil) -> (output: Tensor, state: Tensor) {
        precondition(input.rank == 3 && input.shape[2] == inputSize, "GRU expects [N, T, \(inputSize)], found \(input.shape)")
        let n = input.shape[0], steps = input.shape[1]
        if let initialState { precondition(initialState.shape == [layerCount, n, hiddenSize], "GRU initial state \(initialState.shape), expected [\(layerCount), \(n), \(hiddenSize)]") }
        var x = input
        var finals: [Tensor] = []
        for k in 0..<layerCount {
            let gates = weights.inputGates(x, layer: k)
            let h0 = initialState?.sliced(alongAxis: 0, start: k, length: 1).reshaped([n, hiddenSize]) ?? Tensor.zeros([n, hiddenSize])
            x = gruSequence(inputGates: gates, hiddenWeight: hiddenWeights[k], hiddenBias: hiddenBiases?[k], initialState: h0)
            finals.append(x.sliced(alongAxis: 1, start: steps - 1, length: 1).reshaped([1, n, hiddenSize]))
        }
        return (x, Tensor.concatenate(finals, alongAxis: 0))
    }
}

/// A multi-layer LSTM (PyTorch `nn.LSTM(batch_first=True)`).
///
/// Shapes: input `[N, T, inputSize]`, initial (h, c) each `[layers, N, hiddenSize]` (zeros when nil) →
/// output `[N, T, hiddenSize]`, final h and c `[layers, N, hiddenSize]`.
/// Parameters per layer k: `weight_ih_lk` `[4H, in]`, `weight_hh_lk` `[4H, H]`, `bias_ih_lk`, `bias_hh_lk` `[4H]`.
///
/// ### References
/// - Hochreiter and Schmidhuber 1997, "Long short-term memory".
public final class LSTM: Layer {
    /// The input width, hidden width H and number of stacked layers.
    public let inputSize, hiddenSize, layerCount: Int
    let weights: RecurrentParameters
    /// `weight_ih_lk` per layer, `[4H, in]`.
    public var inputWeights: [Tensor] { weights.inputWeights }
    /// `weight_hh_lk` per layer, `[4H, H]`.
    public var hiddenWeights: [Tensor] { weights.hiddenWeights }
    /// `bias_ih_lk` per layer, `[4H]` (nil without biases).
    public var inputBiases: [Tensor]? { weights.inputBiases }
    /// `bias_hh_lk` per layer, `[4H]` (nil without biases).
    public var hiddenBiases: [Tensor]? { weights.hiddenBiases }
    public var isTraining = true

    /// An LSTM of `layers` stacked layers, initialised as PyTorch's `nn.LSTM`.
    public init(inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true, generator: inout RandomGenerator) {
        (self.inputSize, self.hiddenSize, self.layerCount) = (inputSize, hiddenSize, layers)
        weights = RecurrentParameters(gates: 4, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
                                      generator: &generator)
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { weights.named }

    public func callAsFunction(_ input: Tensor, initialState: (hidden: Tensor, cell: Tensor)? = nil)
        -> (output: Tensor, hidden: Tensor, cell: Tensor) {
        precondition(input.rank == 3 && input.shape[2] == inputSize, "LSTM expects [N, T, \(inputSize)], found \(input.shape)")
        let n = input.shape[0], steps = input.shape[1], h = hiddenSize
        var x = input
        var hiddens: [Tensor] = [], cells: [Tensor] = []
        for k in 0..<layerCount {
            let gates = weights.inputGates(x, layer: k)
            let h0 = initialState?.hidden.sliced(alongAxis: 0, start: k, length: 1).reshaped([n, h]) ?? Tensor.zeros([n, h])
            let c0 = initialState?.cell.sliced(alongAxis: 0, start: k, length: 1).reshaped([n, h]) ?? Tensor.zeros([n, h])
            let both = lstmSequence(inputGates: gates, hiddenWeight: hiddenWeights[k], hiddenBias: hiddenBiases?[k],
                                    initialState: h0, initialCell: c0)
            x = both.sliced(alongAxis: 2, start: 0, length: h)
            let last = both.sliced(alongAxis: 1, start: steps - 1, length: 1)
            hiddens.append(last.sliced(alongAxis: 2, start: 0, length: h).reshaped([1, n, h]))
            cells.append(last.sliced(alongAxis: 2, start: h, length: h).reshaped([1, n, h]))
        }
        return (x, Tensor.concatenate(hiddens, alongAxis: 0), Tensor.concatenate(cells, alongAxis: 0))
    }
}

/// Per-layer weights of a multi-layer recurrent net with `gates` gates (PyTorch's layout and initialisation).
struct RecurrentParameters {
    let inputWeights, hiddenWeights: [Tensor]
    let inputBiases, hiddenBiases: [Tensor]?

    init(gates: Int, inputSize: Int, hiddenSize: Int, layers: Int, bias: Bool, generator: inout RandomGenerator) {
        let bound = 1 / Float(hiddenSize).squareRoot()
        var wi: [Tensor] = [], wh: [Tensor] = [], bi: [Tensor] = [], bh: [Tensor] = []
        for k in 0..<layers {
            wi.append(Initialization.uniformBound([gates * hiddenSize, k == 0 ? inputSize : hiddenSize], bound: bound, generator: &generator))
            wh.append(Initialization.uniformBound([gates * hiddenSize, hiddenSize], bound: bound, generator: &generator))
            if bias {
                bi.append(Initialization.uniformBound([gates * hiddenSize], bound: bound, generator: &generator))
                bh.append(Initialization.uniformBound([gates * hiddenSize], bound: bound, generator: &generator))
            }
        }
        (inputWeights, hiddenWeights) = (wi, wh)
        (inputBiases, hiddenBiases) = bias ? (bi, bh) : (nil, nil)
    }

    /// `weight_ih_lk`, `weight_hh_lk`, `bias_ih_lk`, `bias_hh_lk` for each layer k.
    var named: [(name: String, tensor: Tensor)] {
        (0..<inputWeights.count).flatMap { k -> [(name: String, tensor: Tensor)] in
            var list: [(name: String, tensor: Tensor)] = [("weight_ih_l\(k)", inputWeights[k]), ("weight_hh_l\(k)", hiddenWeights[k])]
            if let inputBiases, let hiddenBiases { list += [("bias_ih_l\(k)", inputBiases[k]), ("bias_hh_l\(k)", hiddenBiases[k])] }
            return list
        }
    }

    /// x·W_ihᵀ + b_ih for layer k, all steps in one GEMM: [N, T, in] → [N, T, gates·H].
    func inputGates(_ x: Tensor, layer k: Int) -> Tensor {
        let gates = matmul(x, inputWeights[k], transposeB: true)
        return inputBiases.map { gates + $0[k] } ?? gates
    }
}
