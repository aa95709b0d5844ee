// Time-domain augmentation of training windows (Kharitonov et al. 2020, "Data augmenting contrastive learning of
// speech representations in the time domain", who report large gains for CPC from pitch, reverberation, additive
// noise and band rejection): reverberation by a synthetic room response, a rejected frequency band, additive
// coloured noise. Each is applied to a window with its probability, its parameters drawn from the generator the
// caller passes (the sampler derives it from (seed, batch index), so batches stay reproducible and resumable).
//
// Glossary: W samples per window, N FFT size, fs = 16 kHz.

import CFFTW
import Foundation
import TensorCore

/// Which augmentations a window gets, and their ranges.
public struct WaveformAugmentation: Sendable, Equatable {
    /// Probability of reverberation: convolution with direct sound plus an exponentially decaying noise tail.
    public var reverb: Float = 0
    /// RT60 (the tail's 60 dB decay time) range, seconds.
    public var reverbSeconds: ClosedRange<Float> = 0.1...0.5
    /// Tail-to-direct energy ratio range.
    public var reverbTailRatio: ClosedRange<Float> = 0.3...3
    /// Probability of rejecting a frequency band (its FFT bins set to zero).
    public var bandReject: Float = 0
    /// Width range of the rejected band, Hz (its position is uniform below fs/2).
    public var bandHertz: ClosedRange<Float> = 100...1500
    /// Probability of additive noise (white, pink or brown, equally likely).
    public var noise: Float = 0
    /// Signal-to-noise ratio range, dB.
    public var snrDecibels: ClosedRange<Float> = 5...20
    /// The sample rate.
    public var sampleRate: Float = 16000

    /// No augmentation.
    public init() {}

    /// Whether any augmentation can happen.
    public var isEnabled: Bool { reverb > 0 || bandReject > 0 || noise > 0 }

    /// Augments `window` in place; draws from `generator` in a fixed order whatever is applied.
    public func apply(to window: inout [Float], generator: inout RandomGenerator) {
        // Draw every parameter first, so that one augmentation's choice never shifts another's draws.
        let draws = (0..<9).map { _ in generator.nextFloat() }
        var noiseGenerator = RandomGenerator(seed: generator.next(), stream: 0x4E4F)
        func within(_ range: ClosedRange<Float>, _ u: Float) -> Float { range.lowerBound + u * (range.upperBound - range.lowerBound) }
        if draws[0] < reverb {
            let response = Self.roomResponse(rt60: within(reverbSeconds, draws[1]), tailRatio: within(reverbTailRatio, draws[2]),
                                             sampleRate: sampleRate, generator: &noiseGenerator)
            Self.reverberate(&window, response: response)
        }
        if draws[3] < bandReject {
            let width = within(bandHertz, draws[4])
            let low = draws[5] * max(0, sampleRate / 2 - width)
            Self.rejectBand(&window, lowHertz: low, highHertz: low + width, sampleRate: sampleRate)
        }
        if draws[6] < noise {
            let colour = min(2, Int(draws[7] * 3))
            Self.addNoise(&window, snrDecibels: within(snrDecibels, draws[8]), exponent: Float(colour), generator: &noiseGenerator)
        }
    }

    /// A room's impulse response: 1 (direct sound) then Gaussian noise whose amplitude falls 60 dB in `rt60`
    /// seconds, scaled so that the tail holds `tailRatio` times the direct sound's energy; 1.2·RT60 long.
    public static func roomResponse(rt60: Float, tailRatio: Float, sampleRate: Float, generator: inout RandomGenerator) -> [Float] {
        let length = max(2, Int(1.2 * rt60 * sampleRate))
        var response = [Float](repeating: 0, count: length)
        let decay = -3 * Float(M_LN10) / (rt60 * sampleRate)  // amplitude exp(decay·n): −60 dB at n = rt60·fs
        var energy: Float = 0
        for n in 1..<length {
            response[n] = generator.nextNormal() * Foundation.exp(decay * Float(n))
            energy += response[n] * response[n]
        }
        let scale = energy > 0 ? (tailRatio / energy).squareRoot() : 0
        for n in 1..<length { response[n] *= scale }
        response[0] = 1
        return response
    }

    /// Convolves `window` with `response` (the first W samples of the full convolution, by FFT) and restores the
    /// window's RMS level.
    public static func reverberate(_ window: inout [Float], response: [Float]) {
        let w = window.count
        guard w > 0, !response.isEmpty else { return }
        let before = rms(window)
        var size = 1
        while size < w + response.count - 1 { size <<= 1 }
        let a = spectrum(window, size: size), b = spectrum(response, size: size)
        var product = [Float](repeating: 0, count: a.count)
        for k in 0..<(a.count / 2) {
            let (ar, ai, br, bi) = (a[2 * k], a[2 * k + 1], b[2 * k], b[2 * k + 1])
            product[2 * k] = ar * br - ai * bi
            product[2 * k + 1] = ar * bi + ai * br
        }
        let full = signal(product, size: size)
        let after = rms(Array(full.prefix(w)))
        let gain = after > 0 ? before / after : 0
        for i in 0..<w { window[i] = full[i] * gain }
    }

    /// Sets the FFT bins of `window` between the two frequencies to zero.
    public static func rejectBand(_ window: inout [Float], lowHertz: Float, highHertz: Float, sampleRate: Float) {
        let w = window.count
        guard w > 1 else { return }
        var bins = spectrum(window, size: w)
        let resolution = sampleRate / Float(w)
        let first = max(0, Int((lowHertz / resolution).rounded(.up))), last = min(w / 2, Int((highHertz / resolution).rounded(.down)))
        guard first <= last else { return }
        for k in first...last { bins[2 * k] = 0; bins[2 * k + 1] = 0 }
        window = signal(bins, size: w)
    }

    /// Adds noise with power spectrum ∝ 1/f^`exponent` (0 white, 1 pink, 2 brown) at `snrDecibels` below the
    /// window's power. A silent window is left as it is.
    public static func addNoise(_ window: inout [Float], snrDecibels: Float, exponent: Float, generator: inout RandomGenerator) {
        let w = window.count
        let power = window.reduce(0) { $0 + $1 * $1 } / Float(max(w, 1))
        guard w > 1, power > 0 else { return }
        var noise = (0..<w).map { _ in generator.nextNormal() }
        if exponent > 0 {
            var bins = spectrum(noise, size: w)
            bins[0] = 0
            bins[1] = 0
            for k in 1...(w / 2) {
                let gain = Foundation.pow(Float(k), -exponent / 2)
                bins[2 * k] *= gain
                bins[2 * k + 1] *= gain
            }
            noise = signal(bins, size: w)
        }
        let noisePower = noise.reduce(0) { $0 + $1 * $1 } / Float(w)
        guard noisePower > 0 else { return }
        let scale = (power / Foundation.pow(10, snrDecibels / 10) / noisePower).squareRoot()
        for i in 0..<w { window[i] += scale * noise[i] }
    }

    static func rms(_ x: [Float]) -> Float { (x.reduce(0) { $0 + $1 * $1 } / Float(max(x.count, 1))).squareRoot() }

    /// The real FFT of `x` zero-padded to `size`: interleaved (re, im) for bins 0…size/2.
    static func spectrum(_ x: [Float], size: Int) -> [Float] {
        let plan = FFTPlans.shared.realForward(size: size)
        var input = [Float](repeating: 0, count: size)
        for i in 0..<min(x.count, size) { input[i] = x[i] }
        var output = [Float](repeating: 0, count: 2 * (size / 2 + 1))
        input.withUnsafeMutableBufferPointer { i in
            output.withUnsafeMutableBytes { o in
                fftwf_execute_dft_r2c(plan, i.baseAddress, o.baseAddress!.assumingMemoryBound(to: fftwf_complex.self))
            }
        }
        return output
    }

    /// The inverse of `spectrum` (scaled by 1/size).
    static func signal(_ bins: [Float], size: Int) -> [Float] {
        let plan = FFTPlans.shared.realInverse(size: size)
        var input = bins  // the c2r transform overwrites its input
        var output = [Float](repeating: 0, count: size)
        input.withUnsafeMutableBytes { i in
            output.withUnsafeMutableBufferPointer { o in
                fftwf_execute_dft_c2r(plan, i.baseAddress!.assumingMemoryBound(to: fftwf_complex.self), o.baseAddress)
            }
        }
        let scale = 1 / Float(size)
        return output.map { $0 * scale }
    }
}
