// `cpc spectrum --checkpoint FILE`: the dimensional-collapse diagnostic of a trained image model — the singular
// values of the covariance of its backbone and projector outputs over a fixed set of unaugmented images, with the
// effective rank and the count of collapsed directions.

import ArgumentParser
import Evaluation
import Foundation
import ImageFrontEnd
import Methods
import TensorCore
import Training

enum SpectrumSplit: String, ExpressibleByArgument, CaseIterable { case test, train }

struct Spectrum: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Covariance spectrum (dimensional collapse) of an image model's backbone and projector outputs.",
        discussion: """
            Reads the first --images images of the split without augmentation, computes each representation the model \
            gives (backbone: what probes read; projector: what the loss sees), and prints the width, the effective rank \
            (Roy and Vetterli 2007), the directions below 1e-5 of the largest singular value, and the largest and \
            smallest singular values. --json writes every value. Jing et al. 2022 explain the plot that `cpc report` \
            draws from the same numbers logged during training.
            """)
    @Option(help: "A checkpoint of an image method (.safetensors with its .json sidecar); repeat it to compare several.")
    var checkpoint: [String]
    @Option(help: "Image corpus folder (default: the corpus of the checkpoint's config).") var corpus: String?
    @Option(help: "Images to read (at least 2; more than the widest representation for a full-rank estimate).") var images = 1024
    @Option(help: "Split to read the images from: test or train.") var split = SpectrumSplit.test
    @Option(help: "Write every singular value to this JSON file (a list, one entry per checkpoint).") var json: String?
    @Option(help: "Draw the spectra (one panel per representation, a line per checkpoint) into this SVG file.") var plot: String?
    @Option(help: "Threads for BLAS and elementwise loops.") var threads: Int?

    func validate() throws {
        if images < 2 || images > 65536 { throw ValidationError("--images must be in 2...65536, got \(images)") }
        if checkpoint.isEmpty { throw ValidationError("give --checkpoint FILE (one or more)") }
        if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be in 1...1024, got \(threads)") }
    }

    func run() throws { try withStageProgress(perform) }

    func perform() throws {
        Threads.setCount(threads ?? Threads.processorCount)
        let results = try checkpoint.map { path in (path: path, spectra: try spectra(of: path)) }
        let entries: [[String: Any]] = results.map {
            ["checkpoint": $0.path, "method": $0.spectra.method, "images": images, "split": split.rawValue, "representations": $0.spectra.rows]
        }
        // Lines are labelled by method, and by run folder too when one method appears twice.
        let methods = results.map(\.spectra.method)
        var lines: [(label: String, representation: String, values: [Double])] = []
        for (path, (method, rows)) in results {
            let label = methods.filter { $0 == method }.count > 1
                ? "\(method) (\(URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent))" : method
            for row in rows { lines.append((label, row["representation"] as! String, row["singular_values"] as! [Double])) }
        }
        if let json {
            try SafeTensors.writeAtomically(try JSONSerialization.data(withJSONObject: entries, options: [.prettyPrinted, .sortedKeys]), to: json)
            print("wrote \(json)")
        }
        if let plot {
            try SafeTensors.writeAtomically(Data(RunReport.spectrumSVG(lines, graded: false).utf8), to: plot)
            print("wrote \(plot)")
        }
    }

    /// The method and one row per representation of the checkpoint at `path`, printed as they are computed.
    func spectra(of path: String) throws -> (method: String, rows: [[String: Any]]) {
        let config = try RunConfig.stored(with: path)
        let folder: String
        switch config.data {
        case .imageViews(let d): folder = corpus ?? d.corpus
        case .patchGrid(let d): folder = corpus ?? d.corpus
        case .audio:
            throw ValidationError("\(path): method '\(config.method)' trains on audio; the spectrum is for image methods")
        }
        let set = try ImageCorpus.load(folder, split: split == .test ? .test : .train).prefix(images)
        let extractor = try MethodImageFeatures.load(checkpoint: path, like: set)
        var rows: [[String: Any]] = []
        print("\(config.method) at \(path), \(set.count) \(split.rawValue) images of \(folder)")
        for (name, request) in EmbeddingSpectrum.representations where extractor.supports(request, like: set) {
            extractor.request = request
            let spectrum = try EmbeddingSpectrum(of: extractor.features(of: set))
            let values = spectrum.singularValues
            let collapsed = spectrum.collapsedDimensions()
            print(String(format: "%@: width %d, effective rank %.1f, %d of %d directions below 1e-5 of the largest", name,
                         values.count, spectrum.effectiveRank, collapsed, values.count))
            let text = values.map { String(format: "%.3g", $0) }
            print("  σ: " + (values.count <= 12 ? text.joined(separator: " ")
                                : text.prefix(6).joined(separator: " ") + " … " + text.suffix(6).joined(separator: " ")))
            rows.append(["representation": name, "width": values.count, "effective_rank": Double(spectrum.effectiveRank),
                         "collapsed_directions": collapsed, "singular_values": values.map(Double.init)])
        }
        if rows.isEmpty { throw ValidationError("\(path): method '\(config.method)' gives no backbone or projector representation") }
        return (config.method, rows)
    }
}
