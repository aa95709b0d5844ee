// `cpc inspect FILE.safetensors`: the tensors, shapes and metadata of a checkpoint (ours or PyTorch's).

import ArgumentParser
import Evaluation
import Foundation
import Layers
import TensorCore
import Training

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the tensors, shapes and metadata of a safetensors file (and its checkpoint sidecar).")

    @Argument(help: "A .safetensors file.") var file: String
    @Flag(help: "Print one JSON object instead of a table.") var json = false
    @Option(help: """
        Check the tensors against the model this config's model section builds (an audio model; checked against the \
        sidecar's when there is one). Without it, a sidecar's config is used when there is one.
        """)
    var config: String?

    func run() throws {
        let (entries, metadata) = try SafeTensors.readHeader(file)
        let total = entries.reduce(0) { $0 + $1.shape.reduce(1, *) }  // checked by the reader against the file's length
        let sidecar = FileManager.default.fileExists(atPath: Checkpoint.sidecarPath(for: file))
            ? try Checkpoint.readSidecar(for: file) : nil
        // The values too: a checkpoint holding NaN or ±∞ is listed, then reported as an error (exit 1).
        let (tensors, _) = try SafeTensors.read(file)
        let nonFinite = tensors.compactMap { name, tensor -> String? in
            let count = tensor.withUnsafeBufferPointer { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
            return count == 0 ? nil : "\(name) (\(count) of \(tensor.count))"
        }
        let check = try checkAgainstModel(hasSidecarConfig: sidecar?.config != nil)
        if json {
            var object: [String: Any] = [
                "model_check": check,
                "file": file, "metadata": metadata, "parameter_count": total,
                "tensors": entries.map { ["name": $0.name, "dtype": $0.dtype.rawValue, "shape": $0.shape] as [String: Any] },
                "non_finite": nonFinite,
            ]
            if let sidecar {
                object["sidecar"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(sidecar))
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            try reject(nonFinite)
            return
        }
        print(file)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { print("  metadata \(key) = \(value)") }
        let width = max(4, entries.map(\.name.count).max() ?? 0)
        print("  " + "name".padding(toLength: width, withPad: " ", startingAt: 0) + "  dtype  shape")
        for entry in entries {
            print("  " + entry.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + entry.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0) + "  \(entry.shape)")
        }
        print("  \(entries.count) tensors, \(total) values")
        if let sidecar {
            print("  sidecar: step \(sidecar.step)"
                + (sidecar.optimizer.map { ", optimizer \($0.kind) (step \($0.stepCount), lr \($0.learningRate))" } ?? "")
                + (sidecar.randomStates.isEmpty ? "" : ", generators \(sidecar.randomStates.keys.sorted().joined(separator: ", "))"))
        }
        print("  model: \(check)")
        try reject(nonFinite)
    }

    /// Whether the tensors are the model's that the config (`--config`, else the sidecar's) builds: "matches …",
    /// "not checked: …", or an error listing the differences.
    func checkAgainstModel(hasSidecarConfig: Bool) throws -> String {
        guard config != nil || hasSidecarConfig else { return "not checked (no sidecar config; pass --config FILE to check)" }
        let runConfig = try RunConfig.forCheckpoint(file, configFile: config)
        guard runConfig.data.kind == .audioWindows else {
            return "not checked (the image method '\(runConfig.method)' is shaped by its data; cpc probe image checks it)"
        }
        let method = try runConfig.makeMethod(input: try MethodLoader.inputShape(for: runConfig, like: nil, source: config ?? file))
        try Checkpoint.loadModel(method.model, from: file)
        return "matches the '\(runConfig.method)' model of \(config ?? Checkpoint.sidecarPath(for: file))"
    }

    /// Fails when tensors hold non-finite values, naming them (after the listing, which stays useful).
    func reject(_ nonFinite: [String]) throws {
        guard !nonFinite.isEmpty else { return }
        throw ValidationError("\(file): \(nonFinite.count) tensor(s) hold NaN or ±∞ values: "
            + nonFinite.prefix(10).joined(separator: ", ") + (nonFinite.count > 10 ? ", …" : ""))
    }
}
