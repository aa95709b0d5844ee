// The MI bounds (Objectives/MutualInformationBounds.swift): values and gradients against PyTorch
// (Tests/Fixtures/generate_mi_bounds.py), finite differences, and exact values on hand-made score matrices.

import Foundation
import Objectives
import Testing
import TensorCore
import TestSupport

@Suite struct MutualInformationBoundTests {
    let fixture: Fixture
    init() throws { fixture = try Fixture("mi_bounds") }

    /// Checks a bound's value and gradients against the fixture case `name`.
    func expectMatchesPyTorch(_ name: String, tolerance: Float = 2e-5,
                              _ bound: (Tensor, Tensor?) -> Tensor) throws {
        let scores = try fixture.tensor(name, "scores")
        scores.requiresGrad = true
        let baselines = fixture.has(name, "log_baselines") ? try fixture.tensor(name, "log_baselines") : nil
        baselines?.requiresGrad = true
        let value = bound(scores, baselines)
        #expect(Swift.abs(Double(value.item) - (try fixture.number(name, "value"))) < Double(tolerance), "\(name) value \(value.item)")
        value.backward()
        #expect(maxAbsoluteDifference(scores.grad!.scalars, try fixture.tensor(name, "grad_scores").scalars) < tolerance,
                "\(name) gradient of the scores")
        if let baselines {
            #expect(maxAbsoluteDifference(baselines.grad!.scalars, try fixture.tensor(name, "grad_log_baselines").scalars) < tolerance,
                    "\(name) gradient of the baselines")
        }
    }

    @Test func everyBoundMatchesPyTorch() throws {
        typealias B = MutualInformationBounds
        try expectMatchesPyTorch("infonce") { s, _ in B.infoNCE(scores: s) }
        try expectMatchesPyTorch("nwj") { s, _ in B.nwj(scores: s) }
        try expectMatchesPyTorch("tuba") { s, b in B.tuba(scores: s, logBaselines: b) }
        try expectMatchesPyTorch("tuba_no_baseline") { s, _ in B.tuba(scores: s, logBaselines: nil) }
        try expectMatchesPyTorch("dv") { s, _ in B.dv(scores: s) }
        let clip = Float(try fixture.number("dv_clipped", "clip"))
        try expectMatchesPyTorch("dv_clipped") { s, _ in B.dv(scores: s, clip: clip) }
        try expectMatchesPyTorch("js_divergence") { s, _ in B.jensenShannon(scores: s) }
        try expectMatchesPyTorch("js") { s, _ in B.jensenShannonTrainedNWJ(scores: s) }
        try expectMatchesPyTorch("smile") { s, _ in B.smile(scores: s, clip: clip) }
        let alpha = try fixture.number("interpolated", "alpha")
        try expectMatchesPyTorch("interpolated") { s, b in B.interpolated(scores: s, logBaselines: b!, alpha: alpha) }
        var average: Float = 0
        let (previous, momentum) = (Float(try fixture.number("mine", "moving_average")), Float(try fixture.number("mine", "momentum")))
        try expectMatchesPyTorch("mine") { s, _ in
            let result = B.mine(scores: s, movingAverage: previous, momentum: momentum)
            average = result.movingAverage
            return result.bound
        }
        #expect(Swift.abs(Double(average) - (try fixture.number("mine", "new_moving_average"))) < 1e-5)
    }

    @Test func softplusAndLeaveOneOutLogSumExpMatchPyTorch() throws {
        for name in ["softplus", "leave_one_out_logsumexp"] {
            let x = try fixture.tensor(name, "x")
            x.requiresGrad = true
            let y = name == "softplus" ? x.softplus() : x.leaveOneOutLogSumExp()
            #expect(maxAbsoluteDifference(y.scalars, try fixture.tensor(name, "y").scalars) < 1e-5, "\(name) values")
            (y * (try fixture.tensor(name, "weights"))).sum().backward()
            #expect(maxAbsoluteDifference(x.grad!.scalars, try fixture.tensor(name, "grad_x").scalars) < 1e-5, "\(name) gradient")
        }
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        typealias B = MutualInformationBounds
        var g = RandomGenerator(seed: 21)
        let scores = Tensor.normal([5, 5], generator: &g) * 1.5
        let baselines = Tensor.normal([5], generator: &g) * 0.5
        let checks: [(String, [Tensor], ([Tensor]) -> Tensor)] = [
            ("infonce", [scores], { B.infoNCE(scores: $0[0]) }),
            ("nwj", [scores], { B.nwj(scores: $0[0]) }),
            ("tuba", [scores, baselines], { B.tuba(scores: $0[0], logBaselines: $0[1]) }),
            ("dv", [scores], { B.dv(scores: $0[0]) }),
            ("dv clipped", [scores], { B.dv(scores: $0[0], clip: 1.2) }),
            ("jensen-shannon", [scores], { B.jensenShannon(scores: $0[0]) }),
            ("interpolated", [scores, baselines], { B.interpolated(scores: $0[0], logBaselines: $0[1], alpha: 0.3) }),
            ("interpolated α = 0.99", [scores, baselines], { B.interpolated(scores: $0[0], logBaselines: $0[1], alpha: 0.99) }),
        ]
        for (name, inputs, function) in checks {
            let result = checkGradients(inputs.map { $0.copy() }, function)
            #expect(result.passed, "\(name): \(result)")
        }
        // The estimators that train with another objective's gradient: JS and SMILE follow the Jensen–Shannon bound,
        // MINE the moving-average surrogate E_p[f] − E_q[e^f]/m.
        func gradient(_ function: (Tensor) -> Tensor) -> [Float] {
            let s = scores.copy()
            s.requiresGrad = true
            function(s).backward()
            return s.grad!.scalars
        }
        let jensenShannon = gradient { B.jensenShannon(scores: $0) }
        #expect(maxAbsoluteDifference(gradient { B.jensenShannonTrainedNWJ(scores: $0) }, jensenShannon) < 1e-6)
        #expect(maxAbsoluteDifference(gradient { B.smile(scores: $0, clip: 2) }, jensenShannon) < 1e-6)
        let average: Float = 1.7
        let surrogate = gradient { B.diagonal($0).mean() - B.logMeanExpOffDiagonal($0).exp() * (1 / (0.9 * average + 0.1 * B.logMeanExpOffDiagonal($0).exp().item)) }
        #expect(maxAbsoluteDifference(gradient { B.mine(scores: $0, movingAverage: average, momentum: 0.9).bound }, surrogate) < 1e-6)
    }

    @Test func exactValuesOnHandMadeScores() {
        typealias B = MutualInformationBounds
        // A perfect critic (the joint pairs score far above the rest) gives InfoNCE its ceiling log N.
        for n in [2, 8, 64] {
            let perfect = Tensor((0..<(n * n)).map { $0 / n == $0 % n ? Float(100) : 0 }, shape: [n, n])
            #expect(Swift.abs(Double(B.infoNCE(scores: perfect).item) - Foundation.log(Double(n))) < 1e-5, "N = \(n)")
        }
        // A critic that cannot tell pairs apart (constant c) learns nothing: InfoNCE and DV are 0, TUBA is 1 + c − e^c
        // (0 at c = 0), NWJ is c − e^(c−1) (0 at c = 1), JS reports NWJ at c + 1, and the interpolated bound with
        // a(y) = e^c is 0 for every α.
        for c: Float in [-1, 0, 0.5, 1] {
            let constant = Tensor.full([6, 6], value: c)
            let d = Double(c)
            #expect(Swift.abs(B.infoNCE(scores: constant).item) < 1e-6)
            #expect(Swift.abs(B.dv(scores: constant).item) < 1e-6)
            #expect(Swift.abs(Double(B.tuba(scores: constant, logBaselines: nil).item) - (1 + d - Foundation.exp(d))) < 1e-5)
            #expect(Swift.abs(Double(B.nwj(scores: constant).item) - (d - Foundation.exp(d - 1))) < 1e-5)
            #expect(Swift.abs(Double(B.jensenShannonTrainedNWJ(scores: constant).item) - (1 + d - Foundation.exp(d))) < 1e-5)
            for alpha in [0.0, 0.3, 1.0] {
                #expect(Swift.abs(B.interpolated(scores: constant, logBaselines: Tensor.full([6], value: c), alpha: alpha).item) < 1e-5)
            }
        }
        // 2 × 2 by hand: [[a, b], [c, d]].
        let (a, b, c, d) = (1.5, -0.5, 0.25, 2.0)
        let small = Tensor([Float(a), Float(b), Float(c), Float(d)], shape: [2, 2])
        func lse(_ u: Double, _ v: Double) -> Double { Swift.max(u, v) + Foundation.log(1 + Foundation.exp(-Swift.abs(u - v))) }
        let infoNCE = Foundation.log(2.0) + ((a - lse(a, b)) + (d - lse(c, d))) / 2
        let dv = (a + d) / 2 - Foundation.log((Foundation.exp(b) + Foundation.exp(c)) / 2)
        let tuba = 1 + (a + d) / 2 - (Foundation.exp(b) + Foundation.exp(c)) / 2
        let jensenShannon = -(Foundation.log(1 + Foundation.exp(-a)) + Foundation.log(1 + Foundation.exp(-d))) / 2
            - (Foundation.log(1 + Foundation.exp(b)) + Foundation.log(1 + Foundation.exp(c))) / 2
        #expect(Swift.abs(Double(B.infoNCE(scores: small).item) - infoNCE) < 1e-6)
        #expect(Swift.abs(Double(B.dv(scores: small).item) - dv) < 1e-6)
        #expect(Swift.abs(Double(B.tuba(scores: small, logBaselines: nil).item) - tuba) < 1e-6)
        #expect(Swift.abs(Double(B.jensenShannon(scores: small).item) - jensenShannon) < 1e-6)
        #expect(Swift.abs(Double(B.smile(scores: small, clip: 0.3).item)
            - ((a + d) / 2 - Foundation.log((Foundation.exp(-0.3) + Foundation.exp(0.25)) / 2))) < 1e-6)
        // Leave-one-out log-sum-exp of one row [a, b, c] by hand, and with one entry 60 nats above the others.
        let loo = Tensor([Float(a), Float(b), Float(c)], shape: [1, 3]).leaveOneOutLogSumExp().scalars.map(Double.init)
        let expected = [lse(b, c), lse(a, c), lse(a, b)]
        #expect(zip(loo, expected).allSatisfy { Swift.abs($0 - $1) < 1e-6 }, "\(loo) vs \(expected)")
        let dominated = Tensor([60, 0, 1], shape: [1, 3]).leaveOneOutLogSumExp().scalars
        #expect(Swift.abs(Double(dominated[0]) - lse(0, 1)) < 1e-6, "the dominant entry's own value does not cancel")
    }

    @Test func infoNCENeverExceedsLogNAndTheInterpolatedBoundSpansTUBA() {
        typealias B = MutualInformationBounds
        var g = RandomGenerator(seed: 5)
        for trial in 0..<20 {
            let n = 2 + trial % 7
            let scores = Tensor.normal([n, n], generator: &g) * Float(1 + trial)
            #expect(B.infoNCE(scores: scores).item <= Float(Foundation.log(Double(n))) + 1e-5)
            // α = 0 is TUBA with the same baseline a(y_j).
            let baselines = Tensor.normal([n], generator: &g)
            #expect(Swift.abs(B.interpolated(scores: scores, logBaselines: baselines, alpha: 0).item
                - B.tuba(scores: scores, logBaselines: baselines).item) < 1e-4 * Float(1 + trial))
        }
    }

    @Test func mineStartsItsAverageAtTheFirstBatchAndMovesIt() {
        typealias B = MutualInformationBounds
        var g = RandomGenerator(seed: 9)
        let scores = Tensor.normal([4, 4], generator: &g)
        let marginal = B.logMeanExpOffDiagonal(scores).exp().item
        let first = B.mine(scores: scores, movingAverage: nil, momentum: 0.9)
        #expect(first.movingAverage == marginal)
        #expect(Swift.abs(first.bound.item - B.dv(scores: scores).item) < 1e-6, "MINE reports the DV value")
        let second = B.mine(scores: scores * 2, movingAverage: first.movingAverage, momentum: 0.9)
        let expected = 0.9 * marginal + 0.1 * B.logMeanExpOffDiagonal(scores * 2).exp().item
        #expect(Swift.abs(second.movingAverage - expected) < 1e-6)
    }

    @Test func impliedLowerBoundOfAContrastiveLoss() {
        // Chance-level loss log N implies nothing; a perfect loss implies log N.
        #expect(Swift.abs(MutualInformationBounds.impliedLowerBound(loss: Float(Foundation.log(65.0)), candidates: 65)) < 1e-6)
        #expect(Swift.abs(MutualInformationBounds.impliedLowerBound(loss: 0, candidates: 65) - Float(Foundation.log(65.0))) < 1e-6)
    }
}
