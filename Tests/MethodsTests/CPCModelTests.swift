// The whole CPC model: forward loss and every parameter gradient against PyTorch (Tests/Fixtures/cpc.json), parameter
// names, config validation, and a loss that falls under a few optimiser steps.

import Foundation
import Layers
import Methods
import Objectives
import Testing
import TensorCore
import TestSupport

func smallConfig() -> CPCConfig {
    var config = CPCConfig()
    config.encoder.channels = 6
    config.encoder.kernels = [10, 4]
    config.encoder.strides = [5, 2]
    config.encoder.normalization = .channel
    config.context.hidden = 5
    config.predictionSteps = 3
    config.negatives = 4
    return config
}

@Suite struct CPCModelTests {
    @Test func parameterNames() {
        let method = CPCAudio(config: smallConfig(), seed: 1)
        #expect(method.model.parameters.map { "\($0.name) \($0.tensor.shape)" } == [
            "encoder.conv0.weight [6, 1, 10]", "encoder.conv0.bias [6]", "encoder.norm0.weight [6]", "encoder.norm0.bias [6]",
            "encoder.conv1.weight [6, 6, 4]", "encoder.conv1.bias [6]", "encoder.norm1.weight [6]", "encoder.norm1.bias [6]",
            "context.weight_ih_l0 [15, 6]", "context.weight_hh_l0 [15, 5]", "context.bias_ih_l0 [15]", "context.bias_hh_l0 [15]",
            "predictors.0.weight [6, 5]", "predictors.1.weight [6, 5]", "predictors.2.weight [6, 5]",
        ])
    }

    @Test func transformerPredictorAddsItsLayerUnderPyTorchNames() {
        var config = smallConfig()
        config.context.hidden = 6
        config.predictor.type = .transformer
        config.predictor.heads = 3
        let names = CPCAudio(config: config, seed: 1).model.parameters.map(\.name)
        #expect(names.contains("predictor.self_attn.in_proj_weight") && names.contains("predictor.norm2.bias"))
        #expect(names.last == "predictors.2.weight")
    }

    @Test func lossAndGradientsMatchPyTorch() throws {
        let fixture = try Fixture("cpc")
        let method = CPCAudio(config: smallConfig(), seed: 1)
        try method.model.loadStateDict(try method.model.stateDict.map { ($0.name, try fixture.tensor("small_cpc", "param." + $0.name)) },
                                       source: fixture.path)
        let audio = try fixture.tensor("small_cpc", "audio")
        let output = method.loss(Batch(inputs: audio, labels: [0, 1], items: [0, 1], index: 0),
                                          negatives: try fixture.integers("small_cpc", "negatives"))
        let (loss, metrics) = (output.loss, output.metrics)
        #expect(Swift.abs(Double(loss.item) - (try fixture.number("small_cpc", "loss"))) < 1e-5)
        let perK = try fixture.tensor("small_cpc", "loss_per_k").scalars
        #expect(maxAbsoluteDifference([metrics["loss_k1"]!, metrics["loss_k2"]!, metrics["loss_k3"]!], perK) < 1e-5)
        loss.backward()
        for (name, parameter) in method.model.parameters {
            let expected = try fixture.tensor("small_cpc", "grad." + name)
            let error = maxAbsoluteDifference(parameter.grad?.scalars ?? [], expected.scalars)
            #expect(error < 1e-5, "gradient of \(name) differs by \(error)")
        }
    }

    @Test func gradientsMatchFiniteDifferences() {
        for (context, predictor) in [(CPCContextConfig.Kind.gru, CPCPredictorConfig.Kind.linear), (.lstm, .linear), (.gru, .transformer),
                                     (.lstm, .cpcAudioTransformer)] {
            var config = smallConfig()
            config.context.type = context
            config.context.hidden = 6
            config.predictor.type = predictor
            config.predictor.heads = 2
            config.predictor.feedForward = 8
            config.predictor.positions = 15  // the 18 frames of 200 samples less K = 3: all the loss scores
            let method = CPCAudio(config: config, seed: 1)
            var g = RandomGenerator(seed: 4)
            let audio = Tensor.uniform([2, 200], low: -1, high: 1, generator: &g)
            // The transformer's feed-forward ReLUs put kinks within ±1e-3 of some weights (the error shrinks with the
            // step, as a kink's does), so that variant uses a smaller step.
            let check = checkGradients(method.model.parameters.map(\.tensor), epsilon: predictor == .linear ? 1e-3 : 3e-4) { _ in
                method.loss(Batch(inputs: audio, labels: [0, 1], items: [0, 1], index: 0)).loss
            }
            #expect(check.passed, "\(context), \(predictor): \(check)")
        }
    }

    @Test func lossFallsUnderAdam() {
        // Sequences with structure (sums of sines) that a small CPC can learn to predict within 40 steps.
        var config = smallConfig()
        config.encoder.channels = 16
        config.context.hidden = 16
        let method = CPCAudio(config: config, seed: 3)
        let optimizer = Adam(parameters: method.model.parameters, learningRate: 3e-3)
        var g = RandomGenerator(seed: 4)
        func batch(_ index: Int) -> Batch {
            var values: [Float] = []
            for _ in 0..<4 {
                let f1 = 0.02 + 0.05 * g.nextFloat(), f2 = 0.1 + 0.1 * g.nextFloat()
                values += (0..<400).map { i in sin(Float(i) * f1) + 0.5 * sin(Float(i) * f2 + Float(i / 100)) }
            }
            return Batch(inputs: Tensor(values, shape: [4, 400]), labels: [0, 1, 2, 3], items: [0, 1, 2, 3], index: index)
        }
        var first: Float = 0, last: Float = 0
        for step in 0..<40 {
            let output = method.loss(batch(step))
        let (loss, _) = (output.loss, output.metrics)
            if step == 0 { first = loss.item }
            last = loss.item
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
        #expect(last < first - 0.3, "loss \(first) → \(last)")
    }
}
