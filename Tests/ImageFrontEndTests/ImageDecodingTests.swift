// Image decoding against the pixels Pillow wrote (Tests/Fixtures/images, made by make_image_fixtures.py), broken
// files, the IDX reader (plain and gzipped) and labelled corpora from IDX files and class folders.

import CZlib
import Foundation
import ImageFrontEnd
import Testing
import TestSupport

let imageFixtures = repositoryRoot.appendingPathComponent("Tests/Fixtures/images").path

func makeFolder(_ name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-\(name)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// An unsigned-byte IDX file of `shape` and `bytes`, gzipped when the path ends in .gz.
func writeIDX(_ path: String, shape: [Int], bytes: [UInt8]) {
    var data: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
    for d in shape { data += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
    data += bytes
    if path.hasSuffix(".gz") {
        let file = gzopen(path, "wb")
        _ = gzwrite(file, data, UInt32(data.count))
        gzclose(file)
    } else {
        FileManager.default.createFile(atPath: path, contents: Data(data))
    }
}

@Suite struct ImageDecodingTests {
    let expected: [String: [String: [Int]]] = {
        let data = FileManager.default.contents(atPath: imageFixtures + "/images.json")!
        return try! JSONSerialization.jsonObject(with: data) as! [String: [String: [Int]]]
    }()

    @Test(arguments: ["grey.png", "rgb.png", "rgba.png", "palette.png", "grey16.png", "grey.jpg", "rgb.jpg"])
    func decodesLikePillow(_ name: String) throws {
        let image = try ImageDecoder.decode(imageFixtures + "/" + name)
        let entry = expected[name]!
        #expect([image.height, image.width, image.channels] == entry["shape"]!)
        let tolerance = name.hasSuffix(".jpg") ? 2 : 0
        let worst = zip(image.pixels, entry["pixels"]!).map { abs(Int($0) - $1) }.max() ?? 0
        #expect(worst <= tolerance, "\(name): pixels differ by up to \(worst)")
    }

    @Test(arguments: [("truncated.png", "libpng"), ("truncated.jpg", "JPEG"), ("text.png", "not a PNG or JPEG"),
                      ("empty.png", "empty"), ("missing.png", "no such file")])
    func brokenFilesNameTheFileAndTheReason(_ name: String, _ reason: String) {
        let path = imageFixtures + "/" + name
        do {
            _ = try ImageDecoder.decode(path)
            Issue.record("\(name) decoded")
        } catch let error as ImageError {
            #expect(error.path == path)
            #expect(error.description.contains(reason), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(arguments: ["images.idx", "images.idx.gz"])
    func readsIDX(_ name: String) throws {
        let folder = try makeFolder("idx")
        let bytes = (0..<24).map { UInt8($0 * 10) }
        writeIDX(folder + "/" + name, shape: [2, 3, 4], bytes: bytes)
        let (shape, data) = try IDXReader.read(folder + "/" + name)
        #expect(shape == [2, 3, 4])
        #expect(data == bytes)
    }

    @Test func rejectsBadIDX() throws {
        let folder = try makeFolder("idx-bad")
        writeIDX(folder + "/short.idx", shape: [2, 3], bytes: [1, 2, 3])
        #expect(throws: ImageError.self) { try IDXReader.read(folder + "/short.idx") }
        FileManager.default.createFile(atPath: folder + "/float.idx", contents: Data([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]))
        do {
            _ = try IDXReader.read(folder + "/float.idx")
            Issue.record("a float IDX file was accepted")
        } catch let error as ImageError {
            #expect(error.description.contains("0x0d"), "\(error)")
        }
            // A header claiming 2^32 − 1 images of 2^32 − 1 rows: refused from the file's length, nothing allocated.
        writeIDX(folder + "/huge.idx", shape: [0xFFFF_FFFF, 0xFFFF_FFFF, 28], bytes: [1, 2, 3])
        #expect { try IDXReader.read(folder + "/huge.idx") } throws: { "\($0)".contains("needs more bytes than the file") }
    }

    @Test func idxSetsWithoutImagesOrPixelsAreRefused() throws {
        for (name, shape) in [("none", [0, 28, 28]), ("flat", [4, 0, 0])] {
            let folder = try makeFolder("idx-\(name)")
            writeIDX(folder + "/train-images-idx3-ubyte", shape: shape, bytes: [])
            writeIDX(folder + "/train-labels-idx1-ubyte", shape: [shape[0]], bytes: [UInt8](repeating: 0, count: shape[0]))
            #expect { try ImageCorpus.load(folder, split: .train) } throws: { "\($0)".contains("holds no images to use") }
        }
    }

    @Test func loadsAnIDXCorpusWithBothSplits() throws {
        let folder = try makeFolder("idx-corpus")
        writeIDX(folder + "/train-images-idx3-ubyte.gz", shape: [3, 2, 2], bytes: Array(0..<12))
        writeIDX(folder + "/train-labels-idx1-ubyte.gz", shape: [3], bytes: [2, 0, 1])
        writeIDX(folder + "/t10k-images-idx3-ubyte", shape: [1, 2, 2], bytes: [9, 9, 9, 9])
        writeIDX(folder + "/t10k-labels-idx1-ubyte", shape: [1], bytes: [1])
        let train = try ImageCorpus.load(folder, split: .train)
        #expect(train.count == 3 && train.labels == [2, 0, 1] && train.height == 2 && train.channels == 1)
        #expect(train.image(1).pixels == [4, 5, 6, 7])
        let test = try ImageCorpus.load(folder, split: .test)
        #expect(test.count == 1 && test.pixels == [9, 9, 9, 9])
        // Labels that do not match the images are an error naming the label file.
        writeIDX(folder + "/t10k-labels-idx1-ubyte", shape: [2], bytes: [1, 1])
        do {
            _ = try ImageCorpus.load(folder, split: .test)
            Issue.record("mismatched labels accepted")
        } catch let error as ImageError {
            #expect(error.path.hasSuffix("t10k-labels-idx1-ubyte"), "\(error)")
        }
    }

    @Test func loadsClassFoldersAndSplitsEveryFifthImageToTest() throws {
        let root = try makeFolder("classes")
        for name in ["coat", "bag"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: true)
            for i in 0..<5 { try FileManager.default.copyItem(atPath: imageFixtures + "/grey.png", toPath: "\(root)/\(name)/\(i).png") }
        }
        let train = try ImageCorpus.load(root, split: .train), test = try ImageCorpus.load(root, split: .test)
        #expect(train.classNames == ["bag", "coat"])
        #expect(train.labels == [0, 0, 0, 0, 1, 1, 1, 1])
        #expect(test.labels == [0, 1])
        #expect(test.sources.map { ($0 as NSString).lastPathComponent } == ["4.png", "4.png"])
        // An image of another size is an error naming it.
        try FileManager.default.copyItem(atPath: imageFixtures + "/rgb.png", toPath: "\(root)/coat/5.png")
        do {
            _ = try ImageCorpus.load(root, split: .train)
            Issue.record("mixed sizes accepted")
        } catch let error as ImageError {
            #expect(error.path.hasSuffix("coat/5.png") && error.problem.contains("one size"), "\(error)")
        }
    }

    @Test func anEmptyFolderIsAnError() throws {
        let root = try makeFolder("empty")
        #expect(throws: ImageError.self) { try ImageCorpus.load(root, split: .train) }
        #expect(throws: ImageError.self) { try ImageCorpus.load(root + "/nope", split: .train) }
    }
}
