// The `data` sections of run configs, one per kind of input a method can ask for: audio windows, patch grids,
// and augmented image views. The method's `InputKind` picks which one a config's `data:` is decoded as.

import AudioFrontEnd
import Foundation
import ImageFrontEnd
import Layers
import Methods

/// Where the training windows come from.
public struct DataConfig: Codable, Sendable, Equatable {
    public var corpus = "Corpora/synth-small"
    /// Utterances to train on (one id per line); nil: all.
    public var trainSplit: String? = nil
    /// Held-out utterances for the validation loss; nil: no validation.
    public var validationSplit: String? = nil
    /// Samples per training window.
    public var window = 20480
    public var batchSize = 8
    public var sampling: SamplingMode = .mixed
    /// Decoded-audio cache budget in MiB.
    public var cacheMegabytes = 1024
    /// Batches prepared ahead by the background loader.
    public var prefetch = 4
    /// Time-domain augmentation of the training windows (none by default; validation windows never get it).
    public var augmentation = AugmentationConfig()
    /// Phone labels (CPC format, one per 10 ms) for methods that train on them; every window then carries the
    /// label of each frame. Nil: unlabelled training.
    public var labels: String? = nil

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case corpus, window, sampling, prefetch, augmentation, labels
        case trainSplit = "train_split", validationSplit = "validation_split", batchSize = "batch_size"
        case cacheMegabytes = "cache_mb"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DataConfig()
        corpus = try c.value(.corpus, default: d.corpus)
        trainSplit = try c.decodeIfPresent(String.self, forKey: .trainSplit)
        validationSplit = try c.decodeIfPresent(String.self, forKey: .validationSplit)
        window = try c.value(.window, default: d.window)
        batchSize = try c.value(.batchSize, default: d.batchSize)
        sampling = try c.value(.sampling, default: d.sampling)
        cacheMegabytes = try c.value(.cacheMegabytes, default: d.cacheMegabytes)
        prefetch = try c.value(.prefetch, default: d.prefetch)
        augmentation = try c.value(.augmentation, default: d.augmentation)
        labels = try c.decodeIfPresent(String.self, forKey: .labels)
        if window < 160 || window > 960_000 { throw decoder.invalid("window", "must be in 160...960000 samples (60 s), found \(window)") }
        if batchSize < 1 || batchSize > 4096 { throw decoder.invalid("batch_size", "must be in 1...4096, found \(batchSize)") }
        if cacheMegabytes < 0 || cacheMegabytes > 1 << 20 { throw decoder.invalid("cache_mb", "must be in 0...1048576, found \(cacheMegabytes)") }
        if prefetch < 1 || prefetch > 64 { throw decoder.invalid("prefetch", "must be in 1...64, found \(prefetch)") }
    }
}

/// The `data.augmentation` section of audio configs: each augmentation's probability per window and its range
/// (`WaveformAugmentation`, Kharitonov et al. 2020). Ranges are `[low, high]`.
public struct AugmentationConfig: Codable, Sendable, Equatable {
    /// Probability of reverberation, its RT60 range (s) and tail-to-direct energy ratio range.
    public var reverb: Float = 0
    public var reverbSeconds: [Float] = [0.1, 0.5]
    public var reverbTailRatio: [Float] = [0.3, 3]
    /// Probability of a rejected frequency band, and its width range (Hz).
    public var bandReject: Float = 0
    public var bandHertz: [Float] = [100, 1500]
    /// Probability of additive white, pink or brown noise, and its SNR range (dB).
    public var noise: Float = 0
    public var snrDecibels: [Float] = [5, 20]

    /// No augmentation.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case reverb, noise
        case reverbSeconds = "reverb_seconds", reverbTailRatio = "reverb_tail_ratio", bandReject = "band_reject"
        case bandHertz = "band_hz", snrDecibels = "snr_db"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AugmentationConfig()
        reverb = try c.value(.reverb, default: d.reverb)
        reverbSeconds = try c.value(.reverbSeconds, default: d.reverbSeconds)
        reverbTailRatio = try c.value(.reverbTailRatio, default: d.reverbTailRatio)
        bandReject = try c.value(.bandReject, default: d.bandReject)
        bandHertz = try c.value(.bandHertz, default: d.bandHertz)
        noise = try c.value(.noise, default: d.noise)
        snrDecibels = try c.value(.snrDecibels, default: d.snrDecibels)
        for (key, p) in [("reverb", reverb), ("band_reject", bandReject), ("noise", noise)] where !(p >= 0 && p <= 1) {
            throw decoder.invalid(key, "is a probability, in 0...1; found \(p)")
        }
        for (key, range, limits) in [("reverb_seconds", reverbSeconds, Float(0.01)...Float(5)), ("reverb_tail_ratio", reverbTailRatio, 0...100),
                                     ("band_hz", bandHertz, 1...8000), ("snr_db", snrDecibels, -20...100)] {
            guard range.count == 2, range.allSatisfy(limits.contains), range[0] <= range[1] else {
                throw decoder.invalid(key, "must be [low, high] with low ≤ high in \(limits.lowerBound)...\(limits.upperBound); found \(range)")
            }
        }
    }

    /// The augmentation the sampler applies.
    public var waveform: WaveformAugmentation {
        var a = WaveformAugmentation()
        (a.reverb, a.bandReject, a.noise) = (reverb, bandReject, noise)
        a.reverbSeconds = reverbSeconds[0]...reverbSeconds[1]
        a.reverbTailRatio = reverbTailRatio[0]...reverbTailRatio[1]
        a.bandHertz = bandHertz[0]...bandHertz[1]
        a.snrDecibels = snrDecibels[0]...snrDecibels[1]
        return a
    }
}

/// Where the training images come from and how they are cut into augmented patch grids (method `cpc-image`).
public struct ImageDataConfig: Codable, Sendable, Equatable {
    /// IDX files, `train/` + `test/` class folders, or class folders (see `ImageCorpus.load`).
    public var corpus = ImageCorpus.fashionMNISTPath
    /// P and S: patch side and stride in pixels (default 8 and 4: a 6×6 grid with 50 % overlap at 28 px).
    public var patch = 8
    public var stride = 4
    /// Q: random crop inside each patch while training (centre crop when evaluating); nil: no crop.
    public var crop: Int? = 7
    public var horizontalFlip = true
    public var colourDrop: Float = 0
    public var greyscale: Float = 0
    /// Per-patch brightness/contrast jitter: the probability, and the factors' ranges (1 ± each).
    public var jitter: Float = 0
    public var brightness: Float = 0.4, contrast: Float = 0.4
    public var batchSize = 32
    /// Use the test split, unaugmented, for the validation loss.
    public var validate = true
    public var prefetch = 4

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case corpus, patch, stride, crop, greyscale, validate, prefetch, jitter, brightness, contrast
        case horizontalFlip = "horizontal_flip", colourDrop = "colour_drop", batchSize = "batch_size"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ImageDataConfig()
        corpus = try c.value(.corpus, default: d.corpus)
        patch = try c.value(.patch, default: d.patch)
        stride = try c.value(.stride, default: d.stride)
        crop = try c.contains(.crop) ? c.decodeIfPresent(Int.self, forKey: .crop) : d.crop  // `crop: null` turns it off
        horizontalFlip = try c.value(.horizontalFlip, default: d.horizontalFlip)
        colourDrop = try c.value(.colourDrop, default: d.colourDrop)
        greyscale = try c.value(.greyscale, default: d.greyscale)
        jitter = try c.value(.jitter, default: d.jitter)
        brightness = try c.value(.brightness, default: d.brightness)
        contrast = try c.value(.contrast, default: d.contrast)
        batchSize = try c.value(.batchSize, default: d.batchSize)
        validate = try c.value(.validate, default: d.validate)
        prefetch = try c.value(.prefetch, default: d.prefetch)
        if patch < 1 { throw decoder.invalid("patch", "must be positive, found \(patch)") }
        if stride < 1 { throw decoder.invalid("stride", "must be positive, found \(stride)") }
        if let crop, crop < 1 || crop > patch { throw decoder.invalid("crop", "must be in 1...patch (\(patch)), found \(crop)") }
        for (key, p) in [("colour_drop", colourDrop), ("greyscale", greyscale), ("jitter", jitter)] where !(p >= 0 && p <= 1) {
            throw decoder.invalid(key, "must be a probability in [0, 1], found \(p)")
        }
        for (key, r) in [("brightness", brightness), ("contrast", contrast)] where !(r >= 0 && r < 1) {
            throw decoder.invalid(key, "must be in [0, 1) (factors are drawn from 1 ± it), found \(r)")
        }
        if batchSize < 1 || batchSize > 65536 { throw decoder.invalid("batch_size", "must be in 1...65536, found \(batchSize)") }
        if prefetch < 1 || prefetch > 64 { throw decoder.invalid("prefetch", "must be in 1...64, found \(prefetch)") }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(corpus, forKey: .corpus)
        try c.encode(patch, forKey: .patch)
        try c.encode(stride, forKey: .stride)
        try c.encode(crop, forKey: .crop)  // null when off, so that the stored config reads back the same
        try c.encode(horizontalFlip, forKey: .horizontalFlip)
        try c.encode(colourDrop, forKey: .colourDrop)
        try c.encode(greyscale, forKey: .greyscale)
        try c.encode(jitter, forKey: .jitter)
        try c.encode(brightness, forKey: .brightness)
        try c.encode(contrast, forKey: .contrast)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(validate, forKey: .validate)
        try c.encode(prefetch, forKey: .prefetch)
    }

    public var grid: PatchGrid { PatchGrid(patch: patch, stride: stride) }

    /// The patch grid on `set`'s images, or an error naming `data.patch` when image CPC cannot use it: a patch must fit
    /// both ways, and the grid needs two rows or two columns to predict along.
    public func gridShape(for set: ImageSet) throws -> (rows: Int, columns: Int) {
        let (rows, columns) = grid.shape(height: set.height, width: set.width)
        guard rows >= 1 && columns >= 1 && (rows >= 2 || columns >= 2) else {
            throw ConfigError(key: "data.patch", message: "\(patch)-pixel patches at stride \(stride) give a \(rows)×\(columns) "
                + "grid on \(set.height)×\(set.width) images; image CPC needs a patch that fits and at least two rows or columns")
        }
        return (rows, columns)
    }
    public var augmentation: PatchAugmentation {
        PatchAugmentation(crop: crop, horizontalFlip: horizontalFlip, colourDrop: colourDrop, greyscale: greyscale,
                          jitter: jitter, brightness: brightness, contrast: contrast)
    }
}

/// One entry of `data.views`: how `count` views of each image are made (every key is optional; the defaults are
/// the contrastive methods' augmentations as solo-learn sets them for small images).
public struct ViewConfig: Codable, Sendable, Equatable {
    public var count = 1
    /// Output side in pixels; nil: the image's height.
    public var size: Int? = nil
    public var scale: [Float] = [0.08, 1]
    public var ratio: [Float] = [0.75, 1.3333334]
    public var horizontalFlip: Float = 0.5
    public var jitter: Float = 0.8
    public var brightness: Float = 0.4, contrast: Float = 0.4, saturation: Float = 0.4, hue: Float = 0.1
    public var greyscale: Float = 0.2
    public var blur: Float = 0
    public var blurSigma: [Float] = [0.1, 2]
    public var blurKernel: Int? = nil
    public var solarize: Float = 0

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case count, size, scale, ratio, jitter, brightness, contrast, saturation, hue, greyscale, blur, solarize
        case horizontalFlip = "horizontal_flip", blurSigma = "blur_sigma", blurKernel = "blur_kernel"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ViewConfig()
        count = try c.value(.count, default: d.count)
        size = try c.decodeIfPresent(Int.self, forKey: .size)
        scale = try c.value(.scale, default: d.scale)
        ratio = try c.value(.ratio, default: d.ratio)
        horizontalFlip = try c.value(.horizontalFlip, default: d.horizontalFlip)
        jitter = try c.value(.jitter, default: d.jitter)
        brightness = try c.value(.brightness, default: d.brightness)
        contrast = try c.value(.contrast, default: d.contrast)
        saturation = try c.value(.saturation, default: d.saturation)
        hue = try c.value(.hue, default: d.hue)
        greyscale = try c.value(.greyscale, default: d.greyscale)
        blur = try c.value(.blur, default: d.blur)
        blurSigma = try c.value(.blurSigma, default: d.blurSigma)
        blurKernel = try c.decodeIfPresent(Int.self, forKey: .blurKernel)
        solarize = try c.value(.solarize, default: d.solarize)
        if count < 1 || count > 16 { throw decoder.invalid("count", "must be in 1...16, found \(count)") }
        if let size, size < 2 || size > 1024 { throw decoder.invalid("size", "must be in 2...1024 pixels, found \(size)") }
        func range(_ key: String, _ values: [Float], within bounds: ClosedRange<Float>) throws {
            guard values.count == 2, values.allSatisfy({ $0.isFinite && bounds.contains($0) }), values[0] <= values[1] else {
                throw decoder.invalid(key, "must be [low, high] with \(bounds.lowerBound) ≤ low ≤ high ≤ \(bounds.upperBound), found \(values)")
            }
        }
        try range("scale", scale, within: 0.0001...1)
        try range("ratio", ratio, within: 0.01...100)
        try range("blur_sigma", blurSigma, within: 0.001...100)
        for (key, p) in [("horizontal_flip", horizontalFlip), ("jitter", jitter), ("greyscale", greyscale), ("blur", blur),
                         ("solarize", solarize)] where !(p >= 0 && p <= 1) {
            throw decoder.invalid(key, "must be a probability in [0, 1], found \(p)")
        }
        for (key, s) in [("brightness", brightness), ("contrast", contrast), ("saturation", saturation)] where !(s >= 0 && s <= 10) {
            throw decoder.invalid(key, "must be a strength in [0, 10], found \(s)")
        }
        if !(hue >= 0 && hue <= 0.5) { throw decoder.invalid("hue", "must be in [0, 0.5], found \(hue)") }
        if let blurKernel, blurKernel < 1 || blurKernel % 2 == 0 || blurKernel > 99 {
            throw decoder.invalid("blur_kernel", "must be an odd size in 1...99, found \(blurKernel)")
        }
    }

    public var augmentation: ViewAugmentation {
        var v = ViewAugmentation()
        v.size = size
        v.scale = scale[0]...scale[1]
        v.ratio = ratio[0]...ratio[1]
        (v.horizontalFlip, v.jitter, v.brightness, v.contrast, v.saturation, v.hue) = (horizontalFlip, jitter, brightness, contrast, saturation, hue)
        (v.greyscale, v.blur, v.blurSigma, v.blurKernel, v.solarize) = (greyscale, blur, blurSigma[0]...blurSigma[1], blurKernel, solarize)
        return v
    }
}

/// Where the training images come from and how their views are made (methods with `InputKind.imageViews`).
public struct ViewDataConfig: Codable, Sendable, Equatable {
    public var corpus = ImageCorpus.fashionMNISTPath
    public var batchSize = 256
    /// The views of each image, in order (entries with `count: M` give M views alike: multi-crop's local crops).
    public var views: [ViewConfig] = [ViewConfig()]
    /// Use the test split's images (unaugmented-grid views are still random, from their own seed) for validation.
    public var validate = true
    public var prefetch = 4

    public init() {
        var two = ViewConfig()
        two.count = 2
        views = [two]
    }
    enum CodingKeys: String, CodingKey, CaseIterable { case corpus, views, validate, prefetch, batchSize = "batch_size" }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ViewDataConfig()
        corpus = try c.value(.corpus, default: d.corpus)
        batchSize = try c.value(.batchSize, default: d.batchSize)
        views = try c.value(.views, default: d.views)
        validate = try c.value(.validate, default: d.validate)
        prefetch = try c.value(.prefetch, default: d.prefetch)
        if batchSize < 2 || batchSize > 65536 { throw decoder.invalid("batch_size", "must be in 2...65536, found \(batchSize)") }
        if views.isEmpty || augmentations.count > 32 { throw decoder.invalid("views", "must list 1 to 32 views in all, found \(augmentations.count)") }
        if prefetch < 1 || prefetch > 64 { throw decoder.invalid("prefetch", "must be in 1...64, found \(prefetch)") }
    }

    /// One augmentation per view of a batch, in order.
    public var augmentations: [ViewAugmentation] { views.flatMap { [ViewAugmentation](repeating: $0.augmentation, count: $0.count) } }
}

/// The `data:` section of a run, decoded as the method's input kind asks.
public enum DataSection: Sendable, Equatable, Encodable {
    case audio(DataConfig)
    case patchGrid(ImageDataConfig)
    case imageViews(ViewDataConfig)

    /// The default section for `kind` (what an absent `data:` means).
    public static func defaults(for kind: InputKind) -> DataSection {
        switch kind {
        case .audioWindows: return .audio(DataConfig())
        case .patchGrid: return .patchGrid(ImageDataConfig())
        case .imageViews: return .imageViews(ViewDataConfig())
        }
    }

    static func decode<K: CodingKey>(_ kind: InputKind, from c: KeyedDecodingContainer<K>, forKey key: K) throws -> DataSection {
        switch kind {
        case .audioWindows: return .audio(try c.value(key, default: DataConfig()))
        case .patchGrid: return .patchGrid(try c.value(key, default: ImageDataConfig()))
        case .imageViews: return .imageViews(try c.value(key, default: ViewDataConfig()))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .audio(let d): try d.encode(to: encoder)
        case .patchGrid(let d): try d.encode(to: encoder)
        case .imageViews(let d): try d.encode(to: encoder)
        }
    }

    public var kind: InputKind {
        switch self {
        case .audio: return .audioWindows
        case .patchGrid: return .patchGrid
        case .imageViews: return .imageViews
        }
    }

    /// Items per training batch (`data.batch_size`): the global batch of a data-parallel run.
    public var batchSize: Int {
        switch self {
        case .audio(let d): return d.batchSize
        case .patchGrid(let d): return d.batchSize
        case .imageViews(let d): return d.batchSize
        }
    }

    /// What is known of the input before any data are read (the audio window).
    public var knownShape: InputShape {
        var shape = InputShape(kind: kind)
        if case .audio(let d) = self { (shape.window, shape.batchSize, shape.frameLabels) = (d.window, d.batchSize, d.labels != nil) }
        if case .imageViews(let d) = self { shape.views = d.augmentations.map { _ in .init(height: 0, width: 0) } }
        if case .patchGrid(let d) = self { (shape.batchSize, shape.patchSize) = (d.batchSize, d.crop ?? d.patch) }
        return shape
    }

    /// The audio window section (a programmer error for other kinds).
    public var audio: DataConfig {
        get { guard case .audio(let d) = self else { preconditionFailure("data is \(kind), not audio windows") }; return d }
        set { self = .audio(newValue) }
    }
    public var patches: ImageDataConfig {
        get { guard case .patchGrid(let d) = self else { preconditionFailure("data is \(kind), not patch grids") }; return d }
        set { self = .patchGrid(newValue) }
    }
    public var views: ViewDataConfig {
        get { guard case .imageViews(let d) = self else { preconditionFailure("data is \(kind), not image views") }; return d }
        set { self = .imageViews(newValue) }
    }
}
