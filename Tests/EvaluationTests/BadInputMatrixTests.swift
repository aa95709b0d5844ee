// The bad-input matrix (issue 19): every reader of a user's file (`UserFileReader.all`) × every kind of damage →
// an error that names the file, never a crash or a hang; and every input the fuzzer (`cpc-fuzz`) once crashed on,
// kept in Tests/Fuzz/crashers/<reader>/, replayed.

import Evaluation
import Foundation
import Testing
import TensorCore
import TestSupport

/// A kind of damage done to a valid seed file.
enum Damage: String, CaseIterable, Sendable {
    case empty, halfTruncated, headerZeroed, garbage, oneByte, missing, directory

    /// The damaged bytes (nil: no file at all, or a folder in its place).
    func apply(_ seed: [UInt8]) -> [UInt8]? {
        switch self {
        case .empty: return []
        case .halfTruncated: return Array(seed.prefix(seed.count / 2))
        case .headerZeroed: return [UInt8](repeating: 0, count: min(16, seed.count)) + seed.dropFirst(16)
        case .garbage:
            var generator = RandomGenerator(seed: 19)
            return (0..<300).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        case .oneByte: return [0x7F]
        case .missing, .directory: return nil
        }
    }
}

let fuzzRoot = repositoryRoot.appendingPathComponent("Tests/Fuzz")

@Suite struct BadInputMatrixTests {
    @Test(arguments: UserFileReader.all.map(\.name)) func everyDamageIsAnErrorNamingTheFile(reader name: String) throws {
        let reader = try #require(UserFileReader.all.first { $0.name == name })
        let seed = try #require(try reader.seeds(root: fuzzRoot.appendingPathComponent("seeds").path).first)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-matrix-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent(reader.fileName).path
        // The undamaged seed is read.
        FileManager.default.createFile(atPath: path, contents: Data(seed))
        try reader.read(path)
        // Cut at half, a line-based text file can still be valid text (the lines before the cut), and libsndfile reads
        // the frames a cut WAV still holds (its header's length is clamped to the file; a length that no longer fits
        // the labels is caught where audio meets labels); the other binary formats carry their lengths and must notice.
        for damage in Damage.allCases where !(damage == .halfTruncated && (reader.isText || reader.name == "wav")) {
            try? FileManager.default.removeItem(atPath: path)
            if let bytes = damage.apply(seed) {
                FileManager.default.createFile(atPath: path, contents: Data(bytes))
            } else if damage == .directory {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            }
            do {
                try reader.read(path)
                Issue.record("\(name), \(damage): accepted")
            } catch {
                let text = "\(error)"
                #expect(text.contains(path) && !text.contains("NSCocoaErrorDomain") && !text.contains("\n"),
                        "\(name), \(damage): \(text.prefix(400))")
            }
        }
    }

    @Test func inputsTheFuzzerOnceCrashedOnAreAnswered() throws {
        let crashers = fuzzRoot.appendingPathComponent("crashers").path
        var replayed = 0
        for reader in UserFileReader.all {
            let folder = crashers + "/" + reader.name
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted() {
                let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-crasher-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: scratch) }
                let path = scratch.appendingPathComponent(reader.fileName).path
                try FileManager.default.copyItem(atPath: folder + "/" + name, toPath: path)
                do { try reader.read(path) } catch { #expect("\(error)".contains(path), "\(reader.name)/\(name): \(error)") }
                replayed += 1
            }
        }
        #expect(replayed >= 1)
    }
}
