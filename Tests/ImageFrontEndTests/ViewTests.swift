// Augmented views: each op against its definition (torchvision's), the crop box's rules, shapes and ranges, and
// determinism per (seed, batch).

import Foundation
import ImageFrontEnd
import Testing
import TensorCore

private func ramp(_ h: Int, _ w: Int, _ c: Int) -> [Float] { (0..<(h * w * c)).map { Float($0 % 251) / 250 } }

private func imageSet(count: Int, side: Int, channels: Int) -> ImageSet {
    var g = RandomGenerator(seed: 3)
    return ImageSet(height: side, width: side, channels: channels,
                    pixels: (0..<(count * side * side * channels)).map { _ in UInt8(g.nextInt(below: 256)) },
                    labels: (0..<count).map { $0 % 3 }, classNames: ["a", "b", "c"], sources: (0..<count).map { "x\($0)" })
}

@Suite struct ViewTests {
    @Test func cropBoxFollowsScaleRatioAndFallsBackToTheCentre() {
        var v = ViewAugmentation()
        var g = RandomGenerator(seed: 1)
        for _ in 0..<200 {
            let box = v.cropBox(height: 28, width: 28, generator: &g)
            #expect(box.top >= 0 && box.left >= 0 && box.top + box.height <= 28 && box.left + box.width <= 28)
            let area = Float(box.height * box.width) / 784
            #expect(area >= 0.05 && area <= 1.0)
        }
        v.scale = 1...1
        v.ratio = 1...1
        #expect(v.cropBox(height: 28, width: 28, generator: &g) == (0, 0, 28, 28))
        // No box of the whole area fits a 2:1 ratio in a square: the fallback is the centre crop clamped to the ratio.
        v.ratio = 2...2
        #expect(v.cropBox(height: 20, width: 20, generator: &g) == (5, 0, 10, 20))
    }

    @Test func bilinearResizeKeepsAnImageOfItsOwnSizeAndAveragesWhenHalving() {
        let image = ramp(6, 6, 2)
        #expect(ViewOps.resize(image, height: 6, width: 6, channels: 2, box: (0, 0, 6, 6), outputHeight: 6, outputWidth: 6) == image)
        // Halving with half-pixel centres averages each 2×2 block exactly.
        let grid: [Float] = (0..<16).map(Float.init)
        let half = ViewOps.resize(grid, height: 4, width: 4, channels: 1, box: (0, 0, 4, 4), outputHeight: 2, outputWidth: 2)
        #expect(half == [2.5, 4.5, 10.5, 12.5])
        // A crop box reads only inside the box.
        let corner = ViewOps.resize(grid, height: 4, width: 4, channels: 1, box: (2, 2, 2, 2), outputHeight: 2, outputWidth: 2)
        #expect(corner == [10, 11, 14, 15])
    }

    @Test func colourOpsFollowTheirDefinitions() {
        var rgb: [Float] = [0.2, 0.4, 0.6, 1.0, 0.5, 0.0]
        var grey = rgb
        ViewOps.greyscale(&grey, channels: 3)
        let l0 = 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6 as Float
        #expect(Swift.abs(grey[0] - l0) < 1e-6 && grey[0] == grey[1] && grey[1] == grey[2])
        var bright = rgb
        ViewOps.brightness(&bright, factor: 1.5)
        #expect(bright == [0.3, 0.6, 0.90000004, 1.0, 0.75, 0.0].map { min(1, $0) } || zip(bright, [0.3, 0.6, 0.9, 1, 0.75, 0]).allSatisfy { Swift.abs($0 - $1) < 1e-6 })
        var same = rgb
        ViewOps.saturation(&same, channels: 3, factor: 1)
        ViewOps.contrast(&same, channels: 3, factor: 1)
        ViewOps.hue(&same, channels: 3, shift: 0)
        #expect(zip(same, rgb).allSatisfy { Swift.abs($0 - $1) < 1e-6 })
        var noSaturation = rgb
        ViewOps.saturation(&noSaturation, channels: 3, factor: 0)
        #expect(Swift.abs(noSaturation[0] - l0) < 1e-6 && Swift.abs(noSaturation[2] - l0) < 1e-6)
        // A third of a turn maps pure red to pure green.
        var red: [Float] = [1, 0, 0]
        ViewOps.hue(&red, channels: 3, shift: 1.0 / 3.0)
        #expect(Swift.abs(red[0]) < 1e-5 && Swift.abs(red[1] - 1) < 1e-5 && Swift.abs(red[2]) < 1e-5)
        ViewOps.solarize(&rgb, threshold: 0.5)
        #expect(zip(rgb, [0.2, 0.4, 0.4, 0.0, 0.5, 0.0]).allSatisfy { Swift.abs($0 - $1) < 1e-6 })
        // One channel: saturation and hue leave it alone.
        var one: [Float] = [0.1, 0.9]
        ViewOps.saturation(&one, channels: 1, factor: 0)
        ViewOps.hue(&one, channels: 1, shift: 0.3)
        #expect(one == [0.1, 0.9])
    }

    @Test func blurKeepsAConstantImageAndSpreadsAnImpulseSymmetrically() {
        var flat = [Float](repeating: 0.7, count: 25)
        ViewOps.gaussianBlur(&flat, side: 5, channels: 1, sigma: 1, kernel: 3)
        #expect(flat.allSatisfy { Swift.abs($0 - 0.7) < 1e-6 })
        var impulse = [Float](repeating: 0, count: 25)
        impulse[12] = 1
        ViewOps.gaussianBlur(&impulse, side: 5, channels: 1, sigma: 1, kernel: 3)
        #expect(Swift.abs(impulse.reduce(0, +) - 1) < 1e-5 && impulse[11] == impulse[13] && impulse[7] == impulse[17] && impulse[12] > impulse[11])
        var flipped: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        ViewOps.flip(&flipped, side: 3, channels: 1)
        #expect(flipped == [3, 2, 1, 6, 5, 4, 9, 8, 7])
    }

    @Test func batchesHaveTheirViewsShapesAndRangeAndDependOnlyOnSeedAndIndex() {
        let set = imageSet(count: 10, side: 12, channels: 3)
        var local = ViewAugmentation()
        local.size = 6
        local.blur = 0.5
        local.solarize = 0.5
        let sampler = ViewBatchSampler(set: set, views: [ViewAugmentation(), ViewAugmentation(), local], batchSize: 4, seed: 7)
        let batch = sampler.batch(3)
        #expect(batch.views.map(\.shape) == [[4, 12, 12, 3], [4, 12, 12, 3], [4, 6, 6, 3]])
        #expect(batch.views.allSatisfy { $0.scalars.allSatisfy { $0 >= -1 && $0 <= 1 } })
        #expect(batch.items.count == 4 && batch.labels == batch.items.map { set.labels[$0] })
        #expect(batch.views[0].scalars != batch.views[1].scalars, "two views of one image differ")
        let again = ViewBatchSampler(set: set, views: sampler.views, batchSize: 4, seed: 7).batch(3)
        #expect(again.items == batch.items && zip(again.views, batch.views).allSatisfy { $0.scalars == $1.scalars })
        #expect(ViewBatchSampler(set: set, views: sampler.views, batchSize: 4, seed: 8).batch(3).views[0].scalars != batch.views[0].scalars)
        // Every image once per epoch: 10 images, batches of 4, the first 10 positions are a permutation.
        let positions = (0..<3).flatMap { sampler.plan(batch: $0) }
        #expect(Set(positions.prefix(10)).count == 10)
    }

    @Test func identityViewIsTheImageInMinusOneToOne() {
        let set = imageSet(count: 2, side: 5, channels: 1)
        let view = ViewBatchSampler.views(of: set, images: [1], augmentations: [.identity()], seed: 1, batch: 0)[0]
        let expected = ViewBatchSampler.evaluationImages(of: set, images: [1])
        #expect(zip(view.scalars, expected.scalars).allSatisfy { Swift.abs($0 - $1) < 1e-5 })
    }
}
