// `cpc-fuzz`: a seeded mutation fuzzer over every reader of a user's file (`UserFileReader.all`). Each input is a mutation of a seed from
// Tests/Fuzz/seeds/<parser>/ (bit flips, interesting bytes, inserted, deleted and repeated runs, truncation, and for
// text formats numbers swapped for huge, negative or non-finite ones and lines repeated), written to a scratch file and
// handed to the public reader, exactly as a user's file would be. A thrown error is the expected outcome for damaged
// input; a crash (trap, failed allocation under the memory limit) kills the process and leaves the input in the
// scratch folder; a hang (an input over --timeout seconds) is reported by a watchdog, which saves the input and exits.
//
//     swift build -c release --product cpc-fuzz
//     .build/release/cpc-fuzz --iterations 1000000                 # every parser
//     .build/release/cpc-fuzz --parser safetensors --iterations 100000 --seed 7
//
// Input i of a parser depends only on (--seed, parser, i), so `--start i --iterations 1` replays it.

import Evaluation
import Foundation
import TensorCore

struct FuzzError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Mutations of a seed, from a generator seeded by (run seed, target, iteration).
struct Mutator {
    var generator: RandomGenerator
    let isText: Bool

    static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x0A, 0x0D, 0x22, 0x2C, 0x3A, 0x7B, 0x7D, 0x5B, 0x2A, 0x26]
    static let interestingNumbers = ["0", "-1", "-0", "1e308", "-1e308", "nan", ".nan", ".inf", "-.inf", "1e-45",
                                     "4294967295", "4294967296", "2147483648", "9223372036854775807", "9223372036854775808",
                                     "18446744073709551616", "99999999999999999999999999999", "0x7fffffff", "1.5", "65536", "3"]

    mutating func int(_ bound: Int) -> Int { bound <= 1 ? 0 : generator.nextInt(below: bound) }

    mutating func mutate(_ seed: [UInt8]) -> [UInt8] {
        var data = seed
        for _ in 0..<(1 + int(4)) { data = once(data) }
        return data
    }

    mutating func once(_ input: [UInt8]) -> [UInt8] {
        var data = input
        let choice = int(isText ? 12 : 9)
        if data.isEmpty { return (0..<(1 + int(16))).map { _ in UInt8(truncatingIfNeeded: generator.next()) } }
        let position = int(data.count)
        switch choice {
        case 0: data[position] ^= UInt8(1) << UInt8(int(8))                                   // a bit flip
        case 1: data[position] = Self.interestingBytes[int(Self.interestingBytes.count)]    // an interesting byte
        case 2: data[position] = UInt8(truncatingIfNeeded: generator.next())                 // a random byte
        case 3: data.removeSubrange(position..<min(data.count, position + 1 + int(16)))      // a deleted run
        case 4:                                                                                // an inserted run
            data.insert(contentsOf: (0..<(1 + int(16))).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: position)
        case 5:                                                                                // a repeated run
            let length = min(data.count - position, 1 + int(64))
            let run = Array(data[position..<(position + length)])
            for _ in 0..<(1 + int(8)) { data.insert(contentsOf: run, at: position) }
        case 6: data = Array(data.prefix(position))                                           // truncation
        case 7:                                                                                // a 4- or 8-byte field set to an extreme
            let width = int(2) == 0 ? 4 : 8
            let value: UInt64 = [0, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, UInt64.max, 1 << 31, 1 << 36][int(7)]
            for k in 0..<width where position + k < data.count { data[position + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        case 8:                                                                                // a splice of two places
            let other = int(data.count)
            let length = min(data.count - other, 1 + int(32))
            data.replaceSubrange(position..<min(data.count, position + length), with: data[other..<(other + length)])
        case 9:                                                                                // a number swapped for an extreme one
            let text = String(decoding: data, as: UTF8.self)
            let digits = text.indices.filter { text[$0].isNumber }
            guard !digits.isEmpty else { return data }
            let start = digits[int(digits.count)]
            var end = start
            while end < text.endIndex, text[end].isNumber || text[end] == "." { end = text.index(after: end) }
            var changed = text
            changed.replaceSubrange(start..<end, with: Self.interestingNumbers[int(Self.interestingNumbers.count)])
            return [UInt8](changed.utf8)
        case 10:                                                                               // a line repeated or dropped
            var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let line = int(lines.count)
            if int(2) == 0 { lines.insert(contentsOf: Array(repeating: lines[line], count: 1 + int(50)), at: line) } else { lines.remove(at: line) }
            return [UInt8](lines.joined(separator: "\n").utf8)
        default:                                                                               // CRLF, a BOM, odd characters
            let inserts: [[UInt8]] = [[0x0D], [0xEF, 0xBB, 0xBF], [0xC3, 0x28], [0xF0, 0x9F, 0x98, 0x80], [0x09], [0x00]]
            data.insert(contentsOf: inserts[int(inserts.count)], at: position)
        }
        return data
    }
}

final class Watch: @unchecked Sendable {
    private let lock = NSLock()
    private var started: Date?
    private var current = ""
    func begin(_ what: String) { lock.lock(); (started, current) = (Date(), what); lock.unlock() }
    func end() { lock.lock(); started = nil; lock.unlock() }
    func overdue(after seconds: Double) -> String? {
        lock.lock(); defer { lock.unlock() }
        guard let started, Date().timeIntervalSince(started) > seconds else { return nil }
        return current
    }
}
@main
enum Fuzz {
    static func main() throws {

        let arguments = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String) -> String? {
            guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
            return arguments[index + 1]
        }
        if arguments.contains("--help") {
            print("""
                usage: cpc-fuzz [--parser NAME[,NAME…]] [--iterations N] [--start I] [--seed S] [--seeds DIR] [--scratch DIR]
                                [--timeout SECONDS] [--memory-gb G]
                parsers: \(UserFileReader.all.map(\.name).joined(separator: ", "))
                """)
            exit(0)
        }
        func number(_ name: String, _ fallback: Int) -> Int {
            guard let text = option(name) else { return fallback }
            guard let value = Int(text), value >= 0 else { FileHandle.standardError.write(Data("error: \(name) needs a non-negative integer, got '\(text)'\n".utf8)); exit(2) }
            return value
        }
        let iterations = number("--iterations", 10_000)
        let start = number("--start", 0)
        let runSeed = UInt64(number("--seed", 1))
        let timeout = Double(number("--timeout", 10))
        let memoryLimit = number("--memory-gb", 4)
        let seedsRoot = option("--seeds") ?? "Tests/Fuzz/seeds"
        let chosen = option("--parser").map { Set($0.split(separator: ",").map(String.init)) }
        if let chosen, let unknown = chosen.first(where: { name in !UserFileReader.all.contains { $0.name == name } }) {
            FileHandle.standardError.write(Data("error: no parser '\(unknown)'; parsers: \(UserFileReader.all.map(\.name).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        let scratch = option("--scratch") ?? (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
            + "/cpc-fuzz-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)

        // A failed allocation under this limit is a crash the fuzzer reports, instead of a machine brought to its knees.
        var limit = rlimit(rlim_cur: rlim_t(memoryLimit) << 30, rlim_max: rlim_t(memoryLimit) << 30)
        setrlimit(Int32(RLIMIT_AS.rawValue), &limit)


        let watch = Watch()
        let watchdog = Thread {
            while true {
                Thread.sleep(forTimeInterval: 0.5)
                if let what = watch.overdue(after: timeout) {
                    FileHandle.standardError.write(Data("HANG: \(what) ran over \(Int(timeout)) s; the input is in \(scratch)\n".utf8))
                    exit(3)
                }
            }
        }
        watchdog.start()


        var failures = 0
        for target in UserFileReader.all where chosen?.contains(target.name) ?? true {
            let seedFiles = try target.seeds(root: seedsRoot)
            guard !seedFiles.isEmpty else { throw FuzzError("no seeds for \(target.name) in \(seedsRoot)") }
            let path = scratch + "/" + target.fileName
            let began = Date()
            var errors = 0, accepted = 0
            for i in start..<(start + iterations) {
                var mutator = Mutator(generator: RandomGenerator(seed: runSeed, stream: UInt64(i) &* 0x1_0000 &+ UInt64(UserFileReader.all.firstIndex { $0.name == target.name }!)),
                                      isText: target.isText)
                let input = mutator.mutate(seedFiles[mutator.int(seedFiles.count)])
                FileManager.default.createFile(atPath: path, contents: Data(input))
                watch.begin("\(target.name) input \(i) (--seed \(runSeed) --start \(i))")
                do {
                    try target.read(path)
                    accepted += 1
                } catch {
                    errors += 1
                    let text = "\(error)"
                    // Every error must name the file it concerns (or, for configs, its key) and stay one short line.
                    if !text.contains(scratch) || text.count > 2000 || text.contains("NSCocoaErrorDomain") {
                        failures += 1
                        if failures <= 20 { print("BAD MESSAGE: \(target.name) input \(i): \(text.prefix(300))") }
                    }
                }
                watch.end()
            }
            let seconds = Date().timeIntervalSince(began)
            print(String(format: "%@: %d inputs in %.1f s (%.0f/s): %d rejected with an error, %d accepted, no crash, no hang",
                         target.name, iterations, seconds, Double(iterations) / max(seconds, 1e-9), errors, accepted))
            fflush(nil)  // each reader's line reaches a log file before a later crash
        }
        try? FileManager.default.removeItem(atPath: scratch)
        if failures > 0 {
            print("\(failures) errors did not name the file or were not one short line")
            exit(1)
        }

    }
}
