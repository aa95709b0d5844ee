// Corpora: a LibriSpeech-style tree or a TSV manifest; CPC-format phone labels; split files; validation.

import Foundation
import TensorCore

/// One audio file of a corpus.
public struct Utterance: Sendable, Equatable {
    /// The file name without extension (LibriSpeech: `<speaker>-<chapter>-<n>`).
    public let id: String
    public let path: String
    public let speaker: String
}

/// A problem with something the user supplied (corpus, labels, split), naming the file and line.
public typealias CorpusError = FileProblem<CorpusFile>
public enum CorpusFile {}

/// The utterances of a corpus, sorted by id, with their speakers.
public struct Corpus: Sendable {
    public static let audioExtensions: Set<String> = ["flac", "wav", "ogg", "oga", "aiff", "aif", "au", "w64", "caf"]

    public let root: String
    public let utterances: [Utterance]
    /// Speaker names, sorted; a speaker's index is its position here.
    public let speakers: [String]
    private let index: [String: Int]

    public init(root: String, utterances: [Utterance]) throws {
        var seen: [String: String] = [:]
        for u in utterances {
            if let other = seen[u.id] {
                throw CorpusError(path: root, problem: "duplicate utterance id '\(u.id)': \(other) and \(u.path)")
            }
            seen[u.id] = u.path
        }
        self.root = root
        self.utterances = utterances.sorted { $0.id < $1.id }
        speakers = Array(Set(utterances.map(\.speaker))).sorted()
        index = Dictionary(uniqueKeysWithValues: self.utterances.enumerated().map { ($1.id, $0) })
    }

    /// Indexes a LibriSpeech-style tree (`<speaker>/<chapter>/<utterance>.<ext>`; the speaker is the top folder) or,
    /// when `path` is a file, a TSV manifest with columns path and speaker (and optionally duration; a header line
    /// naming `path` is allowed; relative paths are relative to the manifest's folder).
    public static func load(_ path: String) throws -> Corpus {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CorpusError(path: path, problem: "no such corpus folder or manifest")
        }
        return isDirectory.boolValue ? try loadTree(path) : try loadManifest(path)
    }

    /// Indexes `root`/<speaker>/…/<utterance>.<audio>, following symbolic links to folders (a common way to lay
    /// out datasets); a link back to a folder already on the path is a loop, skipped and reported.
    private static func loadTree(_ root: String) throws -> Corpus {
        let rootPath = URL(fileURLWithPath: root).standardizedFileURL.path
        var utterances: [Utterance] = []
        var onPath = Set<[UInt64]>()
        var loops: [String] = []
        guard (try? FileManager.default.contentsOfDirectory(atPath: rootPath)) != nil else {
            throw CorpusError(path: root, problem: "cannot list the folder")
        }
        walk(rootPath, components: [], onPath: &onPath, utterances: &utterances, loops: &loops)
        if utterances.isEmpty {
            throw CorpusError(path: root, problem: "no audio files (\(audioExtensions.sorted().joined(separator: ", "))) "
                + "found in <speaker>/<chapter>/<utterance> folders" + (loops.isEmpty ? "" : "; folder links that loop: \(loops.joined(separator: ", "))"))
        }
        return try Corpus(root: root, utterances: utterances)
    }

    /// Depth-first over `folder` (names sorted, hidden ones skipped), links followed; `onPath` holds the (device,
    /// inode) of the folders being walked, so a link to one of them is a loop.
    private static func walk(_ folder: String, components: [String], onPath: inout Set<[UInt64]>, utterances: inout [Utterance],
                             loops: inout [String]) {
        var status = stat()
        guard stat(folder, &status) == 0 else { return }
        let identity = [UInt64(status.st_dev), UInt64(status.st_ino)]
        if onPath.contains(identity) {
            loops.append(folder)
            return
        }
        onPath.insert(identity)
        defer { onPath.remove(identity) }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        for name in names {
            let path = folder + "/" + name
            var entry = stat()
            guard stat(path, &entry) == 0 else { continue }  // a dangling link
            if entry.st_mode & S_IFMT == S_IFDIR {
                walk(path, components: components + [name], onPath: &onPath, utterances: &utterances, loops: &loops)
            } else if entry.st_mode & S_IFMT == S_IFREG, !components.isEmpty,
                      audioExtensions.contains(URL(fileURLWithPath: name).pathExtension.lowercased()) {
                // Audio directly under the root has no speaker folder and is skipped.
                utterances.append(Utterance(id: URL(fileURLWithPath: name).deletingPathExtension().lastPathComponent, path: path,
                                            speaker: components[0]))
            }
        }
    }

    private static func loadManifest(_ path: String) throws -> Corpus {
        let text = try CorpusError.text(of: path)
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        var utterances: [Utterance] = []
        for (number, line) in text.textLines.enumerated() {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if fields.allSatisfy(\.isEmpty) || fields[0].hasPrefix("#") { continue }
            if number == 0 && fields[0].lowercased() == "path" { continue }
            guard fields.count >= 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw CorpusError(path: "\(path):\(number + 1)", problem: "expected 'path<TAB>speaker[<TAB>duration]', found '\(line)'")
            }
            if fields.count >= 3, !fields[2].isEmpty, Double(fields[2]) == nil {
                throw CorpusError(path: "\(path):\(number + 1)", problem: "duration must be a number of seconds, found '\(fields[2])'")
            }
            let file = fields[0].hasPrefix("/") ? fields[0] : base.appendingPathComponent(fields[0]).path
            let id = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            utterances.append(Utterance(id: id, path: file, speaker: fields[1]))
        }
        if utterances.isEmpty { throw CorpusError(path: path, problem: "the manifest lists no audio files") }
        return try Corpus(root: path, utterances: utterances)
    }

    /// The utterance with `id`, if any.
    public func utterance(_ id: String) -> Utterance? { index[id].map { utterances[$0] } }

    /// The position of `id` in `utterances`.
    public func position(of id: String) -> Int? { index[id] }

    /// The index of `speaker` in `speakers`.
    public func speakerIndex(_ speaker: String) -> Int? { speakers.firstIndex(of: speaker) }
}

/// Frame-level phone labels in the CPC format: one line per utterance, `utterance_id p1 p2 …`, one integer class per
/// 10 ms frame.
public struct PhoneLabels: Sendable {
    /// Phone classes are below this (phone sets have tens of classes; a class of 2^62 is a damaged file).
    public static let maximumClasses = 65536
    public let path: String
    public let labels: [String: [Int]]
    /// One more than the largest class index.
    public let classCount: Int
    /// Class names from a `phone-classes.txt` beside the labels ("index name" lines), when present.
    public let classNames: [String]?

    public static func read(_ path: String) throws -> PhoneLabels {
        let text = try CorpusError.text(of: path)
        var labels: [String: [Int]] = [:]
        var largest = -1
        for (number, line) in text.textLines.enumerated() {
            let fields = line.split(separator: " ")
            if fields.isEmpty { continue }
            let id = String(fields[0])
            if labels[id] != nil {
                throw CorpusError(path: "\(path):\(number + 1)", problem: "utterance '\(id)' is labelled twice")
            }
            var values: [Int] = []
            values.reserveCapacity(fields.count - 1)
            for field in fields.dropFirst() {
                guard let value = Int(field), value >= 0, value < PhoneLabels.maximumClasses else {
                    throw CorpusError(path: "\(path):\(number + 1)", problem: "expected a phone class in 0..<\(PhoneLabels.maximumClasses), "
                        + "found '\(field.prefix(40))'")
                }
                values.append(value)
                largest = max(largest, value)
            }
            if values.isEmpty {
                throw CorpusError(path: "\(path):\(number + 1)", problem: "utterance '\(id)' has no labels")
            }
            labels[id] = values
        }
        if labels.isEmpty { throw CorpusError(path: path, problem: "no labelled utterances") }
        let namesPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("phone-classes.txt").path
        var names: [String]?
        if let namesText = try? String(contentsOfFile: namesPath, encoding: .utf8) {
            names = namesText.textLines.compactMap { $0.split(separator: " ").last.map(String.init) }
        }
        return PhoneLabels(path: path, labels: labels, classCount: max(largest + 1, names?.count ?? 0), classNames: names)
    }
}

/// A split file: one utterance id per line.
public enum SplitFile {
    public static func read(_ path: String) throws -> [String] {
        let text = try CorpusError.text(of: path)
        var seen = Set<String>()
        var ids: [String] = []
        for (number, raw) in text.textLines.enumerated() {
            let id = raw.trimmingCharacters(in: .whitespaces)
            if id.isEmpty { continue }
            if id.contains(" ") || id.contains("\t") {
                throw CorpusError(path: "\(path):\(number + 1)", problem: "expected one utterance id per line, found '\(id.prefix(80))'")
            }
            if id.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0.value == 0xFFFD }) {
                throw CorpusError(path: "\(path):\(number + 1)", problem: "the id holds control or undecodable characters (a damaged file?)")
            }
            if !seen.insert(id).inserted {
                throw CorpusError(path: "\(path):\(number + 1)", problem: "utterance '\(id)' is listed twice")
            }
            ids.append(id)
        }
        if ids.isEmpty { throw CorpusError(path: path, problem: "the split is empty") }
        return ids
    }
}

/// What `cpc prepare` reports: the corpus's size and every problem found.
public struct CorpusReport: Sendable {
    public var utterances = 0
    public var speakers = 0
    public var hours = 0.0
    public var labelledUtterances = 0
    public var phoneClasses = 0
    public var splits: [String: Int] = [:]
    /// Problems that make the corpus unusable as given.
    public var errors: [String] = []
    /// Problems worth knowing that do not stop its use.
    public var warnings: [String] = []
    public var isUsable: Bool { errors.isEmpty }
}

public enum CorpusValidator {
    /// Label lengths may differ from floor(samples / 160) by this many frames.
    public static let frameTolerance = 2

    /// Checks a corpus against its labels and splits: unreadable audio, label/audio length mismatches (more than
    /// two frames), labels or split entries for unknown utterances, utterances in both splits.
    /// With `decode`, every file is decoded whole instead of having its header read: slower, but a file whose data
    /// are cut short after a valid header, or hold NaN, is found here rather than when a command decodes it.
    public static func validate(corpus: Corpus, labels: PhoneLabels?, splits: [(name: String, ids: [String])],
                                sampleRate: Int = 16000, hopLength: Int = 160, decode: Bool = false) -> CorpusReport {
        var report = CorpusReport()
        report.utterances = corpus.utterances.count
        report.speakers = corpus.speakers.count
        var seconds = 0.0
        var unreadable: [String] = [], mismatched: [String] = []
        let stage = StageProgress.begin(decode ? "audio files" : "audio headers", total: corpus.utterances.count, unit: "files")
        defer { stage?.finish() }
        for u in corpus.utterances {
            defer { stage?.advance() }
            do {
                let info = try AudioDecoder.info(u.path)
                if info.frames == 0 { unreadable.append("\(u.path): empty"); continue }
                let samples = decode ? try AudioDecoder.decode(u.path, sampleRate: sampleRate).count : info.frames(atRate: sampleRate)
                seconds += Double(samples) / Double(sampleRate)
                if let frames = labels?.labels[u.id] {
                    let expected = samples / hopLength
                    if abs(frames.count - expected) > frameTolerance {
                        mismatched.append("\(u.id) (\(frames.count) labels, \(expected) frames)")
                    }
                }
            } catch {
                unreadable.append(String(describing: error))
            }
        }
        report.hours = seconds / 3600
        if !unreadable.isEmpty { report.errors.append("\(unreadable.count) unreadable audio files: " + list(unreadable)) }
        if !mismatched.isEmpty {
            report.errors.append("\(mismatched.count) utterances whose labels differ from the audio by more than "
                + "\(frameTolerance) frames of \(hopLength) samples: " + list(mismatched))
        }
        if let labels {
            report.labelledUtterances = corpus.utterances.filter { labels.labels[$0.id] != nil }.count
            report.phoneClasses = labels.classCount
            let unknown = labels.labels.keys.filter { corpus.utterance($0) == nil }.sorted()
            if !unknown.isEmpty {
                report.warnings.append("\(unknown.count) labelled utterances are not in the corpus: " + list(unknown))
            }
            if report.labelledUtterances == 0 {
                report.errors.append("\(labels.path): no utterance of the corpus is labelled")
            }
            if let names = labels.classNames, names.count < labels.classCount {
                report.errors.append("\(labels.path): class index \(labels.classCount - 1) has no name in phone-classes.txt (\(names.count) names)")
            }
        }
        var membership: [String: Int] = [:]
        var shared: [[String]] = Array(repeating: [], count: splits.count * splits.count)
        for (index, (name, ids)) in splits.enumerated() {
            report.splits[name] = ids.count
            let unknown = ids.filter { corpus.utterance($0) == nil }
            if !unknown.isEmpty { report.errors.append("\(name): \(unknown.count) ids are not in the corpus: " + list(unknown)) }
            if let labels {
                let unlabelled = ids.filter { corpus.utterance($0) != nil && labels.labels[$0] == nil }
                if !unlabelled.isEmpty { report.errors.append("\(name): \(unlabelled.count) utterances have no labels: " + list(unlabelled)) }
            }
            for id in ids {
                if let other = membership[id], other != index {
                    shared[other * splits.count + index].append(id)
                } else {
                    membership[id] = index
                }
            }
        }
        // Ids in two splits (the same file given twice shares all of them), one line per pair of splits.
        for first in splits.indices {
            for second in splits.indices where !shared[first * splits.count + second].isEmpty {
                let ids = shared[first * splits.count + second]
                let (a, b) = (splits[first].name, splits[second].name)
                report.errors.append(a == b ? "\(a) is given as two splits: its \(ids.count) ids would be in both"
                                            : "\(ids.count) ids are in both \(a) and \(b): " + list(ids))
            }
        }
        return report
    }

    /// The checks of `validate` (what `cpc prepare` reports) on `splits` of `corpus`, as one error of `folder` listing
    /// every problem; `purpose` says what the data cannot be used for ("trained on", "probed", "embedded"). Every
    /// command that reads a corpus (prepare, train, embed, probe, abx) goes through the same checks.
    public static func requireUsable(_ corpus: Corpus, folder: String, labels: PhoneLabels?, splits: [(name: String, ids: [String])],
                                     purpose: String) throws {
        let report = validate(corpus: corpus, labels: labels, splits: splits)
        guard report.isUsable else {
            throw CorpusError(path: folder, problem: "the data cannot be \(purpose) as given (run cpc prepare for the full report):\n  "
                + report.errors.joined(separator: "\n  "))
        }
    }

    private static func list(_ items: [String], limit: Int = 10) -> String {
        items.prefix(limit).joined(separator: ", ") + (items.count > limit ? ", … (\(items.count - limit) more)" : "")
    }
}
