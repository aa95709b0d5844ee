// Optimisers, schedules and clipping against PyTorch (Tests/Fixtures/layers.json, generate_layers.py);
// LARS against its published update rule written out in the generator.

import Layers
import Testing
import TensorCore
import TestSupport

private func runOptimizer(_ name: String, _ make: ([(name: String, tensor: Tensor)]) -> any Optimizer) throws {
    let fixture = try Fixture("layers")
    let w = try fixture.tensor(name, "init.w"), b = try fixture.tensor(name, "init.b")
    w.requiresGrad = true
    b.requiresGrad = true
    let optimizer = make([("w", w), ("b", b)])
    for step in 0..<3 {
        w.grad = try fixture.tensor(name, "grad\(step).w")
        b.grad = try fixture.tensor(name, "grad\(step).b")
        optimizer.step()
        let errorW = maxAbsoluteDifference(w.scalars, try fixture.tensor(name, "after\(step).w").scalars)
        let errorB = maxAbsoluteDifference(b.scalars, try fixture.tensor(name, "after\(step).b").scalars)
        #expect(errorW < 1e-5 && errorB < 1e-5, "\(name) step \(step): parameters differ by \(errorW), \(errorB)")
    }
    #expect(optimizer.stepCount == 3)
}

@Suite struct OptimizerTests {
    @Test func sgdVariants() throws {
        try runOptimizer("sgd_nesterov") { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true) }
        try runOptimizer("sgd_dampening") { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01) }
    }

    @Test func adamAndAdamW() throws {
        try runOptimizer("adam") { Adam(parameters: $0, learningRate: 0.01, betas: (0.8, 0.95), weightDecay: 0.1) }
        try runOptimizer("adamw") { Adam.adamW(parameters: $0, learningRate: 0.01, weightDecay: 0.1) }
    }

    @Test func larsFollowsThePublishedRule() throws {
        try runOptimizer("lars") {
            LARS(parameters: $0, learningRate: 0.5, momentum: 0.9, weightDecay: 0.01, trustCoefficient: 0.02)
        }
        try runOptimizer("lars_clip") {
            LARS(parameters: $0, learningRate: 2, momentum: 0.9, weightDecay: 0.01, trustCoefficient: 0.5, clipTrustRatio: true)
        }
    }

    @Test func optimizerStateRoundTrips() throws {
        // Two optimisers fed the same gradients, one saved and restored midway, end identical.
        func make() -> (Tensor, Adam) {
            let p = Tensor([1, -2, 3])
            p.requiresGrad = true
            return (p, Adam(parameters: [("p", p)], learningRate: 0.1))
        }
        let (p1, o1) = make(), (p2, o2) = make()
        let grads: [[Float]] = [[0.5, -1, 2], [1, 1, 1], [-0.3, 0.2, 0.1], [2, 0, -2]]
        for (i, g) in grads.enumerated() {
            p1.grad = Tensor(g)
            o1.step()
            if i == 1 {
                let saved = o2.stateTensors(), count = o2.stepCount
                let (p3, o3) = make()
                p3.assign(p2)
                try o3.loadState(saved.map { ($0.0, $0.1.copy()) }, stepCount: count, source: "memory")
                p3.grad = Tensor(g)
                o3.step()
                #expect(p3.scalars == p1.scalars, "restored optimiser must continue identically")
            }
            p2.grad = Tensor(g)
            o2.step()
        }
        #expect(p1.scalars == p2.scalars)
        #expect(throws: StateDictError.self) {
            try o1.loadState([("exp_avg/nope", Tensor.zeros([3]))], stepCount: 1, source: "memory")
        }
    }

    @Test func schedulesMatchPyTorch() throws {
        let fixture = try Fixture("layers")
        let cosine = try fixture.tensor("schedule_cosine", "rates").scalars
        let schedule = WarmupCosineSchedule(baseRate: 0.5, warmupSteps: 0, totalSteps: 10, finalRate: 0.01)
        let ours = (0..<cosine.count).map { schedule.learningRate(atStep: $0) }
        #expect(maxAbsoluteDifference(ours, cosine) < 1e-6)
        let stepRates = try fixture.tensor("schedule_step", "rates").scalars
        let stepSchedule = StepSchedule(baseRate: 0.5, stepSize: 3, gamma: 0.5)
        #expect(maxAbsoluteDifference((0..<stepRates.count).map { stepSchedule.learningRate(atStep: $0) }, stepRates) < 1e-7)
        let warm = WarmupCosineSchedule(baseRate: 1, warmupSteps: 4, totalSteps: 8)
        #expect(warm.learningRate(atStep: 0) == 0 && warm.learningRate(atStep: 2) == 0.5 && warm.learningRate(atStep: 4) == 1)
        #expect(warm.learningRate(atStep: 8) < 1e-6 && warm.learningRate(atStep: 100) < 1e-6)
    }

    @Test func clippingMatchesPyTorch() throws {
        let fixture = try Fixture("layers")
        let a = Tensor.zeros([3, 4]), b = Tensor.zeros([5])
        a.grad = try fixture.tensor("clip", "grad.a")
        b.grad = try fixture.tensor("clip", "grad.b")
        let norm = clipGradientNorm([a, b], maxNorm: 1.5)
        #expect(Swift.abs(Double(norm) - (try fixture.number("clip", "norm"))) < 1e-4)
        #expect(maxAbsoluteDifference(a.grad!.scalars, try fixture.tensor("clip", "clipped.a").scalars) < 1e-6)
        #expect(maxAbsoluteDifference(b.grad!.scalars, try fixture.tensor("clip", "clipped.b").scalars) < 1e-6)
    }

    @Test func lossGoesDownUnderEachOptimiser() {
        // A least-squares problem: every optimiser must reduce it within 30 steps.
        var g = RandomGenerator(seed: 11)
        let x = Tensor.uniform([16, 4], low: -1, high: 1, generator: &g)
        let target = Tensor.uniform([16, 2], low: -1, high: 1, generator: &g)
        let makers: [(String, ([(name: String, tensor: Tensor)]) -> any Optimizer)] = [
            ("SGD", { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9) }),
            ("Adam", { Adam(parameters: $0, learningRate: 0.05) }),
            ("AdamW", { Adam.adamW(parameters: $0, learningRate: 0.05) }),
            ("LARS", { LARS(parameters: $0, learningRate: 2, trustCoefficient: 0.02) }),
        ]
        for (name, make) in makers {
            var layerGenerator = RandomGenerator(seed: 12)
            let model = Linear(inputSize: 4, outputSize: 2, generator: &layerGenerator)
            let optimizer = make(model.parameters)
            func loss() -> Tensor { (model(x) - target).squared().mean() }
            let initial = withoutGrad { loss().item }
            for _ in 0..<30 {
                optimizer.zeroGrad()
                loss().backward()
                optimizer.step()
            }
            let final = withoutGrad { loss().item }
            #expect(final < 0.7 * initial, "\(name): loss \(initial) → \(final)")
        }
    }
}
