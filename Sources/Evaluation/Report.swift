// Training reports: SVG line plots of a run's log and a Markdown summary.

import Foundation

public enum RunReport {
    /// One plotted series; `colour` nil takes the next of the palette.
    public struct Series {
        public let name: String
        public let points: [(x: Double, y: Double)]
        public var colour: String?
        public var dashed = false
        public var strokeWidth = 1.5
        public var opacity = 1.0
        public init(name: String, points: [(x: Double, y: Double)], colour: String? = nil, dashed: Bool = false,
                    strokeWidth: Double = 1.5, opacity: Double = 1.0) {
            (self.name, self.points, self.colour, self.dashed, self.strokeWidth, self.opacity) =
                (name, points, colour, dashed, strokeWidth, opacity)
        }
    }

    /// Reads DIR/log.jsonl into one dictionary per line.
    public static func readLog(_ runFolder: String) throws -> [[String: Double]] {
        let path = URL(fileURLWithPath: runFolder).appendingPathComponent("log.jsonl").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "\(path): no training log"])
        }
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
    }

    /// The covariance spectra logged at each validation (`spectrum_<representation>` arrays of DIR/log.jsonl), in
    /// log order: (step, representation, singular values largest first).
    public static func readSpectra(_ runFolder: String) throws -> [(step: Int, representation: String, values: [Double])] {
        let path = URL(fileURLWithPath: runFolder).appendingPathComponent("log.jsonl").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").flatMap { line -> [(step: Int, representation: String, values: [Double])] in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = (object["step"] as? NSNumber)?.intValue else { return [] }
            return object.keys.sorted().compactMap { key in
                guard key.hasPrefix("spectrum_"), let values = object[key] as? [NSNumber] else { return nil }
                return (step, String(key.dropFirst(9)), values.map(\.doubleValue))
            }
        }
    }

    /// One panel per representation: log10 of each singular value against its rank, a line per validation step
    /// (later steps darker), floored 8 decades below the largest value.
    public static func spectrumSVG(_ spectra: [(step: Int, representation: String, values: [Double])]) -> String {
        spectrumSVG(spectra.map { (label: "step \($0.step)", representation: $0.representation, values: $0.values) }, graded: true)
    }

    /// One panel per representation, a line per labelled spectrum (`graded`: shades from light to dark in order, as
    /// successive checkpoints; otherwise the palette, as different models).
    public static func spectrumSVG(_ spectra: [(label: String, representation: String, values: [Double])], graded: Bool) -> String {
        var names: [String] = []
        for s in spectra where !names.contains(s.representation) { names.append(s.representation) }
        let panelWidth = 520.0, panelHeight = 380.0
        var body = ""
        for (index, name) in names.enumerated() {
            let rows = spectra.filter { $0.representation == name }
            let top = rows.flatMap(\.values).max().map { Foundation.log10(max($0, 1e-30)) } ?? 0
            let floor = top - 8
            let series = rows.enumerated().map { i, row in
                let shade = rows.count > 1 ? Double(i) / Double(rows.count - 1) : 1
                let grey = Int(200 - 200 * shade)
                let points = row.values.enumerated().map { (Double($0.offset + 1), max(Foundation.log10(max($0.element, 1e-30)), floor)) }
                return Series(name: row.label, points: points,
                              colour: graded ? String(format: "#%02x%02x%02x", grey, grey, min(255, grey + 80)) : palette[i % palette.count])
            }
            body += chart(title: "\(name): covariance spectrum", xLabel: "singular value rank", yLabel: "log10 σ", series: series,
                          originX: Double(index) * panelWidth, width: panelWidth, height: panelHeight, legendWidth: 100,
                          yRange: floor...(top + 0.2))
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(panelWidth * Double(max(names.count, 1))))" height="\(Int(panelHeight))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """ + body + "</svg>\n"
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                          "#17becf", "#393b79", "#637939"]

    /// A standalone SVG line chart.
    public static func svg(title: String, xLabel: String, yLabel: String, series: [Series]) -> String {
        let width = 640.0, height = 400.0
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """ + chart(title: title, xLabel: xLabel, yLabel: yLabel, series: series, width: width, height: height) + "</svg>\n"
    }

    /// One chart as an SVG group at (`originX`, `originY`), `width` × `height`, with its legend on the right.
    /// `yRange` fixes the vertical axis (points outside are clipped); by default it spans the data.
    public static func chart(title: String, xLabel: String, yLabel: String, series: [Series], originX: Double = 0,
                             originY: Double = 0, width: Double, height: Double, legendWidth: Double = 150,
                             yRange: ClosedRange<Double>? = nil) -> String {
        let left = 60.0, right = legendWidth, top = 40.0, bottom = 50.0
        let all = series.flatMap(\.points)
        let xs = all.map(\.x), ys = all.map(\.y)
        let (x0, x1) = (xs.min() ?? 0, max(xs.max() ?? 1, (xs.min() ?? 0) + 1e-9))
        var (y0, y1) = yRange.map { ($0.lowerBound, $0.upperBound) } ?? (ys.min() ?? 0, ys.max() ?? 1)
        if y1 - y0 < 1e-9 { y0 -= 0.5; y1 += 0.5 }
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (width - left - right) }
        func py(_ y: Double) -> Double { height - bottom - (min(max(y, y0), y1) - y0) / (y1 - y0) * (height - top - bottom) }
        var svg = """
            <g transform="translate(\(originX),\(originY))">
            <text x="\(width / 2 - 40)" y="22" font-size="15">\(title)</text>
            <line x1="\(left)" y1="\(height - bottom)" x2="\(width - right)" y2="\(height - bottom)" stroke="black"/>
            <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(height - bottom)" stroke="black"/>
            <text x="\((width - right + left) / 2 - 20)" y="\(height - 12)">\(xLabel)</text>
            <text x="14" y="\(top - 10)">\(yLabel)</text>

            """
        for i in 0...4 {
            let fraction = Double(i) / 4
            let yValue = y0 + fraction * (y1 - y0), xValue = x0 + fraction * (x1 - x0)
            svg += "<text x=\"4\" y=\"\(py(yValue) + 4)\">\(String(format: "%.3g", yValue))</text>\n"
            svg += "<line x1=\"\(left)\" y1=\"\(py(yValue))\" x2=\"\(width - right)\" y2=\"\(py(yValue))\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(px(xValue) - 10)\" y=\"\(height - bottom + 16)\">\(String(format: "%.0f", xValue))</text>\n"
        }
        for (index, s) in series.enumerated() where !s.points.isEmpty {
            let colour = s.colour ?? palette[index % palette.count]
            let path = s.points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            let style = (s.dashed ? " stroke-dasharray=\"5,4\"" : "") + (s.opacity < 1 ? " stroke-opacity=\"\(s.opacity)\"" : "")
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(s.strokeWidth)\"\(style) points=\"\(path)\"/>\n"
            if !s.name.isEmpty {
                svg += "<text x=\"\(width - right + 10)\" y=\"\(top + 16 * Double(index))\" fill=\"\(colour)\">\(s.name)</text>\n"
            }
        }
        return svg + "</g>\n"
    }

    /// Writes loss.svg, accuracy.svg and report.md for the run in `runFolder` into `outFolder`; returns the paths.
    public static func write(runFolder: String, outFolder: String) throws -> [String] {
        let log = try readLog(runFolder)
        try FileManager.default.createDirectory(atPath: outFolder, withIntermediateDirectories: true)
        let loss = Series(name: "train loss", points: log.compactMap { l in l["loss"].map { (l["step"] ?? 0, $0) } })
        let validation = Series(name: "validation loss", points: log.compactMap { l in l["validation_loss"].map { (l["step"] ?? 0, $0) } })
        let steps = Set(log.flatMap(\.keys).filter { $0.hasPrefix("accuracy_k") }).compactMap { Int($0.dropFirst(10)) }.sorted()
        func series(_ key: String, _ name: String) -> Series? {
            let points = log.compactMap { l in l[key].map { (l["step"] ?? 0, $0) } }
            return points.isEmpty ? nil : Series(name: name, points: points)
        }
        // CPC: the accuracy per prediction step; pair methods: the contrastive task's and the online probe's.
        let accuracy = steps.map { k in
            Series(name: "k = \(k)", points: log.compactMap { l in l["accuracy_k\(k)"].map { (l["step"] ?? 0, $0) } })
        } + [series("contrastive_accuracy", "contrastive (positive ranked first)"), series("online_accuracy", "online linear probe")]
            .compactMap { $0 }
        let collapse = series("collapse_std", "std of normalised outputs per dimension")
        let out = URL(fileURLWithPath: outFolder)
        let lossPath = out.appendingPathComponent("loss.svg").path, accuracyPath = out.appendingPathComponent("accuracy.svg").path
        try svg(title: "Training loss", xLabel: "step", yLabel: "loss", series: [loss, validation])
            .write(toFile: lossPath, atomically: true, encoding: .utf8)
        try svg(title: steps.isEmpty ? "Accuracy" : "Prediction accuracy per step k", xLabel: "step", yLabel: "accuracy", series: accuracy)
            .write(toFile: accuracyPath, atomically: true, encoding: .utf8)
        var paths = [lossPath, accuracyPath]
        var markdown = "# Run \(runFolder)\n\n![loss](loss.svg)\n\n![accuracy](accuracy.svg)\n\n"
        if let collapse {
            let path = out.appendingPathComponent("collapse.svg").path
            try svg(title: "Collapse monitor (Chen and He 2021; 1/√D when spread, 0 when collapsed)", xLabel: "step", yLabel: "std",
                    series: [collapse]).write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
            markdown += "![collapse](collapse.svg)\n\n"
        }
        // CPC: the lower bound on I(x_{t+k}; c_t) its k-step loss implies, log N − L_k, under its ceiling log N.
        let boundSteps = Set(log.flatMap(\.keys).filter { $0.hasPrefix("mi_bound_k") }).compactMap { Int($0.dropFirst(10)) }.sorted()
        if !boundSteps.isEmpty {
            var bounds = boundSteps.map { k in
                Series(name: "k = \(k)", points: log.compactMap { l in l["mi_bound_k\(k)"].map { (l["step"] ?? 0, $0) } })
            }
            if var ceiling = series("mi_bound_limit", "log N (ceiling)") {
                (ceiling.colour, ceiling.dashed) = ("#000000", true)
                bounds.append(ceiling)
            }
            let path = out.appendingPathComponent("mi_bound.svg").path
            try svg(title: "Implied MI bound: log N − loss_k", xLabel: "step", yLabel: "nats",
                    series: bounds).write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
            markdown += "![implied MI bound](mi_bound.svg)\n\n"
        }
        // The dimensional-collapse spectrum (Jing et al. 2022) of each representation at each validation.
        let spectra = try readSpectra(runFolder)
        if !spectra.isEmpty {
            let path = out.appendingPathComponent("spectrum.svg").path
            try spectrumSVG(spectra).write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
            markdown += "![covariance spectrum](spectrum.svg)\n\n"
        }
        if let last = log.last {
            markdown += "Last logged step \(Int(last["step"] ?? 0)) after \(String(format: "%.0f", last["elapsed_seconds"] ?? 0)) s: "
                + "loss \(String(format: "%.4f", last["loss"] ?? .nan))"
            if let v = log.last(where: { $0["validation_loss"] != nil })?["validation_loss"] {
                markdown += ", validation loss \(String(format: "%.4f", v))"
            }
            if !steps.isEmpty {
                markdown += "; accuracy " + steps.map { "k=\($0) \(String(format: "%.3f", last["accuracy_k\($0)"] ?? .nan))" }.joined(separator: ", ")
            }
            if !boundSteps.isEmpty {
                markdown += "; implied MI bound (nats) " + boundSteps.map { "k=\($0) \(String(format: "%.3f", last["mi_bound_k\($0)"] ?? .nan))" }
                    .joined(separator: ", ")
            }
            for (key, name) in [("online_accuracy", "online probe accuracy"), ("collapse_std", "collapse monitor"),
                                ("effective_rank_backbone", "effective rank of the backbone"),
                                ("effective_rank_projector", "effective rank of the projector")] {
                if let value = last[key] { markdown += "; \(name) \(String(format: "%.3f", value))" }
            }
            markdown += ".\n"
        }
        let probesPath = URL(fileURLWithPath: runFolder).appendingPathComponent("probes.json").path
        if let data = FileManager.default.contents(atPath: probesPath),
           let results = try? JSONDecoder().decode([ProbeResult].self, from: data) {
            markdown += "\n## Probes\n\n" + Probes.table(results) + "\n"
        }
        let markdownPath = out.appendingPathComponent("report.md").path
        try markdown.write(toFile: markdownPath, atomically: true, encoding: .utf8)
        return paths + [markdownPath]
    }
}
