// SimSiam, SwAV and DeepCluster v2, and a whole BYOL step: their losses against PyTorch (Tests/Fixtures/
// pair_methods.json, written by Tests/Fixtures/generate_pair_methods.py) and finite differences, Sinkhorn's
// marginals, k-means against the reference on a fixed dataset, whole steps (every parameter gradient) of BYOL and
// of SwAV with multi-crop, and the methods' own state (prototypes, queue, memory).

import Foundation
import Layers
import Methods
import Objectives
import Testing
import TensorCore
import TestSupport

/// Loads the fixture's state into `method` and compares the loss of `batch` and every trainable parameter's gradient.
func expectWholeStepMatches(_ method: any Method, case name: String, batch: Batch, tolerance: Float = 1e-4) throws {
    let fixture = try Fixture("pair_methods")
    try method.model.loadStateDict(try fixture.tensors(name, "state"), source: fixture.path)
    let output = method.loss(batch)
    #expect(Swift.abs(Double(output.loss.item) - (try fixture.number(name, "loss"))) < Double(tolerance), "\(name) loss")
    output.loss.backward()
    let parameters = Dictionary(method.model.parameters.filter { $0.tensor.requiresGrad }.map { ($0.name, $0.tensor) },
                                uniquingKeysWith: { a, _ in a })
    let expected = try fixture.tensors(name, "grads")
    #expect(Set(expected.map(\.0)) == Set(parameters.keys), "\(name): the parameters that get a gradient")
    for (parameter, gradient) in expected {
        let ours = try #require(parameters[parameter]?.grad, "\(name): no gradient for \(parameter)")
        #expect(maxAbsoluteDifference(ours.scalars, gradient.scalars) < tolerance, "\(name): \(parameter)")
    }
}

/// The fixture's tiny layout: ResNet width 2, blocks [1, 1], heads 4 → 6 → 3 (predictor 3 → 5 → 3).
func fixtureSized<C: ImagePairConfig>(_ config: C) -> C {
    var c = config
    c.backbone.width = 2
    c.backbone.blocks = [1, 1]
    c.heads = c.heads.enumerated().map { i, _ in HeadConfig(hidden: [i == 0 ? 6 : 5], output: 3, batchNorm: true) }
    return c
}

@Suite struct SiameseAndClusteringTests {
    let fixture: Fixture
    init() throws { fixture = try Fixture("pair_methods") }

    @Test func simSiamLossMatchesPyTorch() throws {
        let (p1, p2) = (try fixture.tensor("simsiam", "p1"), try fixture.tensor("simsiam", "p2"))
        let (z1, z2) = (try fixture.tensor("simsiam", "z1"), try fixture.tensor("simsiam", "z2"))
        for t in [p1, p2, z1, z2] { t.requiresGrad = true }
        let loss = (NegativeCosine.meanCosine(predictions: p1, targets: z2) + NegativeCosine.meanCosine(predictions: p2, targets: z1)) * -0.5
        #expect(Swift.abs(Double(loss.item) - (try fixture.number("simsiam", "loss"))) < 1e-5)
        loss.backward()
        #expect(maxAbsoluteDifference(p1.grad!.scalars, try fixture.tensor("simsiam", "grad_p1").scalars) < 1e-5)
        #expect(maxAbsoluteDifference(p2.grad!.scalars, try fixture.tensor("simsiam", "grad_p2").scalars) < 1e-5)
        #expect(z1.grad == nil && z2.grad == nil, "stop-gradient on the targets")
        // Without the stop-gradient the targets get one.
        let free = NegativeCosine.meanCosine(predictions: p1, targets: z2, stopGradient: false)
        free.backward()
        #expect(z2.grad != nil)
        let check = checkGradients([p1.detached(), z2.detached()]) { t in NegativeCosine.meanCosine(predictions: t[0], targets: t[1], stopGradient: false) }
        #expect(check.passed, "\(check)")
    }

    @Test func sinkhornMatchesPyTorchAndMeetsTheEquipartition() throws {
        let scores = try fixture.tensor("sinkhorn", "scores")
        let codes = Sinkhorn.codes(scores, epsilon: Float(try fixture.number("sinkhorn", "epsilon")),
                                   iterations: Int(try fixture.number("sinkhorn", "iterations")))
        #expect(maxAbsoluteDifference(codes.scalars, try fixture.tensor("sinkhorn", "codes").scalars) < 1e-5)
        // Marginals on a larger problem (64 × 16, ε = 0.05, sharp scores): rows sum to 1 after every iteration; the
        // prototypes' totals approach B/K as the iterations grow (measured: worst 52 % off after 3, 15 % after 10,
        // 0.5 % after 30, < 1e-4 after 100).
        var g = RandomGenerator(seed: 8)
        let b = 64, k = 16
        let s = matmul(Tensor.normal([b, 8], generator: &g).l2Normalized(alongAxis: 1),
                       Tensor.normal([k, 8], generator: &g).l2Normalized(alongAxis: 1), transposeB: true)
        for (iterations, tolerance) in [(3, 0.6), (10, 0.2), (30, 0.01), (100, 1e-4)] {
            let q = Sinkhorn.codes(s, epsilon: 0.05, iterations: iterations).scalars
            let rows = (0..<b).map { i in (0..<k).reduce(0.0) { $0 + Double(q[i * k + $1]) } }
            let columns = (0..<k).map { j in (0..<b).reduce(0.0) { $0 + Double(q[$1 * k + j]) } }
            #expect(rows.allSatisfy { Swift.abs($0 - 1) < 1e-5 }, "rows: \(rows)")
            let worst = columns.map { Swift.abs($0 / (Double(b) / Double(k)) - 1) }.max()!
            #expect(worst < tolerance, "\(iterations) iterations: prototype totals off by \(worst)")
        }
        // No equipartition: the row-wise softmax(s/ε).
        let plain = Sinkhorn.codes(s, epsilon: 0.05, iterations: 0)
        #expect(maxAbsoluteDifference(plain.scalars, (s * 20).softmax(alongAxis: 1).scalars) < 1e-5)
        // Large scores stay finite (computed in Double, shifted by the maximum).
        let large = Sinkhorn.codes(s * 50, epsilon: 0.05, iterations: 3).scalars
        #expect(large.allSatisfy { $0.isFinite })
    }

    @Test func swappedPredictionMatchesPyTorchAndFiniteDifferences() throws {
        let scores = try fixture.tensorList("swav_loss", "scores"), codes = try fixture.tensorList("swav_loss", "codes")
        for s in scores { s.requiresGrad = true }
        let temperature = Float(try fixture.number("swav_loss", "temperature"))
        let loss = SwappedPrediction.loss(scores: scores, codes: codes, temperature: temperature)
        #expect(Swift.abs(Double(loss.item) - (try fixture.number("swav_loss", "loss"))) < 1e-5)
        loss.backward()
        for (s, expected) in zip(scores, try fixture.tensorList("swav_loss", "grad_scores")) {
            #expect(maxAbsoluteDifference(s.grad!.scalars, expected.scalars) < 1e-5)
        }
        // The codes of the fixture are Sinkhorn's of the global crops' scores.
        for (g, code) in codes.enumerated() {
            #expect(maxAbsoluteDifference(Sinkhorn.codes(scores[g].detached(), epsilon: 0.05, iterations: 3).scalars, code.scalars) < 1e-5)
        }
        let check = checkGradients(scores.map { $0.detached() }) { t in SwappedPrediction.loss(scores: t, codes: codes, temperature: 0.5) }
        #expect(check.passed, "\(check)")
    }

    @Test func kMeansMatchesTheReferenceOnAFixedDataset() throws {
        let rows = try fixture.tensor("kmeans", "rows")
        let initial = rows.indexSelect(alongAxis: 0, indices: try fixture.integers("kmeans", "initial"))
        let (centroids, assignments) = SphericalKMeans.fit(rows: rows, initial: initial, iterations: Int(try fixture.number("kmeans", "iterations")))
        #expect(assignments == (try fixture.integers("kmeans", "assignments")))
        #expect(maxAbsoluteDifference(centroids.scalars, try fixture.tensor("kmeans", "centroids").scalars) < 1e-5)
        // Both initialisations pick distinct rows; k-means++ spreads them over the four blobs of the dataset.
        for method in KMeansInitialization.allCases {
            var g = RandomGenerator(seed: 3)
            let chosen = SphericalKMeans.initialCentroids(rows: rows, k: 4, method: method, generator: &g)
            let picks = SphericalKMeans.fit(rows: rows, initial: chosen, iterations: 0).assignments
            #expect(Set(picks).count >= (method == .plusPlus ? 4 : 1), "\(method)")
            let distinct = Set((0..<4).map { chosen.sliced(alongAxis: 0, start: $0, length: 1).scalars.map { Int($0 * 1e6) } })
            #expect(distinct.count == 4, "\(method): the initial centroids are distinct rows")
        }
        // The blocked BLAS assignment equals a plain loop (more rows than one block).
        var g = RandomGenerator(seed: 4)
        let many = Tensor.normal([5000, 6], generator: &g).l2Normalized(alongAxis: 1), c = Tensor.normal([7, 6], generator: &g)
        let fast = many.withUnsafeBufferPointer { x in c.withUnsafeBufferPointer { SphericalKMeans.assign(rows: x.baseAddress!, n: 5000, d: 6, centroids: $0.baseAddress!, k: 7).indices } }
        #expect(fast == matmul(many, c, transposeB: true).argmax(alongAxis: 1))
    }

    @Test func deepClusterLossMatchesPyTorch() throws {
        let z = try fixture.tensor("deepcluster_loss", "projections")
        z.requiresGrad = true
        let heads = try fixture.tensorList("deepcluster_loss", "centroids")
        let targets = [try fixture.integers("deepcluster_loss", "targets_0"), try fixture.integers("deepcluster_loss", "targets_1")]
        let temperature = Float(try fixture.number("deepcluster_loss", "temperature"))
        let zn = z.l2Normalized(alongAxis: 1)
        let loss = zip(heads, targets).map { c, t in
            crossEntropy(logits: matmul(zn, c, transposeB: true) * (1 / temperature), targets: t + t, ignoreIndex: -1)
        }.reduce(Tensor(scalar: 0), +) * 0.5
        #expect(Swift.abs(Double(loss.item) - (try fixture.number("deepcluster_loss", "loss"))) < 1e-5)
        loss.backward()
        #expect(maxAbsoluteDifference(z.grad!.scalars, try fixture.tensor("deepcluster_loss", "grad_projections").scalars) < 1e-5)
        let check = checkGradients([z.detached()]) { t in
            crossEntropy(logits: matmul(t[0].l2Normalized(alongAxis: 1), heads[0], transposeB: true) * 2, targets: targets[0] + targets[0], ignoreIndex: -1)
        }
        #expect(check.passed, "\(check)")
    }

    @Test func wholeBYOLStepMatchesPyTorch() throws {
        let method = BYOL(config: fixtureSized(BYOLConfig()), imageChannels: 1, classes: 0, seed: 1)
        let batch = Batch(views: [try fixture.tensor("byol_step", "view1"), try fixture.tensor("byol_step", "view2")],
                          labels: [], items: [0, 1, 2], index: 0)
        try expectWholeStepMatches(method, case: "byol_step", batch: batch)
    }

    @Test func wholeSwAVStepWithMultiCropMatchesPyTorch() throws {
        var config = fixtureSized(SwAVConfig())
        config.heads = [HeadConfig(hidden: [6], output: 3, batchNorm: true)]
        config.prototypes = 5
        let method = SwAV(config: config, imageChannels: 1, classes: 0, seed: 1)
        let batch = Batch(views: try fixture.tensorList("swav_step", "views"), labels: [], items: [0, 1, 2, 3], index: 0)
        try expectWholeStepMatches(method, case: "swav_step", batch: batch)
    }

    @Test func swavKeepsUnitPrototypesFreezesThemAndQueuesGlobalCrops() throws {
        var config = fixtureSized(SwAVConfig())
        config.prototypes = 6
        config.freezePrototypesSteps = 1
        config.queueSize = 8
        config.queueStartStep = 2
        let method = SwAV(config: config, imageChannels: 1, classes: 0, seed: 2)
        var g = RandomGenerator(seed: 6)
        let views = [Tensor.uniform([4, 6, 6, 1], low: -1, high: 1, generator: &g), Tensor.uniform([4, 6, 6, 1], low: -1, high: 1, generator: &g),
                     Tensor.uniform([4, 3, 3, 1], low: -1, high: 1, generator: &g)]
        let batch = Batch(views: views, labels: [], items: [0, 1, 2, 3], index: 0)
        let optimizer = SGD(parameters: method.model.parameters.filter { $0.tensor.requiresGrad }, learningRate: 0.5)
        func unitRows() -> Bool {
            let w = method.prototypes.weight.scalars
            return (0..<6).allSatisfy { r in Swift.abs((0..<3).reduce(Float(0)) { $0 + w[r * 3 + $1] * w[r * 3 + $1] } - 1) < 1e-5 }
        }
        #expect(unitRows())
        var used: [Float] = []
        for step in 0..<3 {
            let context = StepContext(step: step, totalSteps: 3, isTraining: true)
            let before = method.prototypes.weight.scalars
            let output = method.loss(batch, context)
            used.append(output.metrics["queue_used"]!)
            optimizer.zeroGrad()
            output.loss.backward()
            method.beforeOptimizerStep(context)
            optimizer.step()
            method.afterOptimizerStep(output, context)
            #expect(unitRows())
            let moved = maxAbsoluteDifference(method.prototypes.weight.scalars, before)
            #expect(step == 0 ? moved < 1e-6 : moved > 1e-4, "step \(step): frozen only in step 0, moved \(moved)")
        }
        // The queue is used from step 2 on (full after 2 steps of 4 rows); it holds the last 8 global projections.
        #expect(used == [0, 0, 1])
        let queued = method.queues[1].queue.scalars
        #expect(method.queues[0].pointer.item == 4 && queued.allSatisfy { $0.isFinite })
    }

    @Test func swavRefusesViewsWithoutTwoGlobalCropsFirst() {
        var input = InputShape(kind: .imageViews)
        input.views = [.init(height: 28, width: 28), .init(height: 12, width: 12)]
        #expect { try SwAV.validate(SwAVConfig(), input: input) } throws: { ($0 as? ConfigError)?.key == "data.views" }
        input.views = [.init(height: 28, width: 28), .init(height: 28, width: 28), .init(height: 12, width: 12)]
        #expect(throws: Never.self) { try SwAV.validate(SwAVConfig(), input: input) }
    }

    @Test func deepClusterFillsItsMemoryClustersItAndTrainsAgainstTheClusters() throws {
        var config = fixtureSized(DeepClusterConfig())
        config.prototypes = [3, 4]
        let method = DeepCluster(config: config, imageChannels: 1, classes: 0, items: 12, refreshEvery: 3, seed: 4)
        var g = RandomGenerator(seed: 9)
        let images = Tensor.uniform([12, 6, 6, 1], low: -1, high: 1, generator: &g)
        struct Source: MethodDataSource {
            let images: Tensor
            var itemCount: Int { images.shape[0] }
            func batch(items: [Int]) throws -> Batch { Batch(inputs: images.indexSelect(alongAxis: 0, indices: items), labels: [], items: items, index: 0) }
        }
        let running = method.backbone.buffers.map { $0.tensor.scalars }
        try method.refresh(StepContext(step: 0, totalSteps: 4, isTraining: true), data: Source(images: images))
        #expect(method.memory.filled.item == 1)
        #expect(method.backbone.buffers.map { $0.tensor.scalars } == running, "the pass leaves the running statistics alone")
        // Every image has a cluster in each head, and each head's prototypes are unit centroids.
        let assignments = method.memory.assignments.scalars
        #expect(assignments.allSatisfy { $0 >= 0 } && Set(assignments[0..<12]).isSubset(of: [0, 1, 2]) && Set(assignments[12...]).isSubset(of: [0, 1, 2, 3]))
        for head in method.prototypes {
            let w = head.weight.scalars, p = 3
            #expect((0..<head.weight.shape[0]).allSatisfy { r in Swift.abs((0..<p).reduce(Float(0)) { $0 + w[r * p + $1] * w[r * p + $1] } - 1) < 1e-4 })
            #expect(!head.weight.requiresGrad)
        }
        // A step's projections go to the memory at the batch's items; the loss is finite and uses the targets.
        let items = [5, 2, 7]
        let batch = Batch(views: [images.indexSelect(alongAxis: 0, indices: items), images.indexSelect(alongAxis: 0, indices: items) * 0.9],
                          labels: [], items: items, index: 0)
        let output = method.loss(batch, StepContext(step: 0, totalSteps: 4, isTraining: true))
        #expect(output.loss.item.isFinite && output.loss.item > 0)
        method.afterOptimizerStep(output, StepContext(step: 0, totalSteps: 4, isTraining: true))
        let memory = method.memory.embeddings.scalars
        #expect(Array(memory[(12 + 2) * 3..<(12 + 2) * 3 + 3]) == output.state["view1"]!.sliced(alongAxis: 0, start: 1, length: 1).scalars)
        // Validation (images outside the training set) leaves the memory alone.
        let before = method.memory.embeddings.scalars
        _ = withoutGrad { method.loss(Batch(views: batch.views, labels: [], items: [100, 101, 102], index: 0), .evaluation()) }
        #expect(method.memory.embeddings.scalars == before)
    }
}
