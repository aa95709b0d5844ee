// `cpc probe image --pool mean,grid` extracts once: the mean-pooled rows it derives from the grid must equal what the
// model's own mean pooling gives, and only image CPC has a grid.

import Evaluation
import Foundation
import ImageFrontEnd
import Methods
import Testing
import TensorCore
import TestSupport
import Training

@Suite struct GridPoolingTests {
    /// Four random 28×28 grey images.
    static func images() -> ImageSet {
        var g = RandomGenerator(seed: 3)
        let pixels = (0..<(4 * 28 * 28)).map { _ in UInt8(g.nextInt(below: 256)) }
        return ImageSet(height: 28, width: 28, channels: 1, pixels: pixels, labels: [0, 1, 2, 3], classNames: ["a", "b", "c", "d"],
                        sources: (0..<4).map { "image\($0)" })
    }

    @Test func meanOfTheGridIsTheModelsMeanPooling() throws {
        let set = Self.images()
        let config = try RunConfig.load(repositoryRoot.appendingPathComponent("configs/cpc-image-fashion.yaml").path)
        let extractor = try MethodImageFeatures.random(config: config, like: set)
        let pooled = extractor.features(of: set)
        let cells = try #require(extractor.gridCells(like: set))
        #expect(cells == 36, "8-pixel patches at stride 4 on a 7-pixel-cropped 28×28 image make a 6×6 grid")
        extractor.request = .grid
        let grid = extractor.features(of: set)
        #expect(grid.shape == [4, cells * pooled.shape[1]])
        let derived = GridPooling.mean(grid, cells: cells)
        #expect(derived.shape == pooled.shape)
        let scale = pooled.scalars.map(abs).max() ?? 0
        let error = zip(derived.scalars, pooled.scalars).map { abs($0 - $1) }.max() ?? .infinity
        #expect(scale > 0 && error <= 1e-6 * scale, "largest difference \(error) of \(scale)")
        #expect(GridPooling.mean(grid, cells: 1).scalars == grid.scalars)
    }

    @Test func pairMethodsHaveNoGrid() throws {
        let set = Self.images()
        let config = try RunConfig.load(repositoryRoot.appendingPathComponent("configs/simclr-fashion.yaml").path)
        #expect(try MethodImageFeatures.random(config: config, like: set).gridCells(like: set) == nil)
    }
}
