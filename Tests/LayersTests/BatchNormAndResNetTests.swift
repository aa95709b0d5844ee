// Fused batch norm against PyTorch in training and evaluation mode, running statistics included
// (Tests/Fixtures/pair_methods.json, from Tests/Fixtures/generate_pair_methods.py), its finite-difference checks,
// and the CIFAR ResNet's names and sizes (ResNet-18 at width 64 is the standard 11.17 M-parameter network).

import Layers
import Testing
import TensorCore
import TestSupport

@Suite struct BatchNormAndResNetTests {
    @Test func fusedBatchNormMatchesPyTorchInBothModes() throws {
        let fixture = try Fixture("pair_methods")
        let bn = BatchNorm(features: 3)
        bn.weight!.assign(try fixture.tensor("batchnorm_train", "weight"))
        bn.bias!.assign(try fixture.tensor("batchnorm_train", "bias"))
        let x = try fixture.tensor("batchnorm_train", "input")
        x.requiresGrad = true
        let y = bn(x)
        #expect(maxAbsoluteDifference(y.scalars, try fixture.tensor("batchnorm_train", "output").scalars) < 1e-5)
        (y * (try fixture.tensor("batchnorm_train", "upstream"))).sum().backward()
        #expect(maxAbsoluteDifference(x.grad!.scalars, try fixture.tensor("batchnorm_train", "grad_input").scalars) < 1e-4)
        #expect(maxAbsoluteDifference(bn.weight!.grad!.scalars, try fixture.tensor("batchnorm_train", "grad_weight").scalars) < 1e-4)
        #expect(maxAbsoluteDifference(bn.bias!.grad!.scalars, try fixture.tensor("batchnorm_train", "grad_bias").scalars) < 1e-4)
        #expect(maxAbsoluteDifference(bn.runningMean.scalars, try fixture.tensor("batchnorm_train", "running_mean").scalars) < 1e-6)
        #expect(maxAbsoluteDifference(bn.runningVariance.scalars, try fixture.tensor("batchnorm_train", "running_var").scalars) < 1e-6)
        #expect(bn.batchesTracked.item == 1)

        bn.setTraining(false)
        bn.zeroGrad()
        let x2 = try fixture.tensor("batchnorm_eval", "input")
        x2.requiresGrad = true
        let y2 = bn(x2)
        #expect(maxAbsoluteDifference(y2.scalars, try fixture.tensor("batchnorm_eval", "output").scalars) < 1e-5)
        (y2 * (try fixture.tensor("batchnorm_eval", "upstream"))).sum().backward()
        #expect(maxAbsoluteDifference(x2.grad!.scalars, try fixture.tensor("batchnorm_eval", "grad_input").scalars) < 1e-5)
        #expect(maxAbsoluteDifference(bn.weight!.grad!.scalars, try fixture.tensor("batchnorm_eval", "grad_weight").scalars) < 1e-4)
        #expect(maxAbsoluteDifference(bn.bias!.grad!.scalars, try fixture.tensor("batchnorm_eval", "grad_bias").scalars) < 1e-4)
        #expect(bn.batchesTracked.item == 1, "evaluation must not touch the running statistics")
    }

    @Test func fusedBatchNormGradientsMatchFiniteDifferences() {
        var g = RandomGenerator(seed: 8)
        let x = Tensor.uniform([3, 2, 2, 3], low: -1, high: 1, generator: &g)
        let w = Tensor.uniform([3], low: 0.5, high: 1.5, generator: &g), b = Tensor.uniform([3], low: -0.5, high: 0.5, generator: &g)
        let train = checkGradients([x, w, b]) { t in t[0].batchNormalized(weight: t[1], bias: t[2], epsilon: 1e-5).output }
        #expect(train.passed, "training: \(train)")
        let mean = Tensor([0.1, -0.2, 0.3]), variance = Tensor([0.5, 1.5, 2])
        let eval = checkGradients([x, w, b]) { t in t[0].batchNormalized(mean: mean, variance: variance, weight: t[1], bias: t[2], epsilon: 1e-5) }
        #expect(eval.passed, "evaluation: \(eval)")
    }

    /// relu(bn(x) + r) fused against the composite of ops (forward and every gradient), and by finite differences.
    @Test func fusedResidualReLUMatchesTheComposite() {
        var g = RandomGenerator(seed: 9)
        let x = Tensor.uniform([4, 3, 3, 5], low: -1, high: 1, generator: &g)
        let r = Tensor.uniform([4, 3, 3, 5], low: -1, high: 1, generator: &g)
        let w = Tensor.uniform([5], low: 0.5, high: 1.5, generator: &g), b = Tensor.uniform([5], low: -0.5, high: 0.5, generator: &g)
        let probe = Tensor.uniform([4, 3, 3, 5], low: -1, high: 1, generator: &g)
        for residual in [false, true] {
            func run(fused: Bool) -> [Tensor] {
                let (xs, rs, ws, bs) = (x.copy(), r.copy(), w.copy(), b.copy())
                for t in [xs, rs, ws, bs] { t.requiresGrad = true }
                let y: Tensor
                if fused {
                    y = xs.batchNormalized(weight: ws, bias: bs, epsilon: 1e-5, adding: residual ? rs : nil, relu: true).output
                } else {
                    let n = xs.batchNormalized(weight: ws, bias: bs, epsilon: 1e-5).output
                    y = (residual ? n + rs : n).relu()
                }
                (y * probe).sum().backward()
                return [y, xs.grad!, ws.grad!, bs.grad!] + (residual ? [rs.grad!] : [])
            }
            let (fused, composite) = (run(fused: true), run(fused: false))
            for (index, name) in ["output", "input", "weight", "bias", "residual"].prefix(fused.count).enumerated() {
                #expect(maxAbsoluteDifference(fused[index].scalars, composite[index].scalars) < 1e-5, "\(name), residual \(residual)")
            }
        }
        let check = checkGradients([x, r, w, b]) { t in
            t[0].batchNormalized(weight: t[2], bias: t[3], epsilon: 1e-5, adding: t[1], relu: true).output
        }
        #expect(check.passed, "\(check)")
    }

    @Test func cifarResNetHasTorchvisionNamesAndResNet18Size() {
        var g = RandomGenerator(seed: 1)
        var config = ResNetConfig()
        config.width = 64
        let resnet18 = ResNet(config: config, imageChannels: 3, generator: &g)
        #expect(resnet18.parameterCount == 11_168_832)
        let names = resnet18.stateDict.map(\.name)
        #expect(names.prefix(3) == ["conv1.weight", "bn1.weight", "bn1.bias"])
        #expect(names.contains("layer2.0.downsample.0.weight") && names.contains("layer4.1.bn2.running_var"))
        #expect(!names.contains("layer1.0.downsample.0.weight"))
        var small = ResNetConfig()
        small.width = 2
        small.blocks = [1, 1]
        let net = ResNet(config: small, imageChannels: 1, generator: &g)
        #expect(net(Tensor.zeros([2, 7, 7, 1])).shape == [2, 4])
        #expect(net.featureMap(Tensor.zeros([2, 7, 7, 1])).shape == [2, 4, 4, 4])
    }
}
