// Labelled image sets: the IDX files of (Fashion-)MNIST, or folder-per-class trees of PNG/JPEG files.
//
// Glossary: N images, H height, W width, C channels. All images of a set share one size.

import Foundation

/// Which part of a corpus.
public enum ImageSplit: String, Sendable, Codable, CaseIterable { case train, test }

/// N labelled images of one size, 8-bit pixels `[N, H, W, C]` in one array.
public struct ImageSet: Sendable {
    public let height: Int, width: Int, channels: Int
    public let pixels: [UInt8]
    public let labels: [Int]
    public let classNames: [String]
    /// Where each image came from (a file path, or "FILE#i" for IDX records).
    public let sources: [String]

    public var count: Int { labels.count }
    public var pixelsPerImage: Int { height * width * channels }

    public init(height: Int, width: Int, channels: Int, pixels: [UInt8], labels: [Int], classNames: [String], sources: [String]) {
        precondition(pixels.count == labels.count * height * width * channels && sources.count == labels.count,
                     "image set arrays disagree")
        (self.height, self.width, self.channels) = (height, width, channels)
        (self.pixels, self.labels, self.classNames, self.sources) = (pixels, labels, classNames, sources)
    }

    /// Image `i`.
    public func image(_ i: Int) -> Image {
        let n = pixelsPerImage
        return Image(height: height, width: width, channels: channels, pixels: Array(pixels[i * n..<(i + 1) * n]))
    }

    /// The first `limit` images (all when nil or larger).
    public func prefix(_ limit: Int?) -> ImageSet {
        guard let limit, limit < count else { return self }
        return ImageSet(height: height, width: width, channels: channels, pixels: Array(pixels[0..<limit * pixelsPerImage]),
                        labels: Array(labels[0..<limit]), classNames: classNames, sources: Array(sources[0..<limit]))
    }
}

public enum ImageCorpus {
    /// Fashion-MNIST's class names, in label order (Xiao et al. 2017).
    public static let fashionClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                        "Sneaker", "Bag", "Ankle boot"]
    /// Where Debian's `dataset-fashion-mnist` installs the files.
    public static let fashionMNISTPath = "/usr/share/datasets/fashion-mnist"

    /// Loads a split of the corpus at `path`, which is one of:
    /// - a folder with `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]` and the `t10k-` pair;
    /// - a folder with `train/` and `test/`, each holding one folder per class;
    /// - a folder of class folders only: every fifth image of each class (in name order) is the test split.
    public static func load(_ path: String, split: ImageSplit) throws -> ImageSet {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ImageError(path: path, problem: "not a folder (expected IDX files, train/ and test/ folders, or one folder per class)")
        }
        let prefix = split == .train ? "train" : "t10k"
        for suffix in ["", ".gz"] {
            let images = "\(path)/\(prefix)-images-idx3-ubyte\(suffix)", labels = "\(path)/\(prefix)-labels-idx1-ubyte\(suffix)"
            if fileManager.fileExists(atPath: images) { return try loadIDX(images: images, labels: labels) }
        }
        let splitFolder = "\(path)/\(split.rawValue)"
        if fileManager.fileExists(atPath: splitFolder, isDirectory: &isDirectory), isDirectory.boolValue {
            return try loadFolders(splitFolder, keep: { _ in true })
        }
        return try loadFolders(path, keep: { index in (index % 5 == 4) == (split == .test) })
    }

    /// An IDX image file `[N, H, W]` and its label file `[N]`.
    public static func loadIDX(images: String, labels: String) throws -> ImageSet {
        let (shape, pixels) = try IDXReader.read(images)
        guard shape.count == 3 || (shape.count == 4 && [1, 3].contains(shape[3])) else {
            throw ImageError(path: images, problem: "expected IDX images [N, H, W] or [N, H, W, C], found shape \(shape)")
        }
        guard shape[0] > 0, shape[1] > 0, shape[2] > 0 else {
            throw ImageError(path: images, problem: "holds no images to use: shape \(shape) (N images of H × W pixels must all be positive)")
        }
        let (labelShape, labelBytes) = try IDXReader.read(labels)
        guard labelShape.count == 1, labelShape[0] == shape[0] else {
            throw ImageError(path: labels, problem: "expected \(shape[0]) labels (one per image of \(images)), found shape \(labelShape)")
        }
        let labelValues = labelBytes.map(Int.init)
        let classes = (labelValues.max() ?? 0) + 1
        let names = classes <= 10 && images.contains("fashion") ? Array(fashionClasses.prefix(classes)) : (0..<classes).map(String.init)
        return ImageSet(height: shape[1], width: shape[2], channels: shape.count == 4 ? shape[3] : 1, pixels: pixels,
                        labels: labelValues, classNames: names, sources: (0..<shape[0]).map { "\(images)#\($0)" })
    }

    /// Every image under `root/<class>/`, classes in name order; `keep` picks by position within its class.
    static func loadFolders(_ root: String, keep: (Int) -> Bool) throws -> ImageSet {
        let fileManager = FileManager.default
        let classes = try fileManager.contentsOfDirectory(atPath: root).filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && fileManager.fileExists(atPath: "\(root)/\(name)", isDirectory: &isDirectory) && isDirectory.boolValue
        }.sorted()
        guard !classes.isEmpty else {
            throw ImageError(path: root, problem: "no class folders and no IDX files (expected <class>/<image>.png or train-images-idx3-ubyte)")
        }
        var pixels: [UInt8] = [], labels: [Int] = [], sources: [String] = []
        var size: (h: Int, w: Int, c: Int, from: String)?
        for (label, name) in classes.enumerated() {
            let files = try fileManager.contentsOfDirectory(atPath: "\(root)/\(name)")
                .filter { ImageDecoder.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            for (index, file) in files.enumerated() where keep(index) {
                let path = "\(root)/\(name)/\(file)"
                let image = try ImageDecoder.decode(path)
                if let size, (size.h, size.w, size.c) != (image.height, image.width, image.channels) {
                    throw ImageError(path: path, problem: "is \(image.height)×\(image.width)×\(image.channels) but \(size.from) is "
                        + "\(size.h)×\(size.w)×\(size.c); all images of a corpus must have one size")
                }
                if size == nil { size = (image.height, image.width, image.channels, path) }
                pixels.append(contentsOf: image.pixels)
                labels.append(label)
                sources.append(path)
            }
        }
        guard let size else { throw ImageError(path: root, problem: "no PNG or JPEG images in the class folders") }
        return ImageSet(height: size.h, width: size.w, channels: size.c, pixels: pixels, labels: labels, classNames: classes, sources: sources)
    }
}
