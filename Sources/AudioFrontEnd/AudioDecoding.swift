// Decoding audio files with libsndfile (WAV, FLAC, OGG/Vorbis, …) to mono Float32 at the configured rate.

import CSampleRate
import CSndFile
import Foundation
import TensorCore

/// A problem with an audio file, naming the file and libsndfile's (or our) reason.
public typealias AudioError = FileProblem<AudioFile>
public enum AudioFile {}

/// The header facts of an audio file, read without decoding it.
public struct AudioFileInfo: Sendable, Equatable {
    public let sampleRate: Int
    public let channels: Int
    public let frames: Int
    /// Length in seconds.
    public var seconds: Double { Double(frames) / Double(sampleRate) }
    /// Length in samples once resampled to `rate`.
    public func frames(atRate rate: Int) -> Int {
        rate == sampleRate ? frames : Int((Double(frames) * Double(rate) / Double(sampleRate)).rounded())
    }
}

public enum AudioDecoder {
    /// The longest audio `decode` accepts, in frames (2^31: 37 hours at 16 kHz).
    public static let maximumFrames = 1 << 31

    /// Opens `path` with libsndfile and checks the header's channel count and rate.
    private static func open(_ path: String) throws -> (file: OpaquePointer, info: SF_INFO) {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            throw AudioError(path: path, problem: "cannot read audio: \(String(cString: sf_strerror(nil)))")
        }
        guard info.channels > 0, info.channels <= 1024, info.samplerate > 0 else {
            sf_close(file)
            throw AudioError(path: path, problem: "no usable channel count or sample rate in the header (channels \(info.channels), "
                + "rate \(info.samplerate))")
        }
        return (file, info)
    }

    /// Reads `file` in blocks of 65536 frames until the decoder stops, handing each block's interleaved samples and
    /// frame count to `body`: the header's frame count is not trusted (a streamed FLAC says "unknown", a damaged
    /// header can claim 2^36 frames), so nothing is sized from it. Returns the frames read.
    private static func readBlocks(_ file: OpaquePointer, channels: Int, path: String,
                                   _ body: (ArraySlice<Float>, Int) -> Void) throws -> Int {
        let block = 65536
        var interleaved = [Float](repeating: 0, count: block * channels)
        var total = 0
        while true {
            let read = Int(interleaved.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(block)) })
            let error = sf_error(file)
            if error != 0 {
                throw AudioError(path: path, problem: "decoding failed after \(total) frames: \(String(cString: sf_error_number(error)))")
            }
            guard read > 0 else { break }
            total += read
            if total > maximumFrames {
                throw AudioError(path: path, problem: "longer than \(maximumFrames) frames; split it into utterances")
            }
            body(interleaved[0..<(read * channels)], read)
            if read < block { break }
        }
        return total
    }

    /// Reads the header of `path`; when the header gives no length (a streamed FLAC) or an implausible one, the
    /// frames are counted by decoding.
    public static func info(_ path: String) throws -> AudioFileInfo {
        let (file, info) = try open(path)
        defer { sf_close(file) }
        var frames = Int(info.frames)
        if frames < 0 || frames > maximumFrames {
            frames = try readBlocks(file, channels: Int(info.channels), path: path) { _, _ in }
        }
        return AudioFileInfo(sampleRate: Int(info.samplerate), channels: Int(info.channels), frames: frames)
    }

    /// Decodes `path` to mono Float32 in [-1, 1] at `sampleRate` (channels are averaged; a different rate is
    /// converted with libsamplerate's best sinc converter).
    public static func decode(_ path: String, sampleRate: Int = 16000) throws -> [Float] {
        let (file, info) = try open(path)
        defer { sf_close(file) }
        let channels = Int(info.channels)
        var mono: [Float] = []
        _ = try readBlocks(file, channels: channels, path: path) { samples, frames in
            if channels == 1 {
                mono.append(contentsOf: samples)
                return
            }
            let scale = 1 / Float(channels), base = samples.startIndex
            for i in 0..<frames {
                var total: Float = 0
                for c in 0..<channels { total += samples[base + i * channels + c] }
                mono.append(total * scale)
            }
        }
        guard !mono.isEmpty else {
            throw AudioError(path: path, problem: info.frames > 0 ? "truncated: no frame could be decoded" : "empty: the file holds no audio frames")
        }
        if info.frames > 0 && Int(info.frames) <= maximumFrames && mono.count < Int(info.frames) {
            throw AudioError(path: path, problem: "truncated: the header promises \(info.frames) frames, the file holds \(mono.count)")
        }
        if let bad = mono.firstIndex(where: { !$0.isFinite }) {
            throw AudioError(path: path, problem: "sample \(bad) (at \(String(format: "%.3f", Double(bad) / Double(info.samplerate))) s) is "
                + "\(mono[bad]); audio must hold finite numbers")
        }
        if Int(info.samplerate) == sampleRate { return mono }
        return try resample(mono, from: Int(info.samplerate), to: sampleRate, path: path)
    }

    /// Converts `samples` from one rate to another with libsamplerate (SRC_SINC_BEST_QUALITY).
    public static func resample(_ samples: [Float], from sourceRate: Int, to targetRate: Int, path: String = "<memory>") throws -> [Float] {
        let ratio = Double(targetRate) / Double(sourceRate)
        let capacity = Int((Double(samples.count) * ratio).rounded(.up)) + 16
        var output = [Float](repeating: 0, count: capacity)
        var produced = 0
        let status: Int32 = samples.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                var data = SRC_DATA()
                data.data_in = input.baseAddress
                data.input_frames = Int(samples.count)
                data.data_out = out.baseAddress
                data.output_frames = Int(capacity)
                data.src_ratio = ratio
                let result = src_simple(&data, Int32(SRC_SINC_BEST_QUALITY), 1)
                produced = Int(data.output_frames_gen)
                return result
            }
        }
        if status != 0 {
            throw AudioError(path: path, problem: "resampling \(sourceRate) → \(targetRate) Hz failed: \(String(cString: src_strerror(status)))")
        }
        return Array(output.prefix(produced))
    }
}
