// Parameter names and shapes (PyTorch's), initialisation ranges, modes, gradient checks, and momentum copies.

import Layers
import Testing
import TensorCore
import TestSupport

private func shapes(_ layer: any Layer) -> [String] { layer.stateDict.map { "\($0.name) \($0.tensor.shape)" } }

@Suite struct LayerTests {
    @Test func parameterNamesAndShapesMatchPyTorch() {
        var g = RandomGenerator(seed: 2)
        #expect(shapes(Linear(inputSize: 5, outputSize: 3, generator: &g)) == ["weight [3, 5]", "bias [3]"])
        #expect(shapes(Conv1d(inputChannels: 2, outputChannels: 4, kernelSize: 3, groups: 2, bias: false, generator: &g))
            == ["weight [4, 1, 3]"])
        #expect(shapes(Conv2d(inputChannels: 3, outputChannels: 8, kernelSize: (3, 2), generator: &g))
            == ["weight [8, 3, 3, 2]", "bias [8]"])
        #expect(shapes(GRU(inputSize: 4, hiddenSize: 5, layers: 2, generator: &g)) == [
            "weight_ih_l0 [15, 4]", "weight_hh_l0 [15, 5]", "bias_ih_l0 [15]", "bias_hh_l0 [15]",
            "weight_ih_l1 [15, 5]", "weight_hh_l1 [15, 5]", "bias_ih_l1 [15]", "bias_hh_l1 [15]",
        ])
        #expect(shapes(LSTM(inputSize: 3, hiddenSize: 2, generator: &g)) == [
            "weight_ih_l0 [8, 3]", "weight_hh_l0 [8, 2]", "bias_ih_l0 [8]", "bias_hh_l0 [8]",
        ])
        #expect(shapes(BatchNorm(features: 4)) == [
            "weight [4]", "bias [4]", "running_mean [4]", "running_var [4]", "num_batches_tracked []",
        ])
        #expect(shapes(LayerNorm(features: 3)) == ["weight [3]", "bias [3]"])
        #expect(shapes(ChannelNorm(features: 3)) == ["weight [3]", "bias [3]"])
        #expect(shapes(GroupNorm(groups: 2, channels: 4)) == ["weight [4]", "bias [4]"])
        #expect(shapes(makeMLP(inputSize: 6, hiddenSizes: [8], outputSize: 3, normalization: .batch, generator: &g)) == [
            "0.weight [8, 6]", "1.weight [8]", "1.bias [8]", "3.weight [3, 8]", "3.bias [3]",
            "1.running_mean [8]", "1.running_var [8]", "1.num_batches_tracked []",
        ])
        let block = ResidualBlock(inputChannels: 3, outputChannels: 4, stride: 2, generator: &g)
        #expect(block.parameters.map(\.name) == [
            "conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias",
            "downsample.0.weight", "downsample.1.weight", "downsample.1.bias",
        ])
    }

    @Test func initialisationFollowsPyTorchBounds() {
        var g = RandomGenerator(seed: 3)
        let linear = Linear(inputSize: 100, outputSize: 50, generator: &g)
        let bound: Float = 0.1  // 1/√100
        #expect(linear.weight.scalars.allSatisfy { Swift.abs($0) <= bound })
        #expect(linear.weight.scalars.map { Swift.abs($0) }.max()! > 0.09, "draws should fill the range")
        let gru = GRU(inputSize: 3, hiddenSize: 16, generator: &g)
        #expect(gru.parameters.allSatisfy { $0.tensor.scalars.allSatisfy { Swift.abs($0) <= 0.25 } })
        #expect(gru.parameters.allSatisfy { $0.tensor.requiresGrad })
        // Same seed, same weights.
        var a = RandomGenerator(seed: 4), b = RandomGenerator(seed: 4)
        #expect(Linear(inputSize: 3, outputSize: 2, generator: &a).weight.scalars
            == Linear(inputSize: 3, outputSize: 2, generator: &b).weight.scalars)
    }

    @Test func dropoutAndModes() {
        let dropout = Dropout(probability: 0.5, generator: RandomGenerator(seed: 5))
        let x = Tensor.ones([1000])
        let y = dropout(x).scalars
        #expect(Set(y).isSubset(of: [0, 2]))
        let kept = y.filter { $0 > 0 }.count
        #expect(kept > 400 && kept < 600, "kept \(kept) of 1000")
        let model = Sequential([Linear(inputSize: 2, outputSize: 2, generator: &dropout.generator), dropout])
        model.setTraining(false)
        #expect(!dropout.isTraining)
        #expect(dropout(x).scalars == x.scalars, "dropout is the identity in evaluation mode")
    }

    @Test func layerGradientsMatchFiniteDifferences() {
        var g = RandomGenerator(seed: 6)
        let gru = GRU(inputSize: 3, hiddenSize: 4, layers: 2, generator: &g)
        let x = Tensor.uniform([2, 5, 3], low: -1, high: 1, generator: &g)
        let h0 = Tensor.uniform([2, 2, 4], low: -1, high: 1, generator: &g)
        let gruParameters = gru.parameters.map(\.tensor)
        let gruCheck = checkGradients([x, h0] + gruParameters) { t in
            let (output, state) = gru(t[0], initialState: t[1])
            return Tensor.concatenate([output.reshaped([-1]), state.reshaped([-1])], alongAxis: 0)
        }
        #expect(gruCheck.passed, "GRU: \(gruCheck)")

        let lstm = LSTM(inputSize: 3, hiddenSize: 3, layers: 2, generator: &g)
        let c0 = Tensor.uniform([2, 2, 3], low: -1, high: 1, generator: &g)
        let hl = Tensor.uniform([2, 2, 3], low: -1, high: 1, generator: &g)
        let lstmCheck = checkGradients([x, hl, c0] + lstm.parameters.map(\.tensor)) { t in
            let (output, hidden, cell) = lstm(t[0], initialState: (t[1], t[2]))
            return Tensor.concatenate([output.reshaped([-1]), hidden.reshaped([-1]), cell.reshaped([-1])], alongAxis: 0)
        }
        #expect(lstmCheck.passed, "LSTM: \(lstmCheck)")

        let bn = BatchNorm(features: 3)
        let input = Tensor.uniform([4, 2, 3], low: -2, high: 2, generator: &g)
        let bnCheck = checkGradients([input] + bn.parameters.map(\.tensor)) { t in bn(t[0]) }
        #expect(bnCheck.passed, "BatchNorm: \(bnCheck)")

        let norms: [(String, any UnaryLayer)] = [
            ("LayerNorm", LayerNorm(features: 3)), ("ChannelNorm", ChannelNorm(features: 3)),
            ("GroupNorm", GroupNorm(groups: 3, channels: 3)),
        ]
        for (name, norm) in norms {
            let check = checkGradients([input] + norm.parameters.map(\.tensor)) { t in norm(t[0]) }
            #expect(check.passed, "\(name): \(check)")
        }
        let block = ResidualBlock(inputChannels: 2, outputChannels: 3, stride: 2, normalization: .layer, generator: &g)
        let image = Tensor.uniform([1, 4, 4, 2], low: -1, high: 1, generator: &g)
        let blockCheck = checkGradients([image] + block.parameters.map(\.tensor)) { t in block(t[0]) }
        #expect(blockCheck.passed, "ResidualBlock: \(blockCheck)")
        let conv1 = Conv1d(inputChannels: 3, outputChannels: 2, kernelSize: 2, stride: 2, padding: 1, generator: &g)
        let conv1Check = checkGradients([input] + conv1.parameters.map(\.tensor)) { t in conv1(t[0]) }
        #expect(conv1Check.passed, "Conv1d: \(conv1Check)")
        let conv2 = Conv2d(inputChannels: 2, outputChannels: 2, kernelSize: (2, 2), padding: (1, 0), generator: &g)
        let conv2Check = checkGradients([image] + conv2.parameters.map(\.tensor)) { t in conv2(t[0]) }
        #expect(conv2Check.passed, "Conv2d: \(conv2Check)")
        let mlp = makeMLP(inputSize: 3, hiddenSizes: [4], outputSize: 2, normalization: .batch, generator: &g)
        let flat = input.reshaped([8, 3]).copy()
        let mlpCheck = checkGradients([flat] + mlp.parameters.map(\.tensor)) { t in mlp(t[0]) }
        #expect(mlpCheck.passed, "MLP: \(mlpCheck)")
        let linear = Linear(inputSize: 3, outputSize: 2, generator: &g)
        let linearCheck = checkGradients([input] + linear.parameters.map(\.tensor)) { t in linear(t[0]) }
        #expect(linearCheck.passed, "Linear: \(linearCheck)")
    }

    @Test func momentumCopyTracksTheOnlineNetwork() {
        var g = RandomGenerator(seed: 7)
        let online = Linear(inputSize: 2, outputSize: 2, generator: &g)
        let ema = MomentumCopy(of: online) { Linear(inputSize: 2, outputSize: 2, generator: &g) }
        #expect(ema.target.weight.scalars == online.weight.scalars)
        #expect(!ema.target.weight.requiresGrad)
        let before = ema.target.weight.scalars
        online.weight.assign(online.weight + 1)
        ema.update(from: online, momentum: 0.9)
        let expected = zip(before, online.weight.scalars).map { 0.9 * $0 + 0.1 * $1 }
        #expect(maxAbsoluteDifference(ema.target.weight.scalars, expected) < 1e-6)
    }
}
