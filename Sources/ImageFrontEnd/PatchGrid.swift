// The patch grid of image CPC: each image is cut into overlapping P×P patches at stride S (a GH × GW grid), each
// patch augmented on its own (random crop to Q×Q inside the patch, horizontal flip, colour dropping, greyscale;
// CPC v2, Hénaff et al. 2019), scaled to [-1, 1].
//
// Glossary: N images, H×W image size, C channels, P patch size, S stride, Q crop size (≤ P), GH×GW grid,
// G = GH·GW patches per image. Batches are `[N, GH, GW, Q, Q, C]`.

import TensorCore

/// Where the patches of an H×W image lie.
public struct PatchGrid: Sendable, Equatable {
    public let patch: Int, stride: Int

    public init(patch: Int, stride: Int) {
        precondition(patch > 0 && stride > 0, "patch size and stride must be positive")
        (self.patch, self.stride) = (patch, stride)
    }

    /// Patches along an extent of `length` pixels (0 when the patch does not fit).
    public func count(along length: Int) -> Int { length < patch ? 0 : (length - patch) / stride + 1 }

    /// (rows, columns) of the grid over an H×W image.
    public func shape(height: Int, width: Int) -> (rows: Int, columns: Int) { (count(along: height), count(along: width)) }

    /// Top-left corner (y, x) of patch (row, column).
    public func origin(row: Int, column: Int) -> (y: Int, x: Int) { (row * stride, column * stride) }
}

/// Per-patch augmentation (training) or its deterministic evaluation form (centre crop only).
public struct PatchAugmentation: Sendable, Equatable {
    /// Q: the side of the crop taken inside each patch (nil: the whole patch).
    public var crop: Int?
    public var horizontalFlip: Bool
    /// Probability of keeping one random colour channel of an RGB patch (the other two set to zero).
    public var colourDrop: Float
    /// Probability of turning an RGB patch grey.
    public var greyscale: Float
    /// Probability of jittering a patch's intensities: brightness (values × b, b uniform in 1 ± `brightness`), then
    /// contrast (distance from the patch's mean × c, c uniform in 1 ± `contrast`), clamped to the pixel range; each
    /// patch draws its own factors, so neighbours cannot be matched by their intensities alone.
    public var jitter: Float
    public var brightness: Float, contrast: Float

    public init(crop: Int? = nil, horizontalFlip: Bool = false, colourDrop: Float = 0, greyscale: Float = 0,
                jitter: Float = 0, brightness: Float = 0.4, contrast: Float = 0.4) {
        (self.crop, self.horizontalFlip, self.colourDrop, self.greyscale) = (crop, horizontalFlip, colourDrop, greyscale)
        (self.jitter, self.brightness, self.contrast) = (jitter, brightness, contrast)
    }

    /// The same crop size, without randomness: centre crop, no flip, colours kept.
    public var evaluation: PatchAugmentation { PatchAugmentation(crop: crop) }
    public var isRandom: Bool { (crop != nil) || horizontalFlip || colourDrop > 0 || greyscale > 0 || jitter > 0 }
}

/// Cuts images into augmented patch grids.
public struct PatchExtractor: Sendable {
    public let grid: PatchGrid
    public let augmentation: PatchAugmentation

    public init(grid: PatchGrid, augmentation: PatchAugmentation) {
        precondition((augmentation.crop ?? grid.patch) <= grid.patch && (augmentation.crop ?? 1) > 0,
                     "the crop must fit inside the patch")
        (self.grid, self.augmentation) = (grid, augmentation)
    }

    /// Q.
    public var side: Int { augmentation.crop ?? grid.patch }

    /// The patches of `images` (indices into `set`) as `[N, GH, GW, Q, Q, C]` in [-1, 1]. With a generator the
    /// augmentation is random (drawn in a fixed order: image, row, column); without, it is the evaluation form.
    public func patches(of set: ImageSet, images: [Int], generator: inout RandomGenerator?) -> Tensor {
        let (rows, columns) = grid.shape(height: set.height, width: set.width)
        precondition(rows > 0 && columns > 0, "a \(grid.patch)-pixel patch does not fit a \(set.height)×\(set.width) image")
        let q = side, c = set.channels, p = grid.patch
        let patchSize = q * q * c
        let output = Tensor.zeros([images.count, rows, columns, q, q, c])
        let random = generator != nil
        output.withUnsafeMutableBufferPointer { out in
            set.pixels.withUnsafeBufferPointer { pixels in
                var o = 0
                for image in images {
                    let base = image * set.pixelsPerImage
                    for row in 0..<rows {
                        for column in 0..<columns {
                            let (y0, x0) = grid.origin(row: row, column: column)
                            var dy = (p - q) / 2, dx = (p - q) / 2, flip = false, keep = -1, grey = false
                            var gain: Float = 1, stretch: Float = 1
                            if random {
                                if augmentation.crop != nil {
                                    dy = generator!.nextInt(below: p - q + 1)
                                    dx = generator!.nextInt(below: p - q + 1)
                                }
                                if augmentation.horizontalFlip { flip = generator!.nextFloat() < 0.5 }
                                if c == 3 && augmentation.colourDrop > 0 && generator!.nextFloat() < augmentation.colourDrop {
                                    keep = generator!.nextInt(below: 3)
                                }
                                if c == 3 && augmentation.greyscale > 0 { grey = generator!.nextFloat() < augmentation.greyscale }
                                if augmentation.jitter > 0 && generator!.nextFloat() < augmentation.jitter {
                                    gain = 1 + augmentation.brightness * (2 * generator!.nextFloat() - 1)
                                    stretch = 1 + augmentation.contrast * (2 * generator!.nextFloat() - 1)
                                }
                            }
                            for y in 0..<q {
                                let sourceRow = base + ((y0 + dy + y) * set.width + x0 + dx) * c
                                for x in 0..<q {
                                    let source = sourceRow + (flip ? q - 1 - x : x) * c
                                    let target = o + (y * q + x) * c
                                    if grey {
                                        let mean = (Float(pixels[source]) + Float(pixels[source + 1]) + Float(pixels[source + 2])) / 3
                                        for k in 0..<3 { out[target + k] = mean / 127.5 - 1 }
                                    } else {
                                        for k in 0..<c {
                                            out[target + k] = keep >= 0 && k != keep ? 0 : Float(pixels[source + k]) / 127.5 - 1
                                        }
                                    }
                                }
                            }
                            if gain != 1 || stretch != 1 { Self.jitter(out, start: o, count: patchSize, gain: gain, stretch: stretch) }
                            o += patchSize
                        }
                    }
                }
            }
        }
        return output
    }

    /// Brightness then contrast on one patch's values in [-1, 1] (as [0, 1] intensities: v·gain, then
    /// (v − mean)·stretch + mean), clamped.
    static func jitter(_ values: UnsafeMutableBufferPointer<Float>, start: Int, count: Int, gain: Float, stretch: Float) {
        var sum: Float = 0
        for i in start..<(start + count) {
            let v = min(max((values[i] + 1) * 0.5 * gain, 0), 1)
            values[i] = v
            sum += v
        }
        let mean = sum / Float(count)
        for i in start..<(start + count) { values[i] = min(max((values[i] - mean) * stretch + mean, 0), 1) * 2 - 1 }
    }
}

/// Draws training batches of patch grids: batch `index` depends only on (seed, index), as for audio windows.
public struct PatchBatchSampler: Sendable {
    public let set: ImageSet
    public let extractor: PatchExtractor
    public let batchSize: Int
    public let seed: UInt64

    public init(set: ImageSet, extractor: PatchExtractor, batchSize: Int, seed: UInt64) {
        precondition(set.count > 0 && batchSize > 0, "need images and a positive batch size")
        (self.set, self.extractor, self.batchSize, self.seed) = (set, extractor, batchSize, seed)
    }

    /// The images of batch `index`, drawn with replacement.
    public func plan(batch index: Int) -> [Int] {
        var generator = RandomGenerator(seed: seed, stream: 0x494D_0000_0000 &+ UInt64(index))
        return (0..<batchSize).map { _ in generator.nextInt(below: set.count) }
    }

    /// Batch `index`: `[N, GH, GW, Q, Q, C]` patches, class labels (unused by CPC's loss), image indices as items.
    public func batch(_ index: Int, augment: Bool = true) -> Batch {
        let images = plan(batch: index)
        var generator: RandomGenerator? = augment && extractor.augmentation.isRandom
            ? RandomGenerator(seed: seed, stream: 0x4155_0000_0000 &+ UInt64(index)) : nil
        return Batch(inputs: extractor.patches(of: set, images: images, generator: &generator),
                     labels: images.map { set.labels[$0] }, items: images, index: index)
    }
}
