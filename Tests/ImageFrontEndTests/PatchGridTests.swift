// The patch grid: counts, positions and overlap; evaluation patches are exact sub-blocks; augmented patches are
// crops (maybe flipped) of their patch, drawn deterministically from (seed, batch index).

import ImageFrontEnd
import Testing
import TensorCore

/// One image whose pixel (y, x, c) is (y · W + x) · C + c modulo 256, so every position is identifiable.
func numberedSet(height: Int, width: Int, channels: Int, count: Int = 1) -> ImageSet {
    let n = height * width * channels
    let pixels = (0..<(count * n)).map { UInt8(($0 % n) % 256) }
    return ImageSet(height: height, width: width, channels: channels, pixels: pixels, labels: [Int](repeating: 0, count: count),
                    classNames: ["x"], sources: (0..<count).map { "image\($0)" })
}

func scaled(_ value: Int) -> Float { Float(value) / 127.5 - 1 }

@Suite struct PatchGridTests {
    @Test func gridCounts() {
        let grid = PatchGrid(patch: 8, stride: 4)
        #expect(grid.shape(height: 28, width: 28) == (6, 6))
        #expect(grid.shape(height: 28, width: 12) == (6, 2))
        #expect(grid.count(along: 7) == 0)
        #expect(PatchGrid(patch: 7, stride: 7).count(along: 28) == 4)
        #expect(PatchGrid(patch: 64, stride: 32).count(along: 256) == 7)  // the paper's 7×7 grid at 256 px
        #expect(grid.origin(row: 2, column: 5) == (8, 20))
    }

    @Test func evaluationPatchesAreTheSubBlocksAndOverlap() {
        let set = numberedSet(height: 12, width: 12, channels: 1)
        let extractor = PatchExtractor(grid: PatchGrid(patch: 8, stride: 4), augmentation: PatchAugmentation())
        var none: RandomGenerator? = nil
        let patches = extractor.patches(of: set, images: [0], generator: &none)
        #expect(patches.shape == [1, 2, 2, 8, 8, 1])
        let p = patches.scalars
        func at(_ row: Int, _ column: Int, _ y: Int, _ x: Int) -> Float { p[((row * 2 + column) * 8 + y) * 8 + x] }
        for (row, column) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            for y in 0..<8 { for x in 0..<8 { #expect(at(row, column, y, x) == scaled((row * 4 + y) * 12 + column * 4 + x)) } }
        }
        // 50 % overlap: the right half of patch (0, 0) is the left half of patch (0, 1).
        for y in 0..<8 { for x in 0..<4 { #expect(at(0, 0, y, x + 4) == at(0, 1, y, x)) } }
    }

    @Test func evaluationCropIsCentred() {
        let set = numberedSet(height: 10, width: 10, channels: 1)
        let extractor = PatchExtractor(grid: PatchGrid(patch: 10, stride: 10), augmentation: PatchAugmentation(crop: 6).evaluation)
        var none: RandomGenerator? = nil
        let p = extractor.patches(of: set, images: [0], generator: &none)
        #expect(p.shape == [1, 1, 1, 6, 6, 1])
        #expect(p.scalars[0] == scaled(2 * 10 + 2))
    }

    @Test func augmentedPatchesAreCropsOfTheirPatchAndDeterministic() {
        let set = numberedSet(height: 16, width: 16, channels: 1, count: 3)
        let augmentation = PatchAugmentation(crop: 5, horizontalFlip: true)
        let sampler = PatchBatchSampler(set: set, extractor: PatchExtractor(grid: PatchGrid(patch: 8, stride: 4), augmentation: augmentation),
                                        batchSize: 2, seed: 9)
        let a = sampler.batch(3), b = sampler.batch(3), c = sampler.batch(4)
        #expect(a.inputs.scalars == b.inputs.scalars && a.labels == b.labels)
        #expect(a.inputs.scalars != c.inputs.scalars)
        #expect(a.inputs.shape == [2, 3, 3, 5, 5, 1])
        // Each patch is the 5×5 block at some offset inside its 8×8 patch, flipped or not.
        let p = a.inputs.scalars
        var flips = 0
        for cell in 0..<9 {
            let (row, column) = (cell / 3, cell % 3)
            let patch = Array(p[(cell * 25)..<(cell * 25 + 25)])
            var found = false
            for dy in 0...3 { for dx in 0...3 { for flip in [false, true] {
                let candidate = (0..<25).map { i -> Float in
                    let (y, x) = (i / 5, i % 5)
                    return scaled((row * 4 + dy + y) * 16 + column * 4 + dx + (flip ? 4 - x : x))
                }
                if candidate == patch { found = true; if flip { flips += 1 } }
            } } }
            #expect(found, "patch \(cell) is not a crop of its patch")
        }
        #expect(flips > 0 && flips < 9)
    }

    @Test func colourDroppingAndGreyscale() {
        let set = numberedSet(height: 8, width: 8, channels: 3, count: 2)
        let grid = PatchGrid(patch: 4, stride: 4)
        for (augmentation, check) in [
            (PatchAugmentation(colourDrop: 1), { (pixel: ArraySlice<Float>) in pixel.filter { $0 == 0 }.count >= 2 }),
            (PatchAugmentation(greyscale: 1), { (pixel: ArraySlice<Float>) in pixel.allSatisfy { $0 == pixel.first! } }),
        ] {
            let sampler = PatchBatchSampler(set: set, extractor: PatchExtractor(grid: grid, augmentation: augmentation), batchSize: 2, seed: 1)
            let p = sampler.batch(0).inputs.scalars
            for i in stride(from: 0, to: p.count, by: 3) { #expect(check(p[i..<(i + 3)])) }
            // Without augmentation (validation) the colours are kept.
            let plain = sampler.batch(0, augment: false).inputs.scalars
            #expect(plain != p)
        }
    }

    @Test func intensityJitterIsPerPatchBrightnessThenContrast() {
        // A grey ramp inside [0.2, 0.8] so that nothing clamps: every jittered patch is an affine map of its plain
        // patch, v' = a·v + b in [0, 1] terms, with a = gain·stretch in 1 ± the ranges; patches draw different maps.
        let pixels: [UInt8] = (0..<128).map { (i: Int) -> UInt8 in UInt8(51 + 2 * (i % 64)) }
        let set = ImageSet(height: 8, width: 8, channels: 1, pixels: pixels, labels: [0, 0], classNames: ["x"], sources: ["a", "b"])
        let augmentation = PatchAugmentation(jitter: 1, brightness: 0.3, contrast: 0.2)
        let sampler = PatchBatchSampler(set: set, extractor: PatchExtractor(grid: PatchGrid(patch: 4, stride: 4), augmentation: augmentation),
                                        batchSize: 2, seed: 5)
        let jittered = sampler.batch(0).inputs.scalars.map { ($0 + 1) / 2 }
        let plain = sampler.batch(0, augment: false).inputs.scalars.map { ($0 + 1) / 2 }
        var slopes: [Float] = []
        for patch in 0..<(jittered.count / 16) {
            let range = (patch * 16)..<(patch * 16 + 16)
            let (x, y) = (Array(plain[range]), Array(jittered[range]))
            let slope = (y[15] - y[0]) / (x[15] - x[0])
            let offset = y[0] - slope * x[0]
            for i in 0..<16 { #expect(abs(y[i] - (slope * x[i] + offset)) < 1e-5) }
            let (lowest, highest): (Float, Float) = (0.7 * 0.8, 1.3 * 1.2)
            #expect(slope > lowest - 1e-5 && slope < highest + 1e-5)
            // Contrast keeps the (brightened) mean: the jittered mean is the plain mean × the brightness factor.
            let gain = y.reduce(0, +) / x.reduce(0, +)
            #expect(gain > 0.7 - 1e-4 && gain < 1.3 + 1e-4)
            slopes.append(slope)
        }
        #expect(Set(slopes).count == slopes.count)
    }
}
