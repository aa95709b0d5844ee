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
    /// Reads the header of `path`.
    public static func info(_ path: String) throws -> AudioFileInfo {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            throw AudioError(path: path, problem: "cannot read audio: \(String(cString: sf_strerror(nil)))")
        }
        sf_close(file)
        return AudioFileInfo(sampleRate: Int(info.samplerate), channels: Int(info.channels), frames: Int(info.frames))
    }

    /// Decodes `path` to mono Float32 in [-1, 1] at `sampleRate` (channels are averaged; a different rate is
    /// converted with libsamplerate's best sinc converter).
    public static func decode(_ path: String, sampleRate: Int = 16000) throws -> [Float] {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            throw AudioError(path: path, problem: "cannot read audio: \(String(cString: sf_strerror(nil)))")
        }
        defer { sf_close(file) }
        let channels = Int(info.channels), frames = Int(info.frames)
        guard channels > 0, info.samplerate > 0 else {
            throw AudioError(path: path, problem: "no audio channels or sample rate in the header")
        }
        guard frames > 0 else { throw AudioError(path: path, problem: "empty: the file holds no audio frames") }
        var interleaved = [Float](repeating: 0, count: frames * channels)
        let read = interleaved.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(frames)) }
        let error = sf_error(file)
        if error != 0 {
            throw AudioError(path: path, problem: "decoding failed: \(String(cString: sf_error_number(error)))")
        }
        guard read > 0 else { throw AudioError(path: path, problem: "truncated: no frame could be decoded") }
        var mono: [Float]
        if channels == 1 {
            mono = Array(interleaved.prefix(Int(read)))
        } else {
            mono = [Float](repeating: 0, count: Int(read))
            let scale = 1 / Float(channels)
            for i in 0..<Int(read) {
                var total: Float = 0
                for c in 0..<channels { total += interleaved[i * channels + c] }
                mono[i] = total * scale
            }
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
