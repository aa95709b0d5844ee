// The MI critics (Layers/Critics.swift): parameter names and shapes, the concatenated critic's factored first layer
// against concatenating every pair, and finite differences through both critics.

import Layers
import Testing
import TensorCore
import TestSupport

@Suite struct CriticTests {
    @Test func parameterNamesAndShapes() {
        var g = RandomGenerator(seed: 1)
        let separable = SeparableCritic(inputSize: 20, generator: &g)
        #expect(separable.stateDict.map { "\($0.name) \($0.tensor.shape)" } == [
            "g.0.weight [256, 20]", "g.0.bias [256]", "g.2.weight [256, 256]", "g.2.bias [256]", "g.4.weight [32, 256]", "g.4.bias [32]",
            "h.0.weight [256, 20]", "h.0.bias [256]", "h.2.weight [256, 256]", "h.2.bias [256]", "h.4.weight [32, 256]", "h.4.bias [32]",
        ])
        let concat = ConcatCritic(inputSize: 20, generator: &g)
        #expect(concat.stateDict.map { "\($0.name) \($0.tensor.shape)" } == [
            "f.0.weight [256, 40]", "f.0.bias [256]", "f.2.weight [256, 256]", "f.2.bias [256]", "f.4.weight [1, 256]", "f.4.bias [1]",
        ])
    }

    @Test func scoresEveryPair() {
        var g = RandomGenerator(seed: 2)
        let (n, d) = (5, 3)
        let x = Tensor.normal([n, d], generator: &g), y = Tensor.normal([n, d], generator: &g)
        // Separable: g(x_i)·h(y_j).
        let separable = SeparableCritic(inputSize: d, hiddenSize: 8, embeddingSize: 4, generator: &g)
        let gx = separable.g(x).scalars, hy = separable.h(y).scalars
        let scores = separable.scores(x, y)
        #expect(scores.shape == [n, n])
        for i in 0..<n {
            for j in 0..<n {
                let dot = (0..<4).reduce(Float(0)) { $0 + gx[i * 4 + $1] * hy[j * 4 + $1] }
                #expect(Swift.abs(scores.scalars[i * n + j] - dot) < 1e-5)
            }
        }
        // Concatenated: the MLP on [x_i, y_j], row by row.
        let concat = ConcatCritic(inputSize: d, hiddenSize: 8, hiddenLayers: 2, generator: &g)
        let fast = concat.scores(x, y).scalars
        for i in 0..<n {
            for j in 0..<n {
                let pair = Tensor.concatenate([x.sliced(alongAxis: 0, start: i, length: 1), y.sliced(alongAxis: 0, start: j, length: 1)],
                                              alongAxis: 1)
                #expect(Swift.abs(concat.f(pair).item - fast[i * n + j]) < 1e-5, "pair (\(i), \(j))")
            }
        }
    }

    @Test func gradientsMatchFiniteDifferences() {
        var g = RandomGenerator(seed: 3)
        let x = Tensor.normal([4, 3], generator: &g), y = Tensor.normal([4, 3], generator: &g)
        let critics: [(String, any Critic)] = [
            ("separable", SeparableCritic(inputSize: 3, hiddenSize: 6, embeddingSize: 4, generator: &g)),
            ("concat", ConcatCritic(inputSize: 3, hiddenSize: 6, hiddenLayers: 2, generator: &g)),
        ]
        for (name, critic) in critics {
            let result = checkGradients([x.copy(), y.copy()] + critic.parameters.map(\.tensor)) { inputs in
                critic.scores(inputs[0], inputs[1])
            }
            #expect(result.passed, "\(name): \(result)")
        }
    }
}
