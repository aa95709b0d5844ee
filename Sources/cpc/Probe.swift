// `cpc probe phone|speaker`: linear probes on frozen features with the published protocols; `cpc embed`: export.

import ArgumentParser
import AudioFrontEnd
import Evaluation
import Foundation
import ImageFrontEnd
import Layers
import Methods
import TensorCore
import Training

/// Options shared by the probes and `embed`: where the data is and which features to use.
struct FeatureOptions: ParsableArguments {
    @Option(help: "Corpus folder or manifest.") var corpus: String
    @Option(help: "CPC checkpoint (a .safetensors file; its model config comes from its .json sidecar or --config).")
    var checkpoint: String?
    @Option(help: "context | encoder (with --checkpoint) or mfcc | logmel | random.") var features: FeatureKind?
    @Option(help: """
        With --checkpoint: the config whose model section built it (needed without a sidecar; checked against one). \
        With --features random: the model to initialise (default configs/cpc-audio-small.yaml).
        """)
    var config: String?
    @Option(help: "Threads for BLAS and elementwise loops.") var threads: Int?
    @Option(help: "Keep extracted features in this folder (.npy + index) and reuse them on later runs.")
    var featureCache: String?

    /// What identifies the features in the cache, by content: the kind, and the checkpoint's bytes and the config that
    /// rebuilds it, or the random initialisation's resolved config. Paths and dates play no part, so a replaced
    /// checkpoint or an edited config never reuses old features.
    func cacheKey() throws -> String {
        var hash = ContentHash()
        hash.add(kind.rawValue)
        switch kind {
        case .context, .encoder:
            let path = checkpoint!
            do { try hash.add(fileAt: path) } catch {
                throw ValidationError("\(path): cannot read the checkpoint to key the feature cache")
            }
            hash.add(String(decoding: try RunConfig.forCheckpoint(path, configFile: config).json(), as: UTF8.self))
        case .random:
            hash.add(String(decoding: try RunConfig.load(config ?? "configs/cpc-audio-small.yaml").json(), as: UTF8.self))
        case .mfcc, .logmel:
            break  // fixed settings
        }
        return hash.hex
    }

    func validate() throws {
        if let features, checkpoint != nil, features != .context && features != .encoder {
            throw ValidationError("--features \(features.rawValue) does not use a checkpoint; drop --checkpoint")
        }
        if checkpoint == nil, let features, features == .context || features == .encoder {
            throw ValidationError("--features \(features.rawValue) needs --checkpoint FILE")
        }
        if checkpoint == nil && features == nil { throw ValidationError("give --checkpoint FILE or --features mfcc|logmel|random") }
    }

    var kind: FeatureKind { features ?? .context }

    /// A display name for the probe table.
    var name: String {
        switch kind {
        case .context, .encoder: return "cpc-\(kind.rawValue)"
        default: return kind.rawValue
        }
    }

    /// Features of the train and test splits, through the feature cache when one is given.
    func extract(corpus: Corpus, splits: (train: [String], test: [String]), labels: PhoneLabels?) throws -> (train: FrameSet, test: FrameSet) {
        let extractor = try makeExtractor()
        let cache = AudioCache()
        let cacheKey = featureCache == nil ? "" : try self.cacheKey()
        func frames(_ ids: [String]) throws -> FrameSet {
            try FrameFeatures.extract(corpus: corpus, ids: ids, extractor: extractor, labels: labels, cache: cache,
                                      directory: featureCache, key: cacheKey)
        }
        return (try frames(splits.train), try frames(splits.test))
    }

    func makeExtractor() throws -> any FrameFeatureExtractor {
        Threads.setCount(threads ?? Threads.processorCount)
        switch kind {
        case .context, .encoder:
            return try MethodFrameFeatures.load(checkpoint: checkpoint!, configFile: config, request: kind == .context ? .context : .encoder)
        case .mfcc: return try SpectralFeatureExtractor(mfcc: true)
        case .logmel: return try SpectralFeatureExtractor(mfcc: false)
        case .random:
            return try MethodFrameFeatures.random(config: try RunConfig.load(config ?? "configs/cpc-audio-small.yaml"), request: .context)
        }
    }
}

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe", abstract: "Linear probes on frozen features.",
        subcommands: [PhoneProbe.self, SpeakerProbe.self, ImageProbe.self, ProbeTable.self])
}

struct ProbeTable: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "table", abstract: "Print a probe results file as a table.")
    @Argument(help: "A JSON file written by --json.") var file: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("\(file): no such file") }
        let results = try JSONDecoder().decode([ProbeResult].self, from: data)
        let features = results.map(\.features).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let tasks = results.map(\.task).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        print("| features | " + tasks.joined(separator: " | ") + " |")
        print("|---|" + tasks.map { _ in "---|" }.joined())
        for f in features {
            let cells = tasks.map { t in results.first { $0.features == f && $0.task == t }.map { String(format: "%.1f %%", 100 * $0.accuracy) } ?? "–" }
            print("| \(f) | " + cells.joined(separator: " | ") + " |")
        }
    }
}

/// Probe settings from the command line.
struct ProbeOptions: ParsableArguments {
    @Option(help: "Hidden units for the one-hidden-layer probe (default: linear).") var hidden: Int?
    @Option(help: "Maximum epochs per learning rate.") var epochs = 30
    @Option(help: "Learning rates tried on the held-out part of the training split (comma-separated).")
    var learningRates = "0.001,0.003,0.01"
    @Option(help: "Write the results as JSON (a list of objects with features, task, accuracy, …).") var json: String?
    @Flag(help: "Add the results to the list already in --json FILE instead of replacing it.") var append = false
    @Option(help: "Name of the features in the table and the JSON (default: cpc-context, cpc-encoder, mfcc, …).")
    var name: String?

    func settings() throws -> ProbeSettings {
        if let json { try SafeTensors.requireReplaceable(json) }
        if epochs < 1 || epochs > 100_000 { throw ValidationError("--epochs must be in 1...100000, got \(epochs)") }
        if let hidden, hidden < 1 || hidden > 65536 { throw ValidationError("--hidden must be in 1...65536, got \(hidden)") }
        var s = ProbeSettings()
        s.hidden = hidden
        s.epochs = epochs
        let rates = learningRates.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !rates.isEmpty, rates.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ValidationError("--learning-rates needs positive numbers, got '\(learningRates)'")
        }
        s.learningRates = rates
        return s
    }
}

func writeResults(_ results: [ProbeResult], options: ProbeOptions) throws {
    var results = results
    if let name = options.name { for i in results.indices { results[i].features = name } }
    print(Probes.table(results))
    guard let path = options.json else { return }
    _ = try writeJSONList(results, to: path, appending: options.append, kind: "probe result")
}

/// Writes `rows` as a pretty JSON list to `path` (atomically, creating its folder), after the rows already there when
/// `appending`; returns everything written. A file that is not such a list is an error naming it (`kind` of rows).
func writeJSONList<Row: Codable>(_ rows: [Row], to path: String, appending: Bool, kind: String) throws -> [Row] {
    var rows = rows
    if appending, let data = FileManager.default.contents(atPath: path) {
        do { rows = try JSONDecoder().decode([Row].self, from: data) + rows } catch {
            throw ValidationError("\(path): cannot append, the file is not a \(kind) list (\(error))")
        }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
    try SafeTensors.writeAtomically(try encoder.encode(rows), to: path)
    return rows
}

struct SplitOptions: ParsableArguments {
    @Option(help: "Train split (one utterance id per line; default: CORPUS/train.txt).") var trainSplit: String?
    @Option(help: "Test split (default: CORPUS/test.txt).") var testSplit: String?

    /// The two splits, after the checks `prepare` makes (the same `CorpusValidator`): every id in the corpus and
    /// (with labels) labelled, no id in both splits, label counts that fit the audio, class indices with names.
    func load(corpus: Corpus, folder: String, labels: PhoneLabels?) throws -> (train: [String], test: [String]) {
        let base = URL(fileURLWithPath: folder)
        let trainPath = trainSplit ?? base.appendingPathComponent("train.txt").path
        let testPath = testSplit ?? base.appendingPathComponent("test.txt").path
        let splits = (train: try SplitFile.read(trainPath), test: try SplitFile.read(testPath))
        try CorpusValidator.requireUsable(corpus, folder: folder, labels: labels, splits: [(trainPath, splits.train), (testPath, splits.test)],
                                          purpose: "probed")
        return splits
    }
}

struct PhoneProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phone", abstract: "Frame-level phone classification (train split frames → test split frames).")
    @OptionGroup var data: FeatureOptions
    @OptionGroup var splits: SplitOptions
    @Option(help: "Phone labels (default: CORPUS/phones.txt).") var labels: String?
    @OptionGroup var probe: ProbeOptions

    func run() throws { try withStageProgress(perform) }

    func perform() throws {
        let settings = try probe.settings()  // its checks (and --json's target) before any work
        let corpus = try Corpus.load(data.corpus)
        let phoneLabels = try PhoneLabels.read(labels ?? URL(fileURLWithPath: data.corpus).appendingPathComponent("phones.txt").path)
        let (train, test) = try data.extract(corpus: corpus, splits: try splits.load(corpus: corpus, folder: data.corpus, labels: phoneLabels),
                                             labels: phoneLabels)
        let result = Probes.phone(name: data.name, train: train, test: test, classes: phoneLabels.classCount, settings: settings)
        try writeResults([result], options: probe)
    }
}

struct SpeakerProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "speaker", abstract: "Speaker classification from mean-pooled features, per window and per utterance.")
    @OptionGroup var data: FeatureOptions
    @OptionGroup var splits: SplitOptions
    @Option(help: "Window length in frames for the per-window protocol (128 = 20480 samples).") var windowFrames = 128
    @OptionGroup var probe: ProbeOptions

    func run() throws { try withStageProgress(perform) }

    func perform() throws {
        let settings = try probe.settings()  // its checks (and --json's target) before any work
        let corpus = try Corpus.load(data.corpus)
        let ids = try splits.load(corpus: corpus, folder: data.corpus, labels: nil)
        let trainSpeakers = Set(ids.train.compactMap { corpus.utterance($0)?.speaker })
        guard trainSpeakers.count >= 2 else {
            throw ValidationError("\(data.corpus): the train split has \(trainSpeakers.count) speaker(s); a speaker probe needs at least 2")
        }
        let (train, test) = try data.extract(corpus: corpus, splits: ids, labels: nil)
        let results = Probes.speaker(name: data.name, train: train, test: test, speakers: corpus.speakers.count,
                                     windowFrames: windowFrames, settings: settings)
        try writeResults(results, options: probe)
    }
}

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export features (one vector per 10 ms frame) for every utterance of a split as float32 .npy.",
        discussion: "Writes OUT (.npy, [frames, dims]) and OUT with .index.tsv (utterance id, first row, frame count).")
    @OptionGroup var data: FeatureOptions
    @Option(help: "Split file (one utterance id per line).") var split: String
    @Option(help: "Output .npy file.") var out: String

    func run() throws { try withStageProgress(perform) }

    func perform() throws {
        let corpus = try Corpus.load(data.corpus)
        let ids = try SplitFile.read(split)
        try CorpusValidator.requireUsable(corpus, folder: data.corpus, labels: nil, splits: [(split, ids)], purpose: "embedded")
        // The outputs are checked before the features are computed.
        try SafeTensors.requireReplaceable(out)
        let set = try FrameFeatures.extract(corpus: corpus, ids: ids, extractor: try data.makeExtractor(), labels: nil, cache: AudioCache())
        let indexPath = try FrameFeatures.write(set, to: out)
        print("\(set.features.shape[0]) frames × \(set.features.shape[1]) features of \(set.utterances.count) utterances → \(out), \(indexPath)")
    }
}

struct ImageProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Image classification from frozen features (train split images → test split images).",
        discussion: """
            --checkpoint takes a checkpoint of any registered image method (image CPC, SimCLR, MoCo, …): the pair \
            methods give their backbone's pooled output, image CPC its patch vectors mean-pooled over the grid \
            (--pool grid: side by side). The linear probe is softmax regression (learning rate and epochs chosen on a \
            held-out tenth of the training images); --knn adds the weighted k-nearest-neighbour probe (cosine \
            similarity, k = 200, votes weighted by exp(similarity / 0.1), as solo-learn and lightly report).
            """)
    enum Kind: String, ExpressibleByArgument, CaseIterable { case cpc, pixels, random }
    enum Pool: String, ExpressibleByArgument, CaseIterable { case mean, grid }
    @Option(help: "IDX folder (Fashion-MNIST), train/ + test/ class folders, or class folders.")
    var corpus = ImageCorpus.fashionMNISTPath
    @Option(help: "Checkpoint of an image method (a .safetensors file; its model config from its .json sidecar or --config).")
    var checkpoint: String?
    @Option(help: "pixels | random (with --checkpoint: the checkpoint's method).") var features: Kind?
    @Option(help: """
        With --checkpoint: the config whose model section built it (needed without a sidecar; checked against one). \
        With --features random: the model to initialise (default configs/cpc-image-fashion.yaml).
        """)
    var config: String?
    @Option(help: """
        mean: one pooled vector per image; grid: image CPC's patch vectors side by side; mean,grid: both from one \
        extraction (the mean computed from the grid).
        """)
    var pool = "mean"
    @Flag(help: "Also run the kNN probe.") var knn = false
    @Flag(help: "Run only the kNN probe.") var knnOnly = false
    @Option(help: "Neighbours of the kNN probe.") var neighbours = 200
    @Option(help: "Temperature of the kNN probe's vote weights.") var knnTemperature: Float = 0.1
    @Option(help: "Use only the first N training images.") var trainLimit: Int?
    @Option(help: "Use only the first N test images.") var testLimit: Int?
    @Option(help: "Threads for BLAS and elementwise loops.") var threads: Int?
    @OptionGroup var probe: ProbeOptions

    /// The poolings `--pool` names, in its order, without repeats.
    func poolings() throws -> [Pool] {
        var list: [Pool] = []
        for word in pool.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let kind = Pool(rawValue: word) else {
                throw ValidationError("--pool \(pool): '\(word)' is not one of mean, grid (a comma-separated list of them)")
            }
            if !list.contains(kind) { list.append(kind) }
        }
        return list
    }

    func validate() throws {
        _ = try poolings()
        if checkpoint != nil, let features, features != .cpc {
            throw ValidationError("--features \(features.rawValue) does not use a checkpoint; drop --checkpoint")
        }
        if checkpoint == nil && (features == nil || features == .cpc) { throw ValidationError("give --checkpoint FILE or --features pixels|random") }
        for (flag, value) in [("--train-limit", trainLimit), ("--test-limit", testLimit)] {
            if let value, value < 1 { throw ValidationError("\(flag) must be positive, got \(value)") }
        }
        if neighbours < 1 { throw ValidationError("--neighbours must be positive, got \(neighbours)") }
        if !(knnTemperature > 0 && knnTemperature.isFinite) { throw ValidationError("--knn-temperature must be positive, got \(knnTemperature)") }
    }

    func run() throws { try withStageProgress(perform) }

    func perform() throws {
        let settings = try probe.settings()  // its checks (and --json's target) before any work
        Threads.setCount(threads ?? Threads.processorCount)
        let train = try ImageCorpus.load(corpus, split: .train).prefix(trainLimit)
        let test = try ImageCorpus.load(corpus, split: .test).prefix(testLimit)
        guard (train.height, train.width, train.channels) == (test.height, test.width, test.channels) else {
            throw ValidationError("\(corpus): train images are \(train.height)×\(train.width)×\(train.channels), test images \(test.height)×\(test.width)×\(test.channels)")
        }
        let extractor: any ImageFeatureExtractor
        var name: String
        switch (checkpoint, features ?? .cpc) {
        case (let path?, _):
            let (stored, method) = try MethodLoader.load(checkpoint: path, configFile: config, like: train)
            extractor = MethodImageFeatures(method: method, data: stored.data)
            name = stored.data.kind == .patchGrid ? "cpc" : stored.method
        case (nil, .random):
            extractor = try MethodImageFeatures.random(config: try RunConfig.load(config ?? "configs/cpc-image-fashion.yaml"), like: train)
            name = "random"
        default:
            extractor = PixelFeatures()
            name = "pixels"
        }
        let poolings = try poolings()
        var cells = 1
        if poolings.contains(.grid) {
            guard let method = extractor as? MethodImageFeatures, let grid = method.gridCells(like: train) else {
                throw ValidationError("--pool grid needs image CPC's patch grid; these features are one vector per image")
            }
            method.request = .grid
            cells = grid
        }
        let started = Date()
        let trainFeatures = extractor.features(of: train), testFeatures = extractor.features(of: test)
        print(String(format: "%@: %d + %d images → %d features each in %.1f s", name, train.count, test.count,
                     trainFeatures.shape[1], Date().timeIntervalSince(started)))
        let classes = max(train.classNames.count, (train.labels.max() ?? 0) + 1, (test.labels.max() ?? 0) + 1)
        // --name names the features; the grid's rows keep their "-grid" suffix after it.
        if let given = probe.name { name = given }
        var results: [ProbeResult] = []
        for pooling in poolings {
            // One extraction serves both: with the grid extracted, the mean is its patch vectors averaged.
            let (label, trainRows, testRows) = switch pooling {
            case .grid: (name + "-grid", trainFeatures, testFeatures)
            case .mean: (name, GridPooling.mean(trainFeatures, cells: cells), GridPooling.mean(testFeatures, cells: cells))
            }
            if knn || knnOnly {
                results.append(Probes.knn(name: label, train: trainRows, trainLabels: train.labels, test: testRows,
                                          testLabels: test.labels, classes: classes, neighbours: neighbours, temperature: knnTemperature))
            }
            if !knnOnly {
                results.append(Probes.image(name: label, train: trainRows, trainLabels: train.labels, test: testRows,
                                            testLabels: test.labels, classes: classes, settings: settings))
            }
        }
        var options = probe
        options.name = nil
        try writeResults(results, options: options)
    }
}
