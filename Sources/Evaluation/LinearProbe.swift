// Linear (softmax regression) and one-hidden-layer probes on frozen features: standardised inputs, Adam on
// mini-batches, learning-rate selection on a held-out part of the training data, early stopping.
//
// Glossary: R rows (frames or windows), D feature dimensions, Q classes.

import Foundation
import Layers
import TensorCore

/// Probe settings (the defaults run in seconds on the bundled corpus).
public struct ProbeSettings: Codable, Sendable {
    /// Hidden units of the one-hidden-layer variant; nil: linear.
    public var hidden: Int? = nil
    /// Learning rates tried; the one with the best held-out accuracy is kept.
    public var learningRates: [Float] = [1e-3, 3e-3, 1e-2]
    public var epochs = 30
    public var batchSize = 256
    /// Stop when the held-out accuracy has not improved for this many epochs.
    public var patience = 4
    /// Fraction of the training groups (utterances) held out to select the learning rate and the epoch.
    public var validationFraction: Float = 0.1
    public var seed: UInt64 = 1

    public init() {}
}

/// A trained probe and how it was chosen.
public struct ProbeOutcome {
    public let testAccuracy: Float
    public let validationAccuracy: Float
    public let learningRate: Float
    public let epochs: Int
}

public enum LinearProbe {
    /// Trains on (`train`, `trainLabels`) and reports accuracy on (`test`, `testLabels`). `trainGroups` gives each
    /// training row's group (its utterance), so that the held-out part shares no utterance with the rest.
    public static func run(train: Tensor, trainLabels: [Int], trainGroups: [Int], test: Tensor, testLabels: [Int],
                           classes: Int, settings: ProbeSettings = ProbeSettings()) -> ProbeOutcome {
        precondition(train.rank == 2 && test.rank == 2 && train.shape[1] == test.shape[1], "probe features must be [R, D]")
        precondition(train.shape[0] == trainLabels.count && test.shape[0] == testLabels.count, "one label per row")
        // Standardise with the training statistics (an affine map the linear layer could absorb; it helps Adam).
        let (trainX, testX) = withoutGrad { () -> (Tensor, Tensor) in
            let mean = train.mean(alongAxis: 0, keepingDimensions: true)
            let std = (train.variance(alongAxis: 0, unbiased: false, keepingDimensions: true) + 1e-6).sqrt()
            return ((train - mean) / std, (test - mean) / std)
        }
        // Held-out groups for model selection.
        var generator = RandomGenerator(seed: settings.seed, stream: 3)
        let groups = Array(Set(trainGroups)).sorted()
        var shuffled = groups
        generator.shuffle(&shuffled)
        let heldOutCount = max(1, Int(Float(groups.count) * settings.validationFraction))
        let heldOut = Set(shuffled.prefix(groups.count > 1 ? heldOutCount : 0))
        let fitRows = (0..<trainLabels.count).filter { !heldOut.contains(trainGroups[$0]) }
        let validationRows = (0..<trainLabels.count).filter { heldOut.contains(trainGroups[$0]) }

        // At most one run of the epochs per learning rate, and the refit.
        let stage = StageProgress.begin("probe fit", total: (settings.learningRates.count + 1) * max(1, settings.epochs), unit: "epochs")
        defer { stage?.finish() }
        var best: (accuracy: Float, rate: Float, epochs: Int) = (-1, settings.learningRates[0], 1)
        for rate in settings.learningRates {
            let (accuracy, epochs, _) = fit(trainX, trainLabels, rows: fitRows, validationRows: validationRows.isEmpty ? fitRows : validationRows,
                                            classes: classes, rate: rate, epochs: settings.epochs, settings: settings, stage: stage)
            if accuracy > best.accuracy { best = (accuracy, rate, epochs) }
        }
        // Refit on all training rows with the chosen rate for the chosen number of epochs.
        let all = Array(0..<trainLabels.count)
        let (_, _, model) = fit(trainX, trainLabels, rows: all, validationRows: nil, classes: classes, rate: best.rate,
                                epochs: best.epochs, settings: settings, stage: stage)
        let accuracy = self.accuracy(model, testX, testLabels, rows: Array(0..<testLabels.count))
        return ProbeOutcome(testAccuracy: accuracy, validationAccuracy: best.accuracy, learningRate: best.rate, epochs: best.epochs)
    }

    private static func makeModel(dimension: Int, classes: Int, settings: ProbeSettings) -> Sequential {
        var generator = RandomGenerator(seed: settings.seed, stream: 4)
        if let hidden = settings.hidden {
            return makeMLP(inputSize: dimension, hiddenSizes: [hidden], outputSize: classes, generator: &generator)
        }
        return Sequential([Linear(inputSize: dimension, outputSize: classes, generator: &generator)])
    }

    static func accuracy(_ model: Sequential, _ x: Tensor, _ labels: [Int], rows: [Int]) -> Float {
        guard !rows.isEmpty else { return 0 }
        var correct = 0
        withoutGrad {
            for start in stride(from: 0, to: rows.count, by: 4096) {
                let chunk = Array(rows[start..<min(rows.count, start + 4096)])
                let predictions = model(x.indexSelect(alongAxis: 0, indices: chunk)).argmax(alongAxis: 1)
                for (row, predicted) in zip(chunk, predictions) where predicted == labels[row] { correct += 1 }
            }
        }
        return Float(correct) / Float(rows.count)
    }

    /// Trains a fresh probe; with validation rows, keeps the best epoch (early stopping) and returns its accuracy.
    private static func fit(_ x: Tensor, _ labels: [Int], rows: [Int], validationRows: [Int]?, classes: Int, rate: Float,
                            epochs: Int, settings: ProbeSettings, stage: StageProgress? = nil) -> (Float, Int, Sequential) {
        let model = makeModel(dimension: x.shape[1], classes: classes, settings: settings)
        let optimizer = Adam(parameters: model.parameters, learningRate: rate)
        var generator = RandomGenerator(seed: settings.seed, stream: 5)
        var order = rows
        var bestAccuracy: Float = -1, bestEpoch = 1, sinceBest = 0
        var bestState: [Tensor] = []
        for epoch in 1...max(1, epochs) {
            stage?.advance()
            generator.shuffle(&order)
            for start in stride(from: 0, to: order.count, by: settings.batchSize) {
                let batch = Array(order[start..<min(order.count, start + settings.batchSize)])
                let loss = crossEntropy(logits: model(x.indexSelect(alongAxis: 0, indices: batch)), targets: batch.map { labels[$0] })
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
            }
            guard let validationRows else { continue }
            let accuracy = self.accuracy(model, x, labels, rows: validationRows)
            if accuracy > bestAccuracy {
                bestAccuracy = accuracy
                bestEpoch = epoch
                sinceBest = 0
                bestState = model.parameters.map { $0.tensor.copy() }
            } else {
                sinceBest += 1
                if sinceBest >= settings.patience {
                    stage?.advance(by: epochs - epoch)  // the epochs early stopping skips
                    break
                }
            }
        }
        if !bestState.isEmpty { for ((_, p), saved) in zip(model.parameters, bestState) { p.assign(saved) } }
        return (bestAccuracy, bestEpoch, model)
    }
}
