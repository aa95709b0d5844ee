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

    /// Reads the header of `path`; when the header gives no length (a streamed FLAC) or an implausible one, the
    /// frames are counted by decoding.
    public static func info(_ path: String) throws -> AudioFileInfo {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            throw AudioError(path: path, problem: "cannot read audio: \(String(cString: sf_strerror(nil)))")
        }
        defer { sf_close(file) }
        guard info.channels > 0, info.channels <= 1024, info.samplerate > 0 else {
            throw AudioError(path: path, problem: "no usable channel count or sample rate in the header (channels \(info.channels), "
                + "rate \(info.samplerate))")
        }
        var frames = Int(info.frames)
        if frames < 0 || frames > maximumFrames {
            // Unknown (a streamed FLAC) or implausible: count the frames by decoding, never trusting the header.
            frames = 0
            let block = 65536
            var scratch = [Float](repeating: 0, count: block * Int(info.channels))
            while true {
                let read = Int(scratch.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(block)) })
                frames += max(read, 0)
                if frames > maximumFrames {
                    throw AudioError(path: path, problem: "longer than \(maximumFrames) frames; split it into utterances")
                }
                if read < block { break }
            }
        }
        return AudioFileInfo(sampleRate: Int(info.samplerate), channels: Int(info.channels), frames: frames)
    }

    /// Decodes `path` to mono Float32 in [-1, 1] at `sampleRate` (channels are averaged; a different rate is
    /// converted with libsamplerate's best sinc converter).
    public static func decode(_ path: String, sampleRate: Int = 16000) throws -> [Float] {
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            throw AudioError(path: path, problem: "cannot read audio: \(String(cString: sf_strerror(nil)))")
        }
        defer { sf_close(file) }
        let channels = Int(info.channels)
        guard channels > 0, channels <= 1024, info.samplerate > 0 else {
            throw AudioError(path: path, problem: "no usable channel count or sample rate in the header (channels \(info.channels), "
                + "rate \(info.samplerate))")
        }
        // Read in blocks until the decoder stops: the header's frame count is not trusted (a streamed FLAC says
        // "unknown", a damaged header can claim 2^36 frames), so nothing is allocated from it.
        let block = 65536
        var mono: [Float] = []
        var interleaved = [Float](repeating: 0, count: block * channels)
        while true {
            let read = Int(interleaved.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(block)) })
            let error = sf_error(file)
            if error != 0 {
                throw AudioError(path: path, problem: "decoding failed after \(mono.count) frames: \(String(cString: sf_error_number(error)))")
            }
            guard read > 0 else { break }
            if mono.count + read > maximumFrames {
                throw AudioError(path: path, problem: "longer than \(maximumFrames) frames (\(maximumFrames / Int(info.samplerate) / 3600) hours); "
                    + "split it into utterances")
            }
            if channels == 1 {
                mono.append(contentsOf: interleaved[0..<read])
            } else {
                let scale = 1 / Float(channels)
                for i in 0..<read {
                    var total: Float = 0
                    for c in 0..<channels { total += interleaved[i * channels + c] }
                    mono.append(total * scale)
                }
            }
            if read < block { break }
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
