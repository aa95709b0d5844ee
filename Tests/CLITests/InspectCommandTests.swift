// `cpc inspect` end to end: PyTorch's file, JSON output, and a clear error for a missing or corrupt file.

import Foundation
import Testing
import TensorCore
import TestSupport

@Suite struct InspectCommandTests {
    let torchFile = repositoryRoot.appendingPathComponent("Tests/Fixtures/torch_conv_gru.safetensors").path

    @Test func listsTensorsOfAPyTorchFile() throws {
        let result = try runCPC(["inspect", torchFile])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        #expect(result.standardOutput.contains("gru.weight_ih_l0"))
        #expect(result.standardOutput.contains("[18, 4]"))
        #expect(result.standardOutput.contains("norm.num_batches_tracked"))
        #expect(result.standardOutput.contains("I64"))
    }

    @Test func jsonOutputCountsParameters() throws {
        let result = try runCPC(["inspect", torchFile, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        #expect(tensors.count == 11)
        // conv 4·10 + 4, norm 4·4 + 1, GRU 18·4 + 18·6 + 18 + 18
        #expect(object["parameter_count"] as? Int == 44 + 17 + 72 + 108 + 36)
    }

    @Test func badFilesFailWithTheFileNamed() throws {
        let missing = try runCPC(["inspect", "/nonexistent/model.safetensors"])
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("/nonexistent/model.safetensors: no such file"))
        let notTensors = try runCPC(["inspect", repositoryRoot.appendingPathComponent("Package.swift").path])
        #expect(notTensors.status != 0)
        #expect(notTensors.standardError.contains("Package.swift"))
        #expect(!notTensors.standardError.contains("Fatal error"))
    }

    @Test func nonFiniteValuesAreListedThenAnError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-nan-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write([("ok", Tensor([1, 2], shape: [2])), ("bad", Tensor([1, .nan, .infinity], shape: [3]))], to: path)
        let result = try runCPC(["inspect", path])
        #expect(result.status != 0 && result.standardOutput.contains("bad"))
        #expect(result.standardError.contains("\(path): 1 tensor(s) hold NaN or ±∞ values: bad (2 of 3)"), "\(result.standardError)")
    }
}
