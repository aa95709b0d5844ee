// Spectral features with FFTW: STFT, power/magnitude spectra, mel filterbanks (HTK and Slaney), log-mel, MFCC
// (orthonormal DCT-II), deltas and per-utterance mean/variance normalisation.
//
// Glossary: S samples, F frames, B frequency bins (fftSize/2 + 1), M mel bands, K cepstral coefficients.
// Every feature matrix is time-major [F, ·]. Defaults (400-sample window, 160-sample hop at 16 kHz, centred frames)
// give one frame per 10 ms, frame t centred on sample 160·t; `labelAligned` shifts the signal by half a hop so that
// frame t is centred on phone label t's samples [160·t, 160·(t + 1)) and keeps floor(S / 160) frames, the label
// count (docs/ARCHITECTURE.md, "Frame alignment").

import CBLAS
import CFFTW
import Foundation
import TensorCore

/// The mel scale of a filterbank.
public enum MelScale: String, Codable, Sendable, CaseIterable {
    /// 2595·log10(1 + f/700) (HTK).
    case htk
    /// Linear below 1 kHz, logarithmic above (Slaney's Auditory Toolbox; librosa's default).
    case slaney
}

/// Settings of the spectral front end. Matches `librosa.feature.melspectrogram` / `mfcc` with the same values.
public struct SpectralConfig: Codable, Sendable, Equatable {
    public var sampleRate = 16000
    public var fftSize = 400
    public var windowLength = 400
    public var hopLength = 160
    /// Pad fftSize/2 zeros on each side so that frame t is centred on sample hop·t (librosa `center=True`).
    public var center = true
    public var melBands = 40
    public var minFrequency: Float = 0
    /// nil: half the sample rate.
    public var maxFrequency: Float? = nil
    public var melScale: MelScale = .slaney
    /// Scale each mel filter to unit area (librosa `norm="slaney"`).
    public var melAreaNormalization = true
    public var cepstralCoefficients = 13
    /// Floor of the power spectrum before the logarithm (librosa `amin`).
    public var amplitudeFloor: Float = 1e-10
    /// Clamp log-mel values to within this many dB of the utterance's maximum (librosa's `top_db`); nil keeps all.
    public var topDecibels: Float? = 80

    public init() {}

    /// Checks ranges, naming the bad key.
    public func validate() throws {
        func fail(_ key: String, _ message: String) throws { throw FeatureConfigError(key: key, message: message) }
        if sampleRate <= 0 { try fail("sample_rate", "must be positive, found \(sampleRate)") }
        if fftSize < 2 { try fail("fft_size", "must be at least 2, found \(fftSize)") }
        if windowLength < 1 || windowLength > fftSize { try fail("window_length", "must lie in 1…fft_size (\(fftSize)), found \(windowLength)") }
        if hopLength < 1 { try fail("hop_length", "must be positive, found \(hopLength)") }
        if melBands < 1 { try fail("mel_bands", "must be positive, found \(melBands)") }
        let top = maxFrequency ?? Float(sampleRate) / 2
        if minFrequency < 0 || minFrequency >= top { try fail("min_frequency", "must lie in [0, max_frequency), found \(minFrequency)") }
        if top > Float(sampleRate) / 2 { try fail("max_frequency", "must be at most half the sample rate, found \(top)") }
        if cepstralCoefficients < 1 || cepstralCoefficients > melBands {
            try fail("cepstral_coefficients", "must lie in 1…mel_bands (\(melBands)), found \(cepstralCoefficients)")
        }
    }
}

/// A spectral setting out of range.
public struct FeatureConfigError: Error, CustomStringConvertible {
    public let key: String
    public let message: String
    public var description: String { "feature setting '\(key)' \(message)" }
}

/// FFTW plans, created once per size under a lock (FFTW's planner is not thread-safe) and executed with the
/// thread-safe new-array interface, so one plan serves every thread.
final class FFTPlans: @unchecked Sendable {
    static let shared = FFTPlans()
    private let lock = NSLock()
    private var plans: [Int: OpaquePointer] = [:]

    private var batchedPlans: [Int: OpaquePointer] = [:]

    func realForward(size: Int) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        if let plan = plans[size] { return plan }
        let input = fftwf_alloc_real(size)!, output = fftwf_alloc_complex(size / 2 + 1)!
        defer { fftwf_free(input); fftwf_free(output) }
        // FFTW_MEASURE times a few algorithms once (milliseconds for the sizes used here) and picks the fastest.
        let plan = fftwf_plan_dft_r2c_1d(Int32(size), input, output, UInt32(FFTW_MEASURE | FFTW_UNALIGNED))!
        plans[size] = plan
        return plan
    }

    private var inversePlans: [Int: OpaquePointer] = [:]

    /// The inverse (complex to real, unnormalised) transform of `size` samples; it overwrites its input.
    func realInverse(size: Int) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        if let plan = inversePlans[size] { return plan }
        let input = fftwf_alloc_complex(size / 2 + 1)!, output = fftwf_alloc_real(size)!
        defer { fftwf_free(input); fftwf_free(output) }
        let plan = fftwf_plan_dft_c2r_1d(Int32(size), input, output, UInt32(FFTW_ESTIMATE | FFTW_UNALIGNED))!
        inversePlans[size] = plan
        return plan
    }

    /// `FFTBatch` transforms of `size` real samples each, stored back to back (input stride `size`, output stride
    /// `outputStride(size)`): FFTW can vectorise across the transforms.
    static let batch = 32

    /// Complex outputs per transform in a batch: size/2 + 1 rounded up to even, so that (for sizes divisible by 4)
    /// every transform's input and output start 16-byte aligned and the plan may use aligned SIMD codelets (buffers
    /// come from fftwf_malloc); other sizes get an unaligned plan.
    static func outputStride(_ size: Int) -> Int { (size / 2 + 2) & ~1 }

    func realForwardBatch(size: Int) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        if let plan = batchedPlans[size] { return plan }
        let stride = FFTPlans.outputStride(size), count = FFTPlans.batch
        let input = fftwf_alloc_real(size * count)!, output = fftwf_alloc_complex(stride * count)!
        defer { fftwf_free(input); fftwf_free(output) }
        var n = Int32(size)
        let plan = fftwf_plan_many_dft_r2c(1, &n, Int32(count), input, nil, 1, Int32(size), output, nil, 1, Int32(stride),
                                           UInt32(size % 4 == 0 ? FFTW_MEASURE : FFTW_MEASURE | FFTW_UNALIGNED))!
        batchedPlans[size] = plan
        return plan
    }
}

/// Computes spectral features of mono audio. Safe to use from several threads at once.
public final class SpectralFrontEnd: @unchecked Sendable {
    public let config: SpectralConfig
    /// Hann window (periodic, as scipy's `get_window("hann", N)`), zero-padded and centred to fftSize.
    let window: [Float]
    /// Mel filterbank, [B, M].
    let melBasis: Tensor
    /// The filterbank's non-zero weights, band after band: band m uses bins `first ..< first + count` with weights
    /// `melWeights[offset ..< offset + count]` (a triangle spans a few bins: ~40× less work than the dense product).
    let melSpans: [(first: Int, offset: Int, count: Int)]
    let melWeights: [Float]
    /// Orthonormal DCT-II, [M, K].
    let dctBasis: Tensor
    private let plan: OpaquePointer
    private let batchPlan: OpaquePointer

    public init(config: SpectralConfig = SpectralConfig()) throws {
        try config.validate()
        self.config = config
        let n = config.fftSize, w = config.windowLength
        var window = [Float](repeating: 0, count: n)
        let offset = (n - w) / 2
        for i in 0..<w { window[offset + i] = Float(0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(w))) }
        self.window = window
        melBasis = SpectralFrontEnd.melFilterbank(config)
        let bins = n / 2 + 1, basis = melBasis.scalars
        var spans: [(first: Int, offset: Int, count: Int)] = [], weights: [Float] = []
        for m in 0..<config.melBands {
            let column = (0..<bins).map { basis[$0 * config.melBands + m] }
            if let first = column.firstIndex(where: { $0 != 0 }), let last = column.lastIndex(where: { $0 != 0 }) {
                spans.append((first, weights.count, last - first + 1))
                weights += column[first...last]
            } else {
                spans.append((0, weights.count, 0))
            }
        }
        melSpans = spans
        melWeights = weights
        dctBasis = SpectralFrontEnd.dctMatrix(inputs: config.melBands, outputs: config.cepstralCoefficients)
        plan = FFTPlans.shared.realForward(size: n)
        batchPlan = FFTPlans.shared.realForwardBatch(size: n)
    }

    /// The mel filterbank, [B, M] (for tests and inspection).
    public var melBasisForTesting: Tensor { melBasis }

    /// Number of frames for `sampleCount` samples.
    public func frameCount(_ sampleCount: Int) -> Int {
        config.center ? 1 + sampleCount / config.hopLength
            : max(0, (sampleCount - config.fftSize) / config.hopLength + 1)
    }

    /// Power (or magnitude) spectrogram, [F, B]. Frames are windowed into a block of `FFTPlans.batch` and
    /// transformed together; the tail goes through the single-frame plan.
    public func spectrogram(_ samples: [Float], power: Bool = true) -> Tensor {
        let n = config.fftSize, bins = n / 2 + 1, hop = config.hopLength, block = FFTPlans.batch
        let frames = frameCount(samples.count)
        let result = Tensor.zeros([frames, bins])
        let pad = config.center ? n / 2 : 0
        let stride = FFTPlans.outputStride(n)
        let input = fftwf_alloc_real(n * block)!, output = fftwf_alloc_complex(stride * block)!
        defer { fftwf_free(input); fftwf_free(output) }
        result.withUnsafeMutableBufferPointer { spectrum in
            samples.withUnsafeBufferPointer { x in
                window.withUnsafeBufferPointer { w in
                    var t = 0
                    while t < frames {
                        let count = min(block, frames - t)
                        for f in 0..<count {
                            let start = (t + f) * hop - pad, frame = input + f * n
                            if start >= 0 && start + n <= x.count {
                                let source = x.baseAddress! + start, taper = w.baseAddress!
                                for i in 0..<n { frame[i] = source[i] * taper[i] }
                            } else {
                                for i in 0..<n {
                                    let s = start + i
                                    frame[i] = (s >= 0 && s < x.count) ? x[s] * w[i] : 0
                                }
                            }
                        }
                        if count == block {
                            fftwf_execute_dft_r2c(batchPlan, input, output)
                        } else {
                            for f in 0..<count { fftwf_execute_dft_r2c(plan, input + f * n, output + f * stride) }
                        }
                        UnsafeRawPointer(output).withMemoryRebound(to: Float.self, capacity: 2 * stride * count) { pairs in
                            for f in 0..<count {
                                let row = spectrum.baseAddress! + (t + f) * bins, source = pairs + 2 * f * stride
                                for k in 0..<bins {
                                    let re = source[2 * k], im = source[2 * k + 1]
                                    let p = re * re + im * im
                                    row[k] = power ? p : p.squareRoot()
                                }
                            }
                        }
                        t += count
                    }
                }
            }
        }
        return result
    }

    /// Mel spectrogram of the power spectrum, [F, M]: each band sums only its filter's non-zero bins, frame by frame
    /// (one power row stays in cache while all bands read it).
    public func melSpectrogram(_ samples: [Float]) -> Tensor {
        let power = spectrogram(samples)
        let frames = power.shape[0], bins = power.shape[1], m = config.melBands
        let result = Tensor.zeros([frames, m])
        result.withUnsafeMutableBufferPointer { mel in
            power.withUnsafeBufferPointer { p in
                melWeights.withUnsafeBufferPointer { w in
                    for f in 0..<frames {
                        let row = p.baseAddress! + f * bins, out = mel.baseAddress! + f * m
                        for band in 0..<m {
                            let (first, offset, count) = melSpans[band]
                            var total: Float = 0
                            for i in 0..<count { total += row[first + i] * w[offset + i] }
                            out[band] = total
                        }
                    }
                }
            }
        }
        return result
    }

    /// Log-mel in decibels, 10·log10(max(mel, amplitudeFloor)), clamped to `topDecibels` below the maximum, [F, M].
    public func logMel(_ samples: [Float]) -> Tensor {
        let mel = melSpectrogram(samples)
        let floor = config.amplitudeFloor
        mel.withUnsafeMutableBufferPointer { values in
            var maximum = -Float.infinity
            for i in 0..<values.count {
                values[i] = 10 * log10(max(values[i], floor))
                maximum = max(maximum, values[i])
            }
            if let top = config.topDecibels {
                let lowest = maximum - top
                for i in 0..<values.count where values[i] < lowest { values[i] = lowest }
            }
        }
        return mel
    }

    /// MFCC: orthonormal DCT-II of the log-mel (librosa `mfcc` with `dct_type=2, norm="ortho"`), [F, K].
    public func mfcc(_ samples: [Float]) -> Tensor {
        withoutGrad { matmul(logMel(samples), dctBasis) }
    }

    /// `features` (e.g. `mfcc` or `logMel`) of `samples` with frame t centred on label t's samples
    /// [hop·t, hop·(t + 1)): floor(S / hop) frames (at least one). Centred frames (t centred on sample hop·t) are
    /// computed on the signal without its first hop/2 samples; uncentred ones (t covering [hop·t, hop·t + fftSize))
    /// on the signal with fftSize/2 − hop/2 zeros before it (and fftSize after, for the last frames).
    public func labelAligned(_ samples: [Float], _ features: ([Float]) -> Tensor) -> Tensor {
        let hop = config.hopLength
        let shifted: [Float]
        if config.center {
            shifted = Array(samples.dropFirst(min(hop / 2, max(samples.count - 1, 0))))
        } else {
            shifted = [Float](repeating: 0, count: max(0, config.fftSize / 2 - hop / 2)) + samples
                + [Float](repeating: 0, count: config.fftSize)
        }
        let computed = features(shifted)
        let keep = min(computed.shape[0], max(1, samples.count / hop))
        return keep == computed.shape[0] ? computed : withoutGrad { computed.sliced(alongAxis: 0, start: 0, length: keep) }
    }

    static func hertzToMel(_ f: Double, _ scale: MelScale) -> Double {
        switch scale {
        case .htk: return 2595 * log10(1 + f / 700)
        case .slaney:
            let linearStep = 200.0 / 3, breakHertz = 1000.0, breakMel = breakHertz / linearStep
            let logStep = log(6.4) / 27
            return f < breakHertz ? f / linearStep : breakMel + log(f / breakHertz) / logStep
        }
    }

    static func melToHertz(_ m: Double, _ scale: MelScale) -> Double {
        switch scale {
        case .htk: return 700 * (pow(10, m / 2595) - 1)
        case .slaney:
            let linearStep = 200.0 / 3, breakHertz = 1000.0, breakMel = breakHertz / linearStep
            let logStep = log(6.4) / 27
            return m < breakMel ? m * linearStep : breakHertz * exp(logStep * (m - breakMel))
        }
    }

    /// Triangular filters between mel-spaced edges, optionally area-normalised, as librosa's `filters.mel`. [B, M].
    static func melFilterbank(_ config: SpectralConfig) -> Tensor {
        let bins = config.fftSize / 2 + 1, m = config.melBands
        let top = Double(config.maxFrequency ?? Float(config.sampleRate) / 2)
        let lowMel = hertzToMel(Double(config.minFrequency), config.melScale), highMel = hertzToMel(top, config.melScale)
        let edges = (0..<(m + 2)).map { melToHertz(lowMel + (highMel - lowMel) * Double($0) / Double(m + 1), config.melScale) }
        let frequencies = (0..<bins).map { Double($0) * Double(config.sampleRate) / Double(config.fftSize) }
        var basis = [Float](repeating: 0, count: bins * m)
        for j in 0..<m {
            let lowerWidth = edges[j + 1] - edges[j], upperWidth = edges[j + 2] - edges[j + 1]
            let scale = config.melAreaNormalization ? 2 / (edges[j + 2] - edges[j]) : 1
            for k in 0..<bins {
                let lower = (frequencies[k] - edges[j]) / lowerWidth
                let upper = (edges[j + 2] - frequencies[k]) / upperWidth
                basis[k * m + j] = Float(max(0, min(lower, upper)) * scale)
            }
        }
        return Tensor(basis, shape: [bins, m])
    }

    /// Orthonormal DCT-II as a matrix: y = x·D, [inputs, outputs].
    static func dctMatrix(inputs: Int, outputs: Int) -> Tensor {
        var d = [Float](repeating: 0, count: inputs * outputs)
        for k in 0..<outputs {
            let scale = k == 0 ? sqrt(1 / Double(inputs)) : sqrt(2 / Double(inputs))
            for i in 0..<inputs {
                d[i * outputs + k] = Float(scale * cos(Double.pi * Double(k) * (2 * Double(i) + 1) / (2 * Double(inputs))))
            }
        }
        return Tensor(d, shape: [inputs, outputs])
    }
}

public enum FeatureTransforms {
    /// Regression deltas over time (HTK's formula, edges repeated): d_t = Σₙ n·(x_{t+n} − x_{t−n}) / (2·Σₙ n²),
    /// n = 1…(width−1)/2. Equals `librosa.feature.delta(x, width=width, mode="nearest")`. [F, D] → [F, D].
    public static func deltas(_ features: Tensor, width: Int = 9) -> Tensor {
        precondition(width >= 3 && width % 2 == 1, "delta width must be odd and at least 3, got \(width)")
        precondition(features.rank == 2, "deltas expect [frames, features], found \(features.shape)")
        let frames = features.shape[0], dims = features.shape[1], half = width / 2
        let denominator = Float(2 * (1...half).reduce(0) { $0 + $1 * $1 })
        let result = Tensor.zeros(features.shape)
        guard frames > 0 else { return result }
        features.withUnsafeBufferPointer { x in
            result.withUnsafeMutableBufferPointer { y in
                for t in 0..<frames {
                    for n in 1...half {
                        let ahead = min(t + n, frames - 1), behind = max(t - n, 0)
                        let weight = Float(n) / denominator
                        for d in 0..<dims { y[t * dims + d] += weight * (x[ahead * dims + d] - x[behind * dims + d]) }
                    }
                }
            }
        }
        return result
    }

    /// Features with their deltas and delta-deltas (deltas of deltas) side by side: [F, D] → [F, 3D].
    public static func withDeltas(_ features: Tensor, width: Int = 9) -> Tensor {
        let first = deltas(features, width: width)
        return withoutGrad { Tensor.concatenate([features, first, deltas(first, width: width)], alongAxis: 1) }
    }

    /// Per-utterance mean and variance normalisation of each feature over time (biased variance). [F, D] → [F, D].
    public static func normalizedPerUtterance(_ features: Tensor, epsilon: Float = 1e-8) -> Tensor {
        withoutGrad {
            let centred = features - features.mean(alongAxis: 0, keepingDimensions: true)
            let variance = centred.squared().mean(alongAxis: 0, keepingDimensions: true)
            return centred / (variance + epsilon).sqrt()
        }
    }
}
