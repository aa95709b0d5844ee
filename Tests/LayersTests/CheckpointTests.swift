// Checkpoints: interoperability with PyTorch's safetensors in both directions, round trips, and bad files.

import Foundation
import Layers
import Testing
import TensorCore
import TestSupport

/// The Conv1d → BatchNorm → ReLU → GRU model of Tests/Fixtures/generate_layers.py (`ConvGRU`), channels-last.
final class ConvGRUModel: Layer {
    let encoder: Conv1d, norm: BatchNorm, gru: GRU
    var isTraining = true

    init(generator: inout RandomGenerator) {
        encoder = Conv1d(inputChannels: 1, outputChannels: 4, kernelSize: 10, stride: 5, generator: &generator)
        norm = BatchNorm(features: 4)
        gru = GRU(inputSize: 4, hiddenSize: 6, generator: &generator)
    }

    var ownParameters: [(name: String, tensor: Tensor)] { [] }
    var children: [(name: String, layer: any Layer)] { [("encoder", encoder), ("norm", norm), ("gru", gru)] }

    /// audio `[N, T]` → context `[N, T', 6]`.
    func callAsFunction(_ audio: Tensor) -> Tensor {
        gru(norm(encoder(audio.unsqueezed(at: 2))).relu()).output
    }
}

private func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite struct CheckpointTests {
    @Test func aCheckpointWrittenByPyTorchLoadsAndGivesTheSameOutputs() throws {
        var g = RandomGenerator(seed: 1)
        let model = ConvGRUModel(generator: &g)
        try Checkpoint.loadModel(model, from: repositoryRoot.appendingPathComponent("Tests/Fixtures/torch_conv_gru.safetensors").path)
        #expect(model.norm.batchesTracked.item == 3, "num_batches_tracked is an I64 tensor in PyTorch's file")
        model.setTraining(false)
        let fixture = try Fixture("layers")
        let output = model(try fixture.tensor("torch_conv_gru", "audio"))
        let expected = try fixture.tensor("torch_conv_gru", "output")
        #expect(output.shape == expected.shape)
        #expect(maxAbsoluteDifference(output.scalars, expected.scalars) < 1e-5)
    }

    /// The committed file Tests/Fixtures/swift_conv_gru.safetensors is what this writer produces for seed 2026; the
    /// script Tests/Fixtures/check_swift_checkpoint.py loads it with safetensors.torch and checks names, shapes and
    /// outputs in PyTorch. Set SWIFTCPC_WRITE_FIXTURES=1 to rewrite it (then run the script).
    @Test func aCheckpointWrittenHereIsTheOneCheckedInPyTorch() throws {
        var g = RandomGenerator(seed: 2026)
        let model = ConvGRUModel(generator: &g)
        model.setTraining(false)
        let audio = Tensor.uniform([2, 60], low: -1, high: 1, generator: &g)
        let output = model(audio)
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("model.safetensors").path
        try Checkpoint.save(model: model, optimizer: nil, sidecar: CheckpointSidecar(step: 0), to: path)
        let fixturePath = repositoryRoot.appendingPathComponent("Tests/Fixtures/swift_conv_gru.safetensors").path
        let fixtureIO = repositoryRoot.appendingPathComponent("Tests/Fixtures/swift_conv_gru.json").path
        if ProcessInfo.processInfo.environment["SWIFTCPC_WRITE_FIXTURES"] == "1" {
            try FileManager.default.removeItem(atPath: fixturePath)
            try FileManager.default.copyItem(atPath: path, toPath: fixturePath)
            let io: [String: Any] = ["audio": ["shape": audio.shape, "data": audio.scalars.map(Double.init)],
                                     "output": ["shape": output.shape, "data": output.scalars.map(Double.init)]]
            try JSONSerialization.data(withJSONObject: io).write(to: URL(fileURLWithPath: fixtureIO))
        }
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        let committed = try Data(contentsOf: URL(fileURLWithPath: fixturePath))
        #expect(written == committed, "the writer's bytes changed; regenerate and re-check in PyTorch")
        let (entries, metadata) = try SafeTensors.readHeader(path)
        #expect(entries.map(\.name).sorted() == model.stateDict.map(\.name).sorted())
        #expect(entries.first { $0.name == "norm.num_batches_tracked" }?.dtype == .i64)
        #expect(metadata["format"] == "pt")
    }

    @Test func saveAndResumeRestoreModelOptimiserAndGenerators() throws {
        var g = RandomGenerator(seed: 3)
        let model = ConvGRUModel(generator: &g)
        let optimizer = Adam(parameters: model.parameters, learningRate: 0.01)
        let audio = Tensor.uniform([2, 60], low: -1, high: 1, generator: &g)
        func trainStep(_ m: ConvGRUModel, _ o: Adam) {
            o.zeroGrad()
            m(audio).squared().mean().backward()
            o.step()
        }
        trainStep(model, optimizer)
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("step-1.safetensors").path
        var sampler = RandomGenerator(seed: 99)
        _ = sampler.next()
        try Checkpoint.save(model: model, optimizer: optimizer,
                            sidecar: CheckpointSidecar(step: 1, config: .object(["hidden": .number(6)]),
                                                       randomStates: ["sampler": sampler.state]), to: path)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.contains(".tmp") }
        #expect(leftovers.isEmpty, "temporary files must be renamed away: \(leftovers)")

        var other = RandomGenerator(seed: 4)
        let resumed = ConvGRUModel(generator: &other)
        let resumedOptimizer = Adam(parameters: resumed.parameters, learningRate: 0.5)
        let sidecar = try Checkpoint.load(model: resumed, optimizer: resumedOptimizer, from: path)
        #expect(sidecar.step == 1 && sidecar.config == .object(["hidden": .number(6)]))
        #expect(resumedOptimizer.stepCount == 1 && resumedOptimizer.learningRate == 0.01)
        var restoredSampler = RandomGenerator(state: sidecar.randomStates["sampler"]!)!
        #expect(restoredSampler.next() == sampler.next())
        trainStep(model, optimizer)
        trainStep(resumed, resumedOptimizer)
        for ((name, a), (_, b)) in zip(model.stateDict, resumed.stateDict) {
            #expect(a.scalars == b.scalars, "\(name) differs after resuming")
        }
    }

    @Test func mismatchedStateDictsListEveryProblem() throws {
        var g = RandomGenerator(seed: 5)
        let model = ConvGRUModel(generator: &g)
        var entries = model.stateDict.map { ($0.name, $0.tensor) }
        entries.removeAll { $0.0 == "gru.bias_hh_l0" }
        entries.append(("decoder.weight", Tensor.zeros([2])))
        entries[0] = (entries[0].0, Tensor.zeros([1]))
        do {
            try model.loadStateDict(entries, source: "bad.safetensors")
            Issue.record("loading a mismatched state dict must fail")
        } catch let error as StateDictError {
            let message = error.description
            #expect(message.contains("bad.safetensors"))
            #expect(message.contains("missing 1: gru.bias_hh_l0"))
            #expect(message.contains("unexpected 1: decoder.weight"))
            #expect(message.contains("encoder.weight: file has [1], model has [4, 1, 10]"))
        }
    }

    @Test func corruptAndTruncatedFilesGiveClearErrors() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = folder.appendingPathComponent("good.safetensors").path
        try SafeTensors.write([("a", Tensor([1, 2, 3, 4])), ("b", Tensor.ones([2, 2]))], to: good)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))

        func expectError(_ data: Data, _ fragment: String) throws {
            let path = folder.appendingPathComponent("bad-\(UUID().uuidString).safetensors").path
            try data.write(to: URL(fileURLWithPath: path))
            do {
                _ = try SafeTensors.read(path)
                Issue.record("reading a bad file must fail (\(fragment))")
            } catch let error as SafeTensorsError {
                #expect(error.path == path)
                #expect(error.problem.contains(fragment), "\(error.problem) should mention \(fragment)")
            }
        }
        try expectError(bytes.prefix(5), "too short")
        try expectError(bytes.prefix(bytes.count - 4), "truncated")
        var hugeHeader = bytes
        hugeHeader.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        try expectError(hugeHeader, "exceeds the file size")
        var garbled = bytes
        garbled[9] = UInt8(ascii: "#")
        try expectError(garbled, "not a JSON object")
        try expectError(Data("hello world, not a tensor file".utf8), "exceeds the file size")
        // A header claiming a [2^31, 2^31] tensor (or one whose size overflows): refused before any allocation.
        func withHeader(_ json: String) -> Data {
            var data = Data()
            var length = UInt64(json.utf8.count).littleEndian
            withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
            return data + Data(json.utf8) + Data(count: 16)
        }
        try expectError(withHeader(#"{"w": {"dtype": "F32", "shape": [2147483648, 2147483648], "data_offsets": [0, 16]}}"#), "needs more than the 16 bytes")
        try expectError(withHeader(#"{"w": {"dtype": "F32", "shape": [4611686018427387904, 8], "data_offsets": [0, 16]}}"#), "needs more than")
        #expect(throws: SafeTensorsError(path: "/nonexistent/x.safetensors", problem: "no such file")) {
            try SafeTensors.read("/nonexistent/x.safetensors")
        }
    }
}
