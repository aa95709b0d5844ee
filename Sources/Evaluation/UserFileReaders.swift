// Every reader of a file a user gives the engine, in one table: the fuzzer (`cpc-fuzz`) mutates seeds through it and
// the bad-input matrix test damages files through it. A reader must answer any bytes with either a value or an
// error naming the file — never a crash, a hang or an allocation sized by the file's claims.

import AudioFrontEnd
import Foundation
import ImageFrontEnd
import Layers
import TensorCore
import Training

/// One reader of a user's file: its name (also its seeds' folder under Tests/Fuzz/seeds), the file name it is
/// given (extensions matter to some readers), whether the format is text, and the call.
public struct UserFileReader: Sendable {
    public let name: String
    public let fileName: String
    public let isText: Bool
    public let read: @Sendable (String) throws -> Void

    public init(name: String, fileName: String, isText: Bool, read: @escaping @Sendable (String) throws -> Void) {
        (self.name, self.fileName, self.isText, self.read) = (name, fileName, isText, read)
    }

    /// The readers: checkpoints and their sidecars, features, images (IDX plain and gzipped, PNG, JPEG), audio (WAV,
    /// FLAC), phone labels, splits, manifests and run configs.
    public static let all: [UserFileReader] = [
        UserFileReader(name: "safetensors", fileName: "model.safetensors", isText: false) { _ = try SafeTensors.read($0) },
        UserFileReader(name: "sidecar", fileName: "model.json", isText: true) { path in
            _ = try Checkpoint.readSidecar(for: String(path.dropLast(5)) + ".safetensors")
        },
        UserFileReader(name: "npy", fileName: "features.npy", isText: false) { _ = try NPYReader.read($0) },
        UserFileReader(name: "idx", fileName: "images-idx3-ubyte", isText: false) { _ = try IDXReader.read($0) },
        UserFileReader(name: "idx.gz", fileName: "images-idx3-ubyte.gz", isText: false) { _ = try IDXReader.read($0) },
        UserFileReader(name: "png", fileName: "image.png", isText: false) { _ = try ImageDecoder.decode($0) },
        UserFileReader(name: "jpeg", fileName: "image.jpg", isText: false) { _ = try ImageDecoder.decode($0) },
        UserFileReader(name: "wav", fileName: "audio.wav", isText: false) { _ = try AudioDecoder.decode($0); _ = try AudioDecoder.info($0) },
        UserFileReader(name: "flac", fileName: "audio.flac", isText: false) { _ = try AudioDecoder.decode($0); _ = try AudioDecoder.info($0) },
        UserFileReader(name: "labels", fileName: "phones.txt", isText: true) { _ = try PhoneLabels.read($0) },
        UserFileReader(name: "split", fileName: "train.txt", isText: true) { _ = try SplitFile.read($0) },
        UserFileReader(name: "manifest", fileName: "manifest.tsv", isText: true) { _ = try Corpus.load($0) },
        UserFileReader(name: "config", fileName: "config.yaml", isText: true) { _ = try RunConfig.load($0) },
    ]

    /// The seed files of this reader under `root` (`idx.gz` shares `idx`'s folder and takes its `.gz` files).
    public func seeds(root: String) throws -> [[UInt8]] {
        let folder = root + "/" + (name == "idx.gz" ? "idx" : name)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
            .filter { name == "idx.gz" ? $0.hasSuffix(".gz") : (name == "idx" ? !$0.hasSuffix(".gz") : true) }
        return try names.map { [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0))) }
    }
}
