// `cpc report --run DIR`: SVG plots of the training log and a Markdown summary (with probe results when present).

import ArgumentParser
import Evaluation
import Foundation

extension FeatureKind: ExpressibleByArgument {}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "SVG plots of a run's log and a Markdown summary.")
    @Option(name: .customLong("run"), help: "Run folder (holds log.jsonl, and probes.json if probed).") var runFolder: String
    @Option(help: "Output folder (default: the run folder).") var out: String?

    func run() throws {
        for path in try RunReport.write(runFolder: runFolder, outFolder: out ?? runFolder) { print(path) }
    }
}
