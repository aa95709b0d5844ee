// Image CPC: InfoNCE over the grid and a whole small model against PyTorch (Tests/Fixtures/cpc_image.json), finite
// differences through the model, the direction orderings, parameter names and config validation.

import Foundation
import Layers
import Methods
import Objectives
import Testing
import TensorCore
import TestSupport

func tinyImageConfig(directions: [GridDirection] = [.down, .right]) -> CPCImageConfig {
    var config = CPCImageConfig()
    config.channels = [3, 4]
    config.contextHidden = 5
    config.predictionSteps = 2
    config.directions = directions
    return config
}

@Suite struct CPCImageTests {
    /// Predictions and targets of the grid loss built with plain loops (the fixture's rule), for one direction down.
    static func gridTerms(context: Tensor, weights: [Tensor], images: Int, rows: Int, columns: Int) -> ([Tensor], [[Int]]) {
        var predictions: [Tensor] = [], targets: [[Int]] = []
        let h = context.shape[3]
        for (index, weight) in weights.enumerated() {
            let k = index + 1
            var rowsOfContext: [Int] = [], stepTargets: [Int] = []
            for n in 0..<images {
                for c in 0..<columns {
                    for r in 0..<(rows - k) {
                        rowsOfContext.append((n * rows + r) * columns + c)
                        stepTargets.append((n * rows + r + k) * columns + c)
                    }
                }
            }
            let c = context.reshaped([images * rows * columns, h]).indexSelect(alongAxis: 0, indices: rowsOfContext)
            predictions.append(matmul(c, weight, transposeB: true))
            targets.append(stepTargets)
        }
        return (predictions, targets)
    }

    @Test func gridInfoNCEMatchesPyTorch() throws {
        let fixture = try Fixture("cpc_image")
        let z = try fixture.tensor("grid_infonce", "z"), context = try fixture.tensor("grid_infonce", "context")
        let weights = [try fixture.tensor("grid_infonce", "weight0"), try fixture.tensor("grid_infonce", "weight1")]
        for t in [z, context] + weights { t.requiresGrad = true }
        let (predictions, targets) = Self.gridTerms(context: context, weights: weights, images: 2, rows: 4, columns: 3)
        let result = GridInfoNCE.loss(predictions: predictions, candidates: z, targets: targets)
        #expect(Swift.abs(Double(result.loss.item) - (try fixture.number("grid_infonce", "loss"))) < 1e-5)
        #expect(maxAbsoluteDifference(result.lossPerStep, try fixture.tensor("grid_infonce", "loss_per_k").scalars) < 1e-5)
        result.loss.backward()
        #expect(maxAbsoluteDifference(z.grad!.scalars, try fixture.tensor("grid_infonce", "grad_z").scalars) < 1e-6)
        #expect(maxAbsoluteDifference(context.grad!.scalars, try fixture.tensor("grid_infonce", "grad_context").scalars) < 1e-6)
        for k in 0..<2 {
            #expect(maxAbsoluteDifference(weights[k].grad!.scalars, try fixture.tensor("grid_infonce", "grad_weight\(k)").scalars) < 1e-6)
        }
    }

    @Test func gridInfoNCEGradientsMatchFiniteDifferences() {
        var g = RandomGenerator(seed: 3)
        let z = Tensor.normal([12, 4], generator: &g), context = Tensor.normal([1, 4, 3, 3], generator: &g)
        let weights = [Tensor.normal([4, 3], generator: &g), Tensor.normal([4, 3], generator: &g)]
        let check = checkGradients([z, context] + weights) { inputs in
            let (predictions, targets) = Self.gridTerms(context: inputs[1], weights: Array(inputs[2...]), images: 1, rows: 4, columns: 3)
            return GridInfoNCE.loss(predictions: predictions, candidates: inputs[0], targets: targets).loss
        }
        #expect(check.passed, "\(check)")
    }

    @Test func accuracyCountsPredictionsWhoseTargetScoresHighest() {
        // Two predictions against three candidates: the first picks its target, the second does not.
        let candidates = Tensor([1, 0, 0, 1, -1, -1], shape: [3, 2])
        let predictions = Tensor([2, 0, 0, -1], shape: [2, 2])
        let result = GridInfoNCE.loss(predictions: [predictions], candidates: candidates, targets: [[0, 1]])
        #expect(result.accuracyPerStep == [0.5])
    }

    @Test func wholeModelMatchesPyTorch() throws {
        let fixture = try Fixture("cpc_image")
        let method = CPCImage(config: tinyImageConfig(), rows: 3, columns: 4, imageChannels: 3, seed: 1)
        try method.model.loadStateDict(try method.model.stateDict.map { ($0.name, try fixture.tensor("small_model", "param." + $0.name)) },
                                       source: fixture.path)
        let patches = try fixture.tensor("small_model", "patches")
        let output = method.loss(Batch(inputs: patches, labels: [0, 1], items: [0, 1], index: 0))
        let (loss, metrics) = (output.loss, output.metrics)
        #expect(Swift.abs(Double(loss.item) - (try fixture.number("small_model", "loss"))) < 1e-5)
        #expect(Swift.abs(Double(metrics["loss_k1"]!) - (try fixture.number("small_model", "loss_k1"))) < 1e-5)
        #expect(Swift.abs(Double(metrics["loss_k2"]!) - (try fixture.number("small_model", "loss_k2"))) < 1e-5)
        loss.backward()
        for (name, parameter) in method.model.parameters {
            let expected = try fixture.tensor("small_model", "grad." + name)
            let error = maxAbsoluteDifference(parameter.grad?.scalars ?? [], expected.scalars)
            #expect(error < 1e-5, "gradient of \(name) differs by \(error)")
        }
    }

    /// Finite differences of the loss of a 3×3-grid model on two random one-channel images, against every parameter.
    static func checkModelGradients(_ config: CPCImageConfig, seed: UInt64, dataSeed: UInt64) -> GradientCheckResult {
        let method = CPCImage(config: config, rows: 3, columns: 3, imageChannels: 1, seed: seed)
        var g = RandomGenerator(seed: dataSeed)
        let patches = Tensor.uniform([2, 3, 3, 4, 4, 1], low: -1, high: 1, generator: &g)
        return checkGradients(method.model.parameters.map(\.tensor), epsilon: 1e-3) { _ in
            method.loss(Batch(inputs: patches, labels: [0, 0], items: [0, 0], index: 0)).loss
        }
    }

    @Test func wholeModelGradientsMatchFiniteDifferences() {
        for directions in [[GridDirection.down], [.up, .left]] {
            let check = Self.checkModelGradients(tinyImageConfig(directions: directions), seed: 2, dataSeed: 5)
            #expect(check.passed, "\(directions): \(check)")
        }
    }

    @Test func maskedConvContextNeverSeesALaterPosition() {
        var g = RandomGenerator(seed: 12)
        let context = MaskedConvContext(inputSize: 3, hiddenSize: 4, layers: 3, generator: &g)
        let x = Tensor.normal([2, 3, 5, 3], generator: &g)  // [N, S, L, C]
        let before = context(x).scalars
        // Change every sequence at position t = 3: outputs at t ≤ 2 must not move, and some at t ≥ 3 must.
        let changed = Tensor(x.scalars, shape: x.shape)
        changed.withUnsafeMutableBufferPointer { p in
            for n in 0..<2 { for s in 0..<3 { for c in 0..<3 { p[((n * 3 + s) * 5 + 3) * 3 + c] += 1 } } }
        }
        let after = context(changed).scalars
        var movedLater = false
        for n in 0..<2 { for s in 0..<3 { for t in 0..<5 { for h in 0..<4 {
            let i = ((n * 3 + s) * 5 + t) * 4 + h
            if t <= 2 { #expect(before[i] == after[i], "position \(t) saw position 3") } else if before[i] != after[i] { movedLater = true }
        } } } }
        #expect(movedLater)
    }

    @Test func maskedConvContextGradientsAndNames() {
        var config = tinyImageConfig(directions: [.down, .left])
        config.context = .maskedConv
        config.contextLayers = 2
        let method = CPCImage(config: config, rows: 3, columns: 3, imageChannels: 1, seed: 4)
        #expect(method.model.parameters.map(\.name).contains("context.left.conv1.weight"))
        let check = Self.checkModelGradients(config, seed: 4, dataSeed: 6)
        #expect(check.passed, "\(check)")
    }

    @Test func directionsReadTheGridInTheirOrder() {
        var g = RandomGenerator(seed: 99)
        let model = CPCImageModel(config: tinyImageConfig(), rows: 2, columns: 3, imageChannels: 1, generator: &g)
        // Grid positions are numbered (row · 3 + column); one image.
        #expect(model.sequenceOrder(.down, images: 1).order == [0, 3, 1, 4, 2, 5])
        #expect(model.sequenceOrder(.up, images: 1).order == [3, 0, 4, 1, 5, 2])
        #expect(model.sequenceOrder(.right, images: 1).order == [0, 1, 2, 3, 4, 5])
        #expect(model.sequenceOrder(.left, images: 1).order == [2, 1, 0, 5, 4, 3])
        #expect(model.sequenceOrder(.down, images: 2).order.suffix(2) == [8, 11])
    }

    @Test func parameterNamesAndStepCount() {
        var config = tinyImageConfig(directions: [.down])
        config.predictionSteps = nil
        var g = RandomGenerator(seed: 99)
        let model = CPCImageModel(config: config, rows: 6, columns: 6, imageChannels: 1, generator: &g)
        #expect(model.steps == 4)  // grid height − 2
        #expect(model.parameters.map(\.name).filter { $0.hasPrefix("predictors") } ==
                (0..<4).map { "predictors.down.\($0).weight" })
        #expect(model.parameters.first?.name == "encoder.stem.weight")
    }

    @Test func firstStepSkipsTheNearestOffsets() throws {
        var config = tinyImageConfig(directions: [.down])
        config.predictionSteps = nil
        config.firstStep = 2
        var g = RandomGenerator(seed: 99)
        let model = CPCImageModel(config: config, rows: 6, columns: 2, imageChannels: 1, generator: &g)
        #expect(model.predictedSteps == 2...4)
        // W_k keeps its name for k = 2…4, so a model that skips k = 1 loads the same heads as one that does not.
        #expect(model.parameters.map(\.name).filter { $0.hasPrefix("predictors") } ==
                (1..<4).map { "predictors.down.\($0).weight" })
        let z = Tensor.normal([2 * 6 * 2, 4], generator: &g)
        let entries = model.predictions(z, images: 2)
        #expect(entries.map(\.step) == [2, 3, 4])
        // Column 0 of image 0 is grid positions 0, 2, 4, … ; the context at row t predicts row t + k.
        #expect(Array(entries[0].targets.prefix(4)) == [4, 6, 8, 10])
        #expect(entries[2].predictions.shape == [2 * 2 * 2, 4])
        // A first step beyond K is refused by key, in the config and once the grid is known.
        #expect(throws: ConfigError.self) {
            _ = try JSONDecoder().decode(CPCImageConfig.self, from: Data(#"{"prediction_steps": 2, "first_step": 3}"#.utf8))
        }
        var shape = InputShape(kind: .patchGrid)
        (shape.rows, shape.columns, shape.channels, shape.patchSize, shape.batchSize) = (3, 3, 1, 7, 4)
        config.firstStep = 3
        #expect { _ = try CPCImage.make(config, input: shape, seed: 1) } throws: { error in
            "\(error)".contains("model.first_step") && "\(error)".contains("K = 2")
        }
    }

    @Test func configRejectsBatchNormRepeatedDirectionsAndUnknownKeys() throws {
        for (json, key) in [(#"{"normalization": "batch"}"#, "normalization"), (#"{"directions": ["down", "down"]}"#, "directions"),
                            (#"{"channels": []}"#, "channels"), (#"{"colour": 3}"#, "colour")] {
            do {
                _ = try JSONDecoder().decode(CPCImageConfig.self, from: Data(json.utf8))
                Issue.record("\(json) was accepted")
            } catch let error as ConfigError {
                #expect(error.key.hasSuffix(key), "\(error)")
            }
        }
    }

    @Test func aStepTooLargeForTheMachineIsRefusedByKey() throws {
        var shape = InputShape(kind: .patchGrid)
        (shape.rows, shape.columns, shape.channels, shape.patchSize) = (6, 6, 1, 7)
        shape.batchSize = 32
        try CPCImage.validate(CPCImageConfig(), input: shape)  // the shipped config's step: about 0.1 GiB
        #expect(CPCImage.trainingStepBytes(CPCImageConfig(), batch: 32, rows: 6, columns: 6, patchSize: 7, channels: 1) < Double(1 << 30))
        shape.batchSize = 100_000  // 3.6 million patch vectors, each scored against all of them
        #expect { try CPCImage.validate(CPCImageConfig(), input: shape) } throws: { error in
            "\(error)".contains("data.batch_size") && "\(error)".contains("GiB")
        }
    }
}
