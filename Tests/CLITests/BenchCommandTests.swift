// End-to-end tests of the `cpc` binary: help, argument errors, and `cpc bench kernels --json`.

import Foundation
import Testing
import TestSupport

@Suite struct BenchCommandTests {
    @Test func helpListsTheSubcommands() throws {
        let result = try runCPC(["--help"])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("bench"))
    }

    @Test func benchKernelsPrintsOneJSONObjectWithTheMeasuredFigures() throws {
        let result = try runCPC(["bench", "kernels", "--json", "--threads", "1", "--repeats", "1", "--sgemm-size", "64",
                                 "--batch", "1", "--samples", "1600", "--channels", "8"])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let sgemm = try #require(object["sgemm_gflops"] as? Double)
        #expect(sgemm > 0)
        let layers = try #require(object["layers"] as? [[String: Any]])
        #expect(layers.count == 5)
        #expect(layers.map { $0["kernel"] as? Int } == [10, 8, 4, 4, 4])
        #expect(layers.map { $0["stride"] as? Int } == [5, 4, 2, 2, 2])
        // 1600 samples → 319 → 78 → 38 → 18 → 8 frames.
        #expect(layers.last?["output_shape"] as? [Int] == [1, 8, 8])
        #expect(layers.allSatisfy { ($0["gflops"] as? Double ?? 0) > 0 })
        #expect((object["encoder_fraction_of_sgemm"] as? Double ?? 0) > 0)
        #expect(object["threads"] as? Int == 1)
    }

    @Test func badArgumentsFailWithAMessage() throws {
        let result = try runCPC(["bench", "kernels", "--threads", "0"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("--threads must be in 1...1024, got 0"))
        let many = try runCPC(["bench", "kernels", "--threads", "100000"])
        #expect(many.status != 0 && many.standardError.contains("--threads must be in 1...1024, got 100000"))
        let unknown = try runCPC(["bench", "nonsense"])
        #expect(unknown.status != 0)
    }
}
