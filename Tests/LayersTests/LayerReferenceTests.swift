// Layers forward and backward against PyTorch, from Tests/Fixtures/layers.json
// (written by Tests/Fixtures/generate_layers.py with torch 2.13.0+cpu).

import Layers
import Testing
import TensorCore
import TestSupport

/// Loads the fixture's parameters (`param.<name>`) into `layer`; entries the fixture lacks (integer buffers such as
/// `num_batches_tracked`) keep the layer's own values.
func loadFixtureParameters(_ layer: any Layer, _ fixture: Fixture, _ name: String) throws {
    let entries = try layer.stateDict.map { entry -> (String, Tensor) in
        fixture.has(name, "param." + entry.name) ? (entry.name, try fixture.tensor(name, "param." + entry.name))
            : (entry.name, entry.tensor.copy())
    }
    try layer.loadStateDict(entries, source: "\(fixture.path) case \(name)")
}

/// Runs `forward`, compares outputs, backpropagates Σ outputᵢ ⊙ upstreamᵢ, and compares input and parameter grads.
func checkLayer(_ name: String, _ layer: any Layer, inputs: [String], tolerance: Float = 1e-4,
                _ forward: ([Tensor]) -> [Tensor]) throws {
    let fixture = try Fixture("layers")
    try loadFixtureParameters(layer, fixture, name)
    let tensors = try inputs.map { try fixture.tensor(name, $0) }
    for tensor in tensors { tensor.requiresGrad = true }
    let outputs = forward(tensors)
    var loss: Tensor?
    for (i, output) in outputs.enumerated() {
        let expected = try fixture.tensor(name, "output\(i)")
        #expect(output.shape == expected.shape, "\(name): output \(i) shape \(output.shape) vs \(expected.shape)")
        let error = maxAbsoluteDifference(output.scalars, expected.scalars)
        #expect(error <= tolerance, "\(name): output \(i) differs by \(error)")
        let term = (output * (try fixture.tensor(name, "upstream\(i)"))).sum()
        loss = loss.map { $0 + term } ?? term
    }
    loss?.backward()
    for (key, tensor) in zip(inputs, tensors) {
        let error = maxAbsoluteDifference(tensor.grad?.scalars ?? [], try fixture.tensor(name, "grad." + key).scalars)
        #expect(error <= tolerance, "\(name): gradient of input \(key) differs by \(error)")
    }
    for (parameterName, parameter) in layer.parameters {
        let expected = try fixture.tensor(name, "grad.param." + parameterName)
        let error = maxAbsoluteDifference(parameter.grad?.scalars ?? [], expected.scalars)
        #expect(error <= tolerance, "\(name): gradient of \(parameterName) differs by \(error)")
    }
}

@Suite struct LayerReferenceTests {
    @Test func linear() throws {
        var g = RandomGenerator(seed: 1)
        let layer = Linear(inputSize: 5, outputSize: 3, generator: &g)
        try checkLayer("linear", layer, inputs: ["x"]) { [layer($0[0])] }
    }

    @Test func convolutions() throws {
        var g = RandomGenerator(seed: 1)
        let c1 = Conv1d(inputChannels: 3, outputChannels: 4, kernelSize: 5, stride: 2, padding: 1, generator: &g)
        try checkLayer("conv1d", c1, inputs: ["x"]) { [c1($0[0])] }
        let c2 = Conv2d(inputChannels: 3, outputChannels: 4, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), generator: &g)
        try checkLayer("conv2d", c2, inputs: ["x"]) { [c2($0[0])] }
    }

    @Test func gruOutputsAndFinalStateWithInitialState() throws {
        var g = RandomGenerator(seed: 1)
        let gru = GRU(inputSize: 4, hiddenSize: 5, layers: 2, generator: &g)
        try checkLayer("gru", gru, inputs: ["x", "h0"]) { t in
            let (output, state) = gru(t[0], initialState: t[1])
            return [output, state]
        }
    }

    @Test func lstmOutputsAndFinalStatesWithInitialState() throws {
        var g = RandomGenerator(seed: 1)
        let lstm = LSTM(inputSize: 4, hiddenSize: 5, layers: 2, generator: &g)
        try checkLayer("lstm", lstm, inputs: ["x", "h0", "c0"]) { t in
            let (output, hidden, cell) = lstm(t[0], initialState: (t[1], t[2]))
            return [output, hidden, cell]
        }
    }

    @Test func batchNormTrainingUpdatesRunningStatisticsThenEvaluates() throws {
        let bn = BatchNorm(features: 4)
        try checkLayer("batchnorm_train", bn, inputs: ["x"]) { [bn($0[0])] }
        let fixture = try Fixture("layers")
        #expect(maxAbsoluteDifference(bn.runningMean.scalars, try fixture.tensor("batchnorm_train", "after.running_mean").scalars) < 1e-5)
        #expect(maxAbsoluteDifference(bn.runningVariance.scalars, try fixture.tensor("batchnorm_train", "after.running_var").scalars) < 1e-5)
        #expect(bn.batchesTracked.item == 1)
        bn.setTraining(false)
        let evaluated = bn(try fixture.tensor("batchnorm_train", "eval_input"))
        #expect(maxAbsoluteDifference(evaluated.scalars, try fixture.tensor("batchnorm_train", "eval_output").scalars) < 1e-4)
    }

    @Test func layerChannelAndGroupNorms() throws {
        let ln = LayerNorm(features: 6)
        try checkLayer("layernorm", ln, inputs: ["x"]) { [ln($0[0])] }
        let cn = ChannelNorm(features: 6)
        try checkLayer("channelnorm", cn, inputs: ["x"]) { [cn($0[0])] }
        let gn = GroupNorm(groups: 2, channels: 6)
        try checkLayer("groupnorm", gn, inputs: ["x"]) { [gn($0[0])] }
    }

    @Test func residualBlockAndMLP() throws {
        var g = RandomGenerator(seed: 1)
        let block = ResidualBlock(inputChannels: 3, outputChannels: 4, stride: 2, normalization: .batch, generator: &g)
        try checkLayer("resblock", block, inputs: ["x"], tolerance: 2e-4) { [block($0[0])] }
        let mlp = makeMLP(inputSize: 6, hiddenSizes: [8], outputSize: 3, normalization: .batch, generator: &g)
        try checkLayer("mlp", mlp, inputs: ["x"]) { [mlp($0[0])] }
    }
}

@Suite struct AttentionReferenceTests {
    @Test func causalTransformerLayerMatchesPyTorch() throws {
        var g = RandomGenerator(seed: 1)
        let layer = TransformerEncoderLayer(width: 8, heads: 2, feedForward: 12, causal: true, generator: &g)
        #expect(layer.parameters.map(\.name) == [
            "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
            "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight", "norm1.bias",
            "norm2.weight", "norm2.bias",
        ])
        try checkLayer("transformer_causal", layer, inputs: ["x"]) { [layer($0[0])] }
    }

    @Test func causalAttentionIgnoresTheFuture() {
        var g = RandomGenerator(seed: 2)
        let layer = TransformerEncoderLayer(width: 4, heads: 2, feedForward: 8, causal: true, generator: &g)
        let x = Tensor.uniform([1, 6, 4], low: -1, high: 1, generator: &g)
        let changed = x.copy()
        changed.withUnsafeMutableBufferPointer { for i in 16..<24 { $0[i] += 5 } }  // positions 4 and 5
        let a = layer(x).scalars, b = layer(changed).scalars
        #expect(Array(a[0..<16]) == Array(b[0..<16]), "positions 0…3 must not see positions 4…5")
        #expect(Array(a[16..<24]) != Array(b[16..<24]))
        let check = checkGradients([x.copy()] + layer.parameters.map(\.tensor)) { t in layer(t[0]) }
        #expect(check.passed, "transformer layer: \(check)")
    }

    /// CPC_audio's relative-position transformer layer (its PyTorch reference is the `lstm_transformer` case of
    /// Tests/Fixtures/generate_cpc_audio.py, checked through the converted model in CPCAudioInteropTests).
    @Test func relativePositionLayerIsCausalUsesRelativeDistancesAndHasExactGradients() {
        var g = RandomGenerator(seed: 4)
        let layer = RelativePositionTransformerLayer(width: 4, heads: 2, feedForward: 6, positions: 7, generator: &g)
        #expect(layer.parameters.map(\.name).contains("multihead.Att.Krelpos") && layer.attention.relativePositions.shape == [2, 7])
        let x = Tensor.uniform([2, 5, 4], low: -1, high: 1, generator: &g)
        let changed = x.copy()
        changed.withUnsafeMutableBufferPointer { for i in 12..<20 { $0[i] += 5 } }  // positions 3 and 4 of the first sequence
        let a = layer(x).scalars, b = layer(changed).scalars
        #expect(Array(a[0..<12]) == Array(b[0..<12]), "positions 0…2 must not see positions 3…4")
        #expect(Array(a[12..<20]) != Array(b[12..<20]) && Array(a[20...]) == Array(b[20...]))
        // Query i meets key j ≤ i through column S − 1 − (i − j) of the table: the diagonal uses the last column.
        #expect(RelativePositionAttention.relativeIndices(batch: 1, length: 3, positions: 7) == [6, 6, 6, 5, 6, 6, 4, 5, 6])
        let check = checkGradients([x.copy()] + layer.parameters.map(\.tensor)) { t in layer(t[0]) }
        #expect(check.passed, "relative-position transformer layer: \(check)")
    }
}
