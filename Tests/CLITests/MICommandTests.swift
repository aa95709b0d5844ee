// End-to-end tests of `cpc mi`: a short staircase writes its JSON rows, summary and plot; bad flags fail with a
// message that names the flag.

import Foundation
import Testing
import TestSupport

@Suite struct MICommandTests {
    @Test func aShortStaircaseWritesRowsSummaryAndPlot() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cpc-mi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let rows = folder.appendingPathComponent("rows.json").path, summary = folder.appendingPathComponent("summary.json").path
        let plot = folder.appendingPathComponent("plot.svg").path
        let result = try runCPC(["mi", "--bound", "infonce,interpolated", "--critic", "concat", "--dim", "3", "--batch", "8",
                                 "--schedule", "1,2", "--steps", "10", "--hidden", "16", "--seeds", "2", "--threads", "1",
                                 "--json", rows, "--summary", summary, "--plot", plot])
        #expect(result.status == 0, "stderr: \(result.standardError)")
        #expect(result.standardOutput.contains("| infonce |") && result.standardOutput.contains("| interpolated |"))
        let estimates = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: rows))) as? [[String: Any]])
        #expect(estimates.count == 2 * 2 * 10)
        #expect(Set(estimates.compactMap { $0["bound"] as? String }) == ["infonce", "interpolated"])
        #expect(estimates.allSatisfy { $0["critic"] as? String == "concat" && $0["estimate"] is Double })
        #expect(estimates.prefix(10).map { $0["true_mi"] as? Double } == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2])
        let table = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: summary))) as? [[String: Any]])
        #expect(table.count == 2 * 2 && table.allSatisfy { $0["seeds"] as? Int == 2 && $0["variance"] != nil })
        #expect(try String(contentsOfFile: plot, encoding: .utf8).hasPrefix("<svg"))
    }

    @Test func badFlagsFailWithAMessageNamingThem() throws {
        let cases: [([String], String)] = [
            (["--bound", "infonce,bogus"], "--bound: unknown bound 'bogus'"),
            (["--bound", "nwj", "--schedule", "2,x"], "--schedule: 'x' is not a non-negative number"),
            (["--bound", "nwj", "--schedule=2,-1"], "--schedule: '-1' is not a non-negative number"),
            (["--bound", "nwj", "--dim", "2", "--schedule", "30"], "keep levels at most 10·--dim"),
            (["--bound", "nwj", "--batch", "1"], "--batch must lie in 2...4096"),
            (["--bound", "nwj", "--hidden=-3"], "--hidden must lie in 1...8192"),
            (["--bound", "nwj", "--learning-rate", "nan"], "--learning-rate must be a positive number"),
            (["--bound", "nwj", "--alpha", "1.5"], "--alpha must lie in [0, 1]"),
            (["--bound", "nwj", "--momentum", "1"], "--momentum must lie in [0, 1)"),
            (["--bound", "nwj", "--steps", "100", "--steps-per-level", "7"], "disagree for 5 levels"),
            (["--bound", "nwj", "--steps", "3"], "--steps must lie in 5...50000000"),
            (["--bound", "nwj", "--critic", "concat", "--batch", "4096"], "lower --batch or --hidden"),
            (["--bound", "nwj", "--steps", "5", "--json", "/nonexistent-folder/rows.json"], "the folder /nonexistent-folder does not exist"),
        ]
        for (arguments, message) in cases {
            let result = try runCPC(["mi"] + arguments)
            #expect(result.status != 0, "\(arguments) should fail")
            #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
        }
    }
}
