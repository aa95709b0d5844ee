// `cpc bench features`: decoding and spectral-feature throughput in seconds of audio per second.

import ArgumentParser
import AudioFrontEnd
import Foundation
import TensorCore

struct BenchFeatures: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Throughput of decoding (libsndfile) and of log-mel and MFCC (FFTW + BLAS), in seconds of audio per second.")

    @Option(help: "Corpus whose files are processed (default: the bundled corpus).") var corpus = "Corpora/synth-small"
    @Option(help: "Process at most this many files.") var files = 64
    @Option(help: "Timed runs; the median is reported.") var repeats = 3
    @Option(help: "Threads for BLAS (the feature loops themselves run on one thread).") var threads = 1
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard files >= 1, repeats >= 1, threads >= 1, threads <= 1024 else {
            throw ValidationError("--files and --repeats must be positive and --threads in 1...1024")
        }
    }

    func run() throws {
        Threads.setCount(threads)
        let index = try Corpus.load(corpus)
        let paths = index.utterances.prefix(files).map(\.path)
        var audio: [[Float]] = []
        let decodeSeconds = try KernelBenchmark.medianSeconds(repeats: repeats) {
            audio = try paths.map { try AudioDecoder.decode($0) }
        }
        let audioSeconds = Double(audio.reduce(0) { $0 + $1.count }) / 16000
        let frontEnd = try SpectralFrontEnd()
        let logMelSeconds = KernelBenchmark.medianSeconds(repeats: repeats) { for a in audio { _ = frontEnd.logMel(a) } }
        let mfccSeconds = KernelBenchmark.medianSeconds(repeats: repeats) { for a in audio { _ = frontEnd.mfcc(a) } }
        let result: [String: Any] = [
            "files": paths.count, "audio_seconds": audioSeconds, "threads": threads,
            "decode_audio_seconds_per_second": audioSeconds / decodeSeconds,
            "logmel_audio_seconds_per_second": audioSeconds / logMelSeconds,
            "mfcc_audio_seconds_per_second": audioSeconds / mfccSeconds,
        ]
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(String(format: "%d files, %.1f s of audio, %d thread(s)", paths.count, audioSeconds, threads))
            print(String(format: "decode   %8.0f s of audio per second", audioSeconds / decodeSeconds))
            print(String(format: "log-mel  %8.0f s of audio per second", audioSeconds / logMelSeconds))
            print(String(format: "MFCC     %8.0f s of audio per second", audioSeconds / mfccSeconds))
        }
    }
}
