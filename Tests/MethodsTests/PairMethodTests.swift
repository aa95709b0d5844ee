// The image-pair methods' pieces: NT-Xent and MoCo's queue loss (finite differences and PyTorch values from
// Tests/Fixtures/pair_methods.json, written by Tests/Fixtures/generate_pair_methods.py), a whole SimCLR step against
// PyTorch (loss and every parameter gradient), the shared pieces (momentum schedule, queue, collapse monitor, online
// probe), the registry, and losses that fall under a few optimiser steps.

import Foundation
import Layers
import Methods
import Objectives
import Testing
import TensorCore
import TestSupport

@Suite struct PairMethodTests {
    @Test func ntXentAndMoCoLossGradientsMatchFiniteDifferences() {
        var g = RandomGenerator(seed: 11)
        let a = Tensor.uniform([4, 3], low: -1, high: 1, generator: &g), b = Tensor.uniform([4, 3], low: -1, high: 1, generator: &g)
        let nt = checkGradients([a, b]) { t in NTXent.loss(t[0], t[1], temperature: 0.5).loss }
        #expect(nt.passed, "NT-Xent: \(nt)")
        let queue = Tensor.uniform([5, 3], low: -1, high: 1, generator: &g).l2Normalized(alongAxis: 1)
        let q = Tensor.uniform([4, 3], low: -1, high: 1, generator: &g), k = Tensor.uniform([4, 3], low: -1, high: 1, generator: &g)
        let moco = checkGradients([q, k]) { t in QueueContrastive.loss(queries: t[0], keys: t[1], queue: queue, temperature: 0.5).loss }
        #expect(moco.passed, "MoCo: \(moco)")
    }

    @Test func ntXentMatchesPyTorch() throws {
        let fixture = try Fixture("pair_methods")
        let a = try fixture.tensor("ntxent", "first"), b = try fixture.tensor("ntxent", "second")
        a.requiresGrad = true
        b.requiresGrad = true
        let (loss, _) = NTXent.loss(a, b, temperature: Float(try fixture.number("ntxent", "temperature")))
        #expect(Swift.abs(Double(loss.item) - (try fixture.number("ntxent", "loss"))) < 1e-5)
        loss.backward()
        #expect(maxAbsoluteDifference(a.grad!.scalars, try fixture.tensor("ntxent", "grad_first").scalars) < 1e-5)
        #expect(maxAbsoluteDifference(b.grad!.scalars, try fixture.tensor("ntxent", "grad_second").scalars) < 1e-5)
    }

    @Test func mocoLossMatchesPyTorch() throws {
        let fixture = try Fixture("pair_methods")
        let q = try fixture.tensor("moco", "queries"), k = try fixture.tensor("moco", "keys")
        q.requiresGrad = true
        k.requiresGrad = true
        let (loss, _) = QueueContrastive.loss(queries: q, keys: k, queue: try fixture.tensor("moco", "queue"),
                                              temperature: Float(try fixture.number("moco", "temperature")))
        #expect(Swift.abs(Double(loss.item) - (try fixture.number("moco", "loss"))) < 1e-5)
        loss.backward()
        #expect(maxAbsoluteDifference(q.grad!.scalars, try fixture.tensor("moco", "grad_queries").scalars) < 1e-5)
        #expect(maxAbsoluteDifference(k.grad!.scalars, try fixture.tensor("moco", "grad_keys").scalars) < 1e-5)
    }

    @Test func byolLossMatchesPyTorch() throws {
        let fixture = try Fixture("pair_methods")
        let p = try fixture.tensor("byol", "predictions"), z = try fixture.tensor("byol", "targets")
        p.requiresGrad = true
        z.requiresGrad = true
        let loss = NegativeCosine.loss(predictions: p, targets: z)
        #expect(Swift.abs(Double(loss.item) - (try fixture.number("byol", "loss"))) < 1e-5)
        loss.backward()
        #expect(maxAbsoluteDifference(p.grad!.scalars, try fixture.tensor("byol", "grad_predictions").scalars) < 1e-5)
        #expect(z.grad == nil, "the targets are held fixed")
        var g = RandomGenerator(seed: 11)
        let target = Tensor.uniform([4, 5], low: -1, high: 1, generator: &g)
        let check = checkGradients([Tensor.uniform([4, 5], low: -1, high: 1, generator: &g)]) { t in
            NegativeCosine.loss(predictions: t[0], targets: target)
        }
        #expect(check.passed, "\(check)")
    }

    @Test func aPerfectCriticScoresEveryPositiveFirst() {
        // Two views that are the same one-hot rows: every anchor's positive is its most similar row.
        let rows = Tensor([1, 0, 0, 0, 1, 0, 0, 0, 1], shape: [3, 3])
        #expect(NTXent.loss(rows, rows, temperature: 0.1).accuracy == 1)
        #expect(QueueContrastive.loss(queries: rows, keys: rows, queue: Tensor([0, 0, 0], shape: [1, 3]) + 0.01, temperature: 0.1).accuracy == 1)
    }

    @Test func wholeSimCLRStepMatchesPyTorch() throws {
        let fixture = try Fixture("pair_methods")
        var config = SimCLRConfig()
        config.backbone.width = 2
        config.backbone.blocks = [1, 1]
        config.projector = HeadConfig(hidden: [6], output: 3, batchNorm: true)
        config.temperature = Float(try fixture.number("simclr_step", "temperature"))
        let method = SimCLR(config: config, imageChannels: 1, classes: 0, seed: 1)
        try method.model.loadStateDict(try fixture.tensors("simclr_step", "state"), source: fixture.path)
        let batch = Batch(views: [try fixture.tensor("simclr_step", "view1"), try fixture.tensor("simclr_step", "view2")],
                          labels: [], items: [0, 1, 2], index: 0)
        let output = method.loss(batch)
        #expect(Swift.abs(Double(output.loss.item) - (try fixture.number("simclr_step", "loss"))) < 1e-4)
        output.loss.backward()
        let parameters = Dictionary(method.model.parameters.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let expected = try fixture.tensors("simclr_step", "grads")
        #expect(expected.count == parameters.count)
        for (name, gradient) in expected {
            let ours = try #require(parameters[name]?.grad, "no gradient for \(name)")
            #expect(maxAbsoluteDifference(ours.scalars, gradient.scalars) < 1e-4, "\(name)")
        }
    }

    @Test func momentumScheduleRisesOnAHalfCosine() {
        #expect(momentumSchedule(step: 0, totalSteps: 100, base: 0.99) == 0.99)
        #expect(Swift.abs(momentumSchedule(step: 50, totalSteps: 100, base: 0.99) - 0.995) < 1e-6)
        #expect(momentumSchedule(step: 100, totalSteps: 100, base: 0.99) == 1)
        #expect(momentumSchedule(step: 25, totalSteps: 100, base: 0.99) < momentumSchedule(step: 75, totalSteps: 100, base: 0.99))
    }

    @Test func queueOverwritesItsOldestRowsAndWraps() {
        var g = RandomGenerator(seed: 1)
        let queue = FeatureQueue(length: 3, width: 2, generator: &g)
        queue.enqueue(Tensor([1, 1, 2, 2], shape: [2, 2]))
        #expect(queue.pointer.item == 2 && Array(queue.queue.scalars[0..<4]) == [1, 1, 2, 2])
        queue.enqueue(Tensor([3, 3, 4, 4], shape: [2, 2]))
        #expect(queue.pointer.item == 1 && queue.queue.scalars == [4, 4, 2, 2, 3, 3])
        #expect(queue.buffers.map(\.name) == ["queue", "queue_ptr"])
    }

    @Test func collapseMonitorSeesCollapse() {
        var g = RandomGenerator(seed: 2)
        let spread = Tensor.normal([512, 16], generator: &g)
        #expect(Swift.abs(collapseStandardDeviation(spread) - 1 / Float(16).squareRoot()) < 0.02)
        let collapsed = Tensor.ones([512, 16]) + Tensor.normal([512, 16], standardDeviation: 1e-4, generator: &g)
        #expect(collapseStandardDeviation(collapsed) < 1e-3)
    }

    @Test func theRegistryListsEveryMethodUnderItsFileName() {
        #expect(Array(MethodRegistry.keys.prefix(4)) == ["cpc", "cpc-image", "simclr", "moco"])
        #expect(MethodRegistry.entry("simclr")?.input == .imageViews && MethodRegistry.entry("cpc")?.input == .audioWindows)
        // key = file name: Methods/<Key>.swift exists for every built-in method.
        for entry in MethodRegistry.builtIn {
            let file = ["cpc": "CPC", "cpc-image": "CPCImage", "simclr": "SimCLR", "moco": "MoCo", "byol": "BYOL", "simsiam": "SimSiam",
                        "swav": "SwAV", "deepcluster": "DeepCluster", "barlow": "Barlow", "vicreg": "VICReg",
                        "wmse": "WMSE", "supervised-phones": "SupervisedPhones"][entry.key]!
            #expect(FileManager.default.fileExists(atPath: repositoryRoot.appendingPathComponent("Sources/Methods/\(file).swift").path))
        }
    }

    @Test(arguments: ["simclr", "moco", "byol", "simsiam", "swav", "barlow", "vicreg", "wmse"]) func lossFallsUnderAFewOptimiserSteps(key: String) throws {
        var input = InputShape(kind: .imageViews)
        input.channels = 1
        input.classes = 3
        let entry = try #require(MethodRegistry.entry(key))
        func tiny<C: ImagePairConfig>(_ c: C) -> AnyMethodConfig { AnyMethodConfig(sized(c, width: 2, hidden: 8, output: 4)) }
        let pair: any ImagePairConfig = try #require(entry.defaultConfig.value as? any ImagePairConfig)
        var config = tiny(pair)
        if key == "moco" {
            config[as: MoCoConfig.self].projector = HeadConfig(hidden: [16], output: 8, batchNorm: false)
            config[as: MoCoConfig.self].queueSize = 64
        } else if key == "swav" {
            config[as: SwAVConfig.self].prototypes = 6
            config[as: SwAVConfig.self].freezePrototypesSteps = 2
        } else if key == "wmse" {
            config[as: WMSEConfig.self].whiteningSize = 8
        }
        let method = try entry.make(config, input: input, seed: 3)
        let optimizer = Adam(parameters: method.model.parameters.filter { $0.tensor.requiresGrad }, learningRate: 1e-2)
        var g = RandomGenerator(seed: 4)
        let images = (0..<8).map { _ in Tensor.uniform([1, 6, 6, 1], low: -1, high: 1, generator: &g) }
        let noise = Tensor.uniform([8, 6, 6, 1], low: -0.5, high: 0.5, generator: &g)
        let batch = Batch(views: [Tensor.concatenate(images, alongAxis: 0), Tensor.concatenate(images, alongAxis: 0) * 0.8 + noise],
                          labels: (0..<8).map { $0 % 3 }, items: Array(0..<8), index: 0)
        var losses: [Float] = []
        for step in 0..<20 {
            let context = StepContext(step: step, totalSteps: 20, isTraining: true)
            let output = method.loss(batch, context)
            losses.append(output.metrics["ssl_loss"]!)
            optimizer.zeroGrad()
            output.loss.backward()
            optimizer.step()
            // MoCo against a fixed queue and key encoder: on one repeated batch its queue would fill with this batch's
            // own keys (hard negatives equal to the positives) and the loss would rise, as it should.
            if key != "moco" { method.afterOptimizerStep(output, context) }
        }
        #expect(losses.last! < losses.first! * (key == "moco" ? 0.9 : 0.8), "\(key): \(losses)")
    }

    @Test func aBatchTheMachineCannotHoldIsRefusedNamingTheKey() throws {
        var input = InputShape(kind: .imageViews)
        (input.channels, input.classes, input.trainingItems, input.batchSize) = (3, 10, 100_000, 65536)
        input.views = [.init(height: 224, width: 224), .init(height: 224, width: 224)]
        let entry = try #require(MethodRegistry.entry("simclr"))
        #expect { try entry.make(entry.defaultConfig, input: input, seed: 1) } throws: { error in
            (error as? ConfigError)?.key == "data.batch_size" && "\(error)".contains("GiB for the backbone's activations")
        }
        input.batchSize = 8
        input.views = [.init(height: 28, width: 28), .init(height: 28, width: 28)]
        _ = try entry.make(entry.defaultConfig, input: input, seed: 1)
    }

    @Test func evaluationChangesNoMoCoState() throws {
        let method = MoCo(config: { var c = MoCoConfig(); c.backbone.width = 2; c.backbone.blocks = [1]; c.queueSize = 4
                                    c.projector = HeadConfig(hidden: [4], output: 3, batchNorm: false); return c }(),
                          imageChannels: 1, classes: 0, seed: 1)
        let before = method.model.stateDict.map { $0.tensor.scalars }
        var g = RandomGenerator(seed: 5)
        let view = Tensor.uniform([4, 6, 6, 1], low: -1, high: 1, generator: &g)
        method.model.setTraining(false)
        _ = withoutGrad { method.loss(Batch(views: [view, view], labels: [], items: [0, 1, 2, 3], index: 0), .evaluation()) }
        #expect(method.model.stateDict.map { $0.tensor.scalars } == before)
    }
}
