// Augmented views of images for the image-pair methods (SimCLR, MoCo, BYOL, SwAV, …): random resized crop,
// horizontal flip, colour jitter, greyscale, Gaussian blur and solarisation, each with its probability, set per view
// (asymmetric views as BYOL; global and local crops of several sizes as SwAV's multi-crop). The ops follow
// torchvision's definitions (RandomResizedCrop, ColorJitter in a random order, Grayscale with ITU-R 601 weights,
// GaussianBlur with reflected borders, RandomSolarize), on floats in [0, 1]; the view is then mapped to [-1, 1].
//
// Glossary: N images, H×W source pixels, C channels (1 or 3), S output side, V views per image.

import Foundation
import TensorCore

/// How one view is made from an image.
public struct ViewAugmentation: Sendable, Equatable {
    /// S: the output side in pixels; nil: the image's own height (and width).
    public var size: Int?
    /// The crop's area as a fraction of the image, and its aspect ratio (width / height), drawn uniformly (the ratio
    /// in log space). scale (1, 1) with ratio (1, 1) keeps the whole image.
    public var scale: ClosedRange<Float> = 0.08...1
    public var ratio: ClosedRange<Float> = Float(3.0 / 4.0)...Float(4.0 / 3.0)
    public var horizontalFlip: Float = 0.5
    /// Probability of the colour jitter, and its strengths (factors uniform in [1 − s, 1 + s]; hue shift in [−h, h]).
    public var jitter: Float = 0.8
    public var brightness: Float = 0.4, contrast: Float = 0.4, saturation: Float = 0.4, hue: Float = 0.1
    public var greyscale: Float = 0.2
    /// Probability of a Gaussian blur with σ uniform in `blurSigma`; kernel side `blurKernel` (odd), nil: about a
    /// tenth of the view side (at least 3), as SimCLR.
    public var blur: Float = 0
    public var blurSigma: ClosedRange<Float> = 0.1...2
    public var blurKernel: Int?
    public var solarize: Float = 0

    public init() {}

    /// No randomness: the whole image, resized to `size`.
    public static func identity(size: Int? = nil) -> ViewAugmentation {
        var v = ViewAugmentation()
        (v.size, v.scale, v.ratio, v.horizontalFlip, v.jitter, v.greyscale, v.blur, v.solarize) = (size, 1...1, 1...1, 0, 0, 0, 0, 0)
        return v
    }

    /// The crop box (top, left, height, width) for an H×W image, torchvision's `RandomResizedCrop.get_params`:
    /// ten tries at a random area and ratio, then the whole image clamped to the ratio range.
    public func cropBox(height: Int, width: Int, generator: inout RandomGenerator) -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Float(height * width)
        let logLow = Foundation.log(ratio.lowerBound), logHigh = Foundation.log(ratio.upperBound)
        for _ in 0..<10 {
            let target = area * (scale.lowerBound + (scale.upperBound - scale.lowerBound) * generator.nextFloat())
            let aspect = Foundation.exp(logLow + (logHigh - logLow) * generator.nextFloat())
            let w = Int((target * aspect).squareRoot().rounded()), h = Int((target / aspect).squareRoot().rounded())
            if w > 0 && h > 0 && w <= width && h <= height {
                return (generator.nextInt(below: height - h + 1), generator.nextInt(below: width - w + 1), h, w)
            }
        }
        let inRatio = Float(width) / Float(height)
        var (w, h) = (width, height)
        if inRatio < ratio.lowerBound {
            h = Int((Float(w) / ratio.lowerBound).rounded())
        } else if inRatio > ratio.upperBound {
            w = Int((Float(h) * ratio.upperBound).rounded())
        }
        return ((height - h) / 2, (width - w) / 2, h, w)
    }

    /// Makes the view of one image: `image` H×W×C floats in [0, 1] → S×S×C floats in [−1, 1] written to `output`.
    public func apply(_ image: [Float], height: Int, width: Int, channels c: Int, into output: UnsafeMutablePointer<Float>,
                      generator: inout RandomGenerator) {
        let side = size ?? height
        let box = cropBox(height: height, width: width, generator: &generator)
        var view = ViewOps.resize(image, height: height, width: width, channels: c, box: box, outputHeight: side, outputWidth: side)
        if horizontalFlip > 0 && generator.nextFloat() < horizontalFlip { ViewOps.flip(&view, side: side, channels: c) }
        if jitter > 0 && generator.nextFloat() < jitter {
            let order = generator.permutation(4)
            let factor = { (strength: Float, g: inout RandomGenerator) -> Float in
                max(0, 1 - strength) + (1 + strength - max(0, 1 - strength)) * g.nextFloat()
            }
            for op in order {
                switch op {
                case 0 where brightness > 0: ViewOps.brightness(&view, factor: factor(brightness, &generator))
                case 1 where contrast > 0: ViewOps.contrast(&view, channels: c, factor: factor(contrast, &generator))
                case 2 where saturation > 0: ViewOps.saturation(&view, channels: c, factor: factor(saturation, &generator))
                case 3 where hue > 0: ViewOps.hue(&view, channels: c, shift: -hue + 2 * hue * generator.nextFloat())
                default: break
                }
            }
        }
        if greyscale > 0 && generator.nextFloat() < greyscale { ViewOps.greyscale(&view, channels: c) }
        if blur > 0 && generator.nextFloat() < blur {
            let sigma = blurSigma.lowerBound + (blurSigma.upperBound - blurSigma.lowerBound) * generator.nextFloat()
            ViewOps.gaussianBlur(&view, side: side, channels: c, sigma: sigma, kernel: blurKernel ?? max(3, (side / 10) | 1))
        }
        if solarize > 0 && generator.nextFloat() < solarize { ViewOps.solarize(&view, threshold: 0.5) }
        for i in 0..<view.count { output[i] = view[i] * 2 - 1 }
    }
}

/// The view operations on one H×W×C float image in [0, 1] (channels last), each as torchvision defines it.
public enum ViewOps {
    /// Bilinear resampling of the box (top, left, h, w) to outputHeight × outputWidth (half-pixel centres, as
    /// `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)` without antialiasing).
    public static func resize(_ image: [Float], height: Int, width: Int, channels c: Int,
                              box: (top: Int, left: Int, height: Int, width: Int),
                              outputHeight: Int, outputWidth: Int) -> [Float] {
        var out = [Float](repeating: 0, count: outputHeight * outputWidth * c)
        let sy = Float(box.height) / Float(outputHeight), sx = Float(box.width) / Float(outputWidth)
        image.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outputHeight {
                    let fy = max(0, (Float(y) + 0.5) * sy - 0.5)
                    let y0 = min(Int(fy), box.height - 1), y1 = min(y0 + 1, box.height - 1)
                    let wy = fy - Float(y0)
                    for x in 0..<outputWidth {
                        let fx = max(0, (Float(x) + 0.5) * sx - 0.5)
                        let x0 = min(Int(fx), box.width - 1), x1 = min(x0 + 1, box.width - 1)
                        let wx = fx - Float(x0)
                        let r0 = (box.top + y0) * width + box.left, r1 = (box.top + y1) * width + box.left
                        for k in 0..<c {
                            let a = src[(r0 + x0) * c + k], b = src[(r0 + x1) * c + k]
                            let d = src[(r1 + x0) * c + k], e = src[(r1 + x1) * c + k]
                            let top = a + (b - a) * wx, bottom = d + (e - d) * wx
                            dst[(y * outputWidth + x) * c + k] = top + (bottom - top) * wy
                        }
                    }
                }
            }
        }
        return out
    }

    public static func flip(_ view: inout [Float], side: Int, channels c: Int) {
        for y in 0..<side {
            for x in 0..<(side / 2) {
                for k in 0..<c { view.swapAt((y * side + x) * c + k, (y * side + side - 1 - x) * c + k) }
            }
        }
    }

    /// The ITU-R 601 luma of each pixel (the pixel itself for one channel).
    static func luma(_ view: [Float], channels c: Int) -> [Float] {
        guard c == 3 else { return view }
        return (0..<(view.count / 3)).map { 0.299 * view[3 * $0] + 0.587 * view[3 * $0 + 1] + 0.114 * view[3 * $0 + 2] }
    }

    static func clamp(_ x: Float) -> Float { min(1, max(0, x)) }

    public static func brightness(_ view: inout [Float], factor: Float) {
        for i in 0..<view.count { view[i] = clamp(view[i] * factor) }
    }

    /// Blends with the mean luma of the whole image.
    public static func contrast(_ view: inout [Float], channels c: Int, factor: Float) {
        let grey = luma(view, channels: c)
        let mean = grey.reduce(0, +) / Float(max(grey.count, 1))
        for i in 0..<view.count { view[i] = clamp(mean + factor * (view[i] - mean)) }
    }

    /// Blends with the pixel's luma (nothing changes on one channel).
    public static func saturation(_ view: inout [Float], channels c: Int, factor: Float) {
        guard c == 3 else { return }
        let grey = luma(view, channels: c)
        for i in 0..<view.count { view[i] = clamp(grey[i / 3] + factor * (view[i] - grey[i / 3])) }
    }

    /// Rotates the hue by `shift` turns (in [−0.5, 0.5]) through HSV (nothing changes on one channel).
    public static func hue(_ view: inout [Float], channels c: Int, shift: Float) {
        guard c == 3 else { return }
        for p in 0..<(view.count / 3) {
            let (r, g, b) = (view[3 * p], view[3 * p + 1], view[3 * p + 2])
            let maxC = max(r, g, b), minC = min(r, g, b), delta = maxC - minC
            var h: Float = 0
            if delta > 0 {
                if maxC == r { h = (g - b) / delta } else if maxC == g { h = 2 + (b - r) / delta } else { h = 4 + (r - g) / delta }
                h /= 6
                if h < 0 { h += 1 }
            }
            let s: Float = maxC > 0 ? delta / maxC : 0, v = maxC
            h = (h + shift).truncatingRemainder(dividingBy: 1)
            if h < 0 { h += 1 }
            let i = Int(h * 6) % 6, f = h * 6 - Float(Int(h * 6))
            let (pp, q, t) = (v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f)))
            let rgb: (Float, Float, Float) = [(v, t, pp), (q, v, pp), (pp, v, t), (pp, q, v), (t, pp, v), (v, pp, q)][i]
            (view[3 * p], view[3 * p + 1], view[3 * p + 2]) = rgb
        }
    }

    public static func greyscale(_ view: inout [Float], channels c: Int) {
        guard c == 3 else { return }
        let grey = luma(view, channels: c)
        for i in 0..<view.count { view[i] = grey[i / 3] }
    }

    /// A separable Gaussian of side `kernel` (odd) and `sigma`, borders reflected (torchvision's GaussianBlur).
    public static func gaussianBlur(_ view: inout [Float], side: Int, channels c: Int, sigma: Float, kernel: Int) {
        let radius = kernel / 2
        var weights = (0..<kernel).map { i -> Float in let x = Float(i - radius); return Foundation.exp(-x * x / (2 * sigma * sigma)) }
        let total = weights.reduce(0, +)
        weights = weights.map { $0 / total }
        func reflect(_ i: Int) -> Int {
            guard side > 1 else { return 0 }
            var j = i
            while j < 0 || j >= side { j = j < 0 ? -j : 2 * (side - 1) - j }
            return j
        }
        var temp = view
        for y in 0..<side {
            for x in 0..<side {
                for k in 0..<c {
                    var sum: Float = 0
                    for t in 0..<kernel { sum += weights[t] * view[(y * side + reflect(x + t - radius)) * c + k] }
                    temp[(y * side + x) * c + k] = sum
                }
            }
        }
        for y in 0..<side {
            for x in 0..<side {
                for k in 0..<c {
                    var sum: Float = 0
                    for t in 0..<kernel { sum += weights[t] * temp[(reflect(y + t - radius) * side + x) * c + k] }
                    view[(y * side + x) * c + k] = sum
                }
            }
        }
    }

    public static func solarize(_ view: inout [Float], threshold: Float) {
        for i in 0..<view.count where view[i] >= threshold { view[i] = 1 - view[i] }
    }
}

/// Batches of views: batch i holds the images at positions i·B … i·B + B − 1 of a stream of epochs, each epoch a
/// permutation of the set, so every image is seen once per epoch; all of it depends only on (seed, i).
public struct ViewBatchSampler: Sendable {
    public let set: ImageSet
    public let views: [ViewAugmentation]
    public let batchSize: Int
    public let seed: UInt64

    public init(set: ImageSet, views: [ViewAugmentation], batchSize: Int, seed: UInt64) {
        precondition(set.count > 0 && batchSize > 0 && !views.isEmpty, "need images, views and a positive batch size")
        (self.set, self.views, self.batchSize, self.seed) = (set, views, batchSize, seed)
    }

    /// The permutation of epoch `epoch`.
    public func epochOrder(_ epoch: Int) -> [Int] {
        var generator = RandomGenerator(seed: seed, stream: 0x4550_0000_0000 &+ UInt64(epoch))
        return generator.permutation(set.count)
    }

    /// The images of batch `index`.
    public func plan(batch index: Int) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(batchSize)
        var epoch = -1, order: [Int] = []
        for position in (index * batchSize)..<((index + 1) * batchSize) {
            if position / set.count != epoch { epoch = position / set.count; order = epochOrder(epoch) }
            result.append(order[position % set.count])
        }
        return result
    }

    /// Batch `index`: one `[N, S_v, S_v, C]` tensor per view, the images' classes and indices.
    public func batch(_ index: Int) -> Batch {
        let images = plan(batch: index)
        return Batch(views: Self.views(of: set, images: images, augmentations: views, seed: seed, batch: index),
                     labels: images.map { set.labels[$0] }, items: images, index: index)
    }

    /// The views of `images`: view v of image position p draws from its own stream of (seed, batch, v).
    public static func views(of set: ImageSet, images: [Int], augmentations: [ViewAugmentation], seed: UInt64, batch: Int) -> [Tensor] {
        let (h, w, c) = (set.height, set.width, set.channels)
        return augmentations.enumerated().map { v, augmentation in
            let side = augmentation.size ?? h
            var generator = RandomGenerator(seed: seed, stream: 0x5649_4557_0000_0000 ^ (UInt64(batch) << 8 | UInt64(v)))
            let output = Tensor.zeros([images.count, side, side, c])
            output.withUnsafeMutableBufferPointer { out in
                set.pixels.withUnsafeBufferPointer { pixels in
                    for (p, image) in images.enumerated() {
                        let base = image * set.pixelsPerImage
                        let source = (0..<set.pixelsPerImage).map { Float(pixels[base + $0]) / 255 }
                        augmentation.apply(source, height: h, width: w, channels: c, into: out.baseAddress! + p * side * side * c,
                                           generator: &generator)
                    }
                }
            }
            return output
        }
    }

    /// Unaugmented images `[N, H, W, C]` in [−1, 1] (what probes feed a trained backbone).
    public static func evaluationImages(of set: ImageSet, images: [Int]) -> Tensor {
        let output = Tensor.zeros([images.count, set.height, set.width, set.channels])
        output.withUnsafeMutableBufferPointer { out in
            for (p, image) in images.enumerated() {
                let base = image * set.pixelsPerImage, target = p * set.pixelsPerImage
                for i in 0..<set.pixelsPerImage { out[target + i] = Float(set.pixels[base + i]) / 127.5 - 1 }
            }
        }
        return output
    }
}
