// Image decoding: PNG (libpng), JPEG (libjpeg-turbo) and the IDX files of (Fashion-)MNIST (optionally gzipped).
//
// Glossary: H height, W width, C channels (1 grey, 3 RGB); pixels are 8-bit, row-major `[H, W, C]`.

import CPNG
import CTurboJPEG
import CZlib
import Foundation
import TensorCore

/// A problem with an image file a user supplied: the file and what is wrong with it.
public typealias ImageError = FileProblem<ImageFile>
public enum ImageFile {}

/// One decoded image: 8-bit pixels, row-major `[H, W, C]`.
public struct Image: Sendable, Equatable {
    public let height: Int, width: Int, channels: Int
    public let pixels: [UInt8]

    public init(height: Int, width: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == height * width * channels, "pixel count does not match \(height)×\(width)×\(channels)")
        (self.height, self.width, self.channels, self.pixels) = (height, width, channels, pixels)
    }

    /// The pixel at row `y`, column `x`, channel `c`.
    public subscript(y: Int, x: Int, c: Int) -> UInt8 { pixels[(y * width + x) * channels + c] }
}

public enum ImageDecoder {
    /// The file extensions `decode` reads.
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// The most pixels an image may have (8192 × 8192): a header claiming more is refused before any allocation.
    public static let maximumPixels = 1 << 26

    /// Decodes a PNG or JPEG file (chosen by its first bytes, not its name) to 8-bit grey or RGB.
    public static func decode(_ path: String) throws -> Image {
        let data = try ImageError.contents(of: path, limit: 1 << 30)
        if data.isEmpty { throw ImageError(path: path, problem: "the file is empty") }
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try decodePNG(data, path: path) }
        if data.starts(with: [0xFF, 0xD8]) { return try decodeJPEG(data, path: path) }
        throw ImageError(path: path, problem: "not a PNG or JPEG file (its first bytes are neither signature)")
    }

    static func decodePNG(_ data: Data, path: String) throws -> Image {
        var width: Int32 = 0, height: Int32 = 0, channels: Int32 = 0
        var pixels: UnsafeMutablePointer<UInt8>?
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { bytes in
            swiftcpc_png_decode(bytes.bindMemory(to: UInt8.self).baseAddress, data.count, maximumPixels, &width, &height,
                                &channels, &pixels, &message, message.count)
        }
        guard status == 0, let pixels else {
            let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError(path: path, problem: "libpng could not decode it: \(reason)")
        }
        defer { free(pixels) }
        let count = Int(width) * Int(height) * Int(channels)
        return Image(height: Int(height), width: Int(width), channels: Int(channels),
                     pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    static func decodeJPEG(_ data: Data, path: String) throws -> Image {
        guard let handle = tjInitDecompress() else { throw ImageError(path: path, problem: "libjpeg-turbo failed to start") }
        defer { tjDestroy(handle) }
        func reason() -> String { String(cString: tjGetErrorStr2(handle)) }
        var bytes = [UInt8](data)
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, &bytes, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
            throw ImageError(path: path, problem: "libjpeg-turbo could not read the header: \(reason())")
        }
        guard width > 0, height > 0 else {
            throw ImageError(path: path, problem: "the JPEG header gives no image size (\(width) × \(height)): damaged or truncated")
        }
        guard Int(width) * Int(height) <= maximumPixels else {
            throw ImageError(path: path, problem: "the header claims \(width) × \(height) pixels, more than the \(maximumPixels) an image may have")
        }
        let grey = colorspace == Int32(TJCS_GRAY.rawValue)
        let channels = grey ? 1 : 3
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
        let format = grey ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        let status = tjDecompress2(handle, &bytes, UInt(bytes.count), &pixels, width, 0, height, format, 0)
        // A warning (e.g. a few missing bytes at the end) still decodes; a fatal error does not.
        if status != 0 && tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue) {
            throw ImageError(path: path, problem: "libjpeg-turbo could not decode it: \(reason())")
        }
        if status != 0 {
            throw ImageError(path: path, problem: "the JPEG data is damaged or truncated: \(reason())")
        }
        return Image(height: Int(height), width: Int(width), channels: channels, pixels: pixels)
    }
}

/// The IDX format of MNIST and Fashion-MNIST: magic (0, 0, type 0x08 = unsigned byte, rank), big-endian 32-bit
/// dimensions, then the data. Files ending in `.gz` are read through zlib.
public enum IDXReader {
    /// The dimensions and the bytes of an unsigned-byte IDX file.
    public static func read(_ path: String) throws -> (shape: [Int], bytes: [UInt8]) {
        let data = try contents(path)
        guard data.count >= 4 else { throw ImageError(path: path, problem: "too short for an IDX header (\(data.count) bytes)") }
        guard data[0] == 0, data[1] == 0 else {
            throw ImageError(path: path, problem: "not an IDX file (expected the magic to start with two zero bytes)")
        }
        guard data[2] == 0x08 else {
            throw ImageError(path: path, problem: String(format: "IDX element type 0x%02x is not supported (expected 0x08, unsigned byte)", data[2]))
        }
        let rank = Int(data[3])
        let headerLength = 4 + 4 * rank
        guard rank >= 1, data.count >= headerLength else {
            throw ImageError(path: path, problem: "IDX header of rank \(rank) is cut short")
        }
        var shape: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            shape.append(Int(data[o]) << 24 | Int(data[o + 1]) << 16 | Int(data[o + 2]) << 8 | Int(data[o + 3]))
        }
        // Checked: a header can claim 2^32 − 1 per dimension; nothing is allocated from it.
        var expected = 1
        for d in shape {
            let (product, overflow) = expected.multipliedReportingOverflow(by: d)
            guard !overflow, product <= data.count else {
                throw ImageError(path: path, problem: "IDX shape \(shape) needs more bytes than the file's \(data.count - headerLength) of data")
            }
            expected = product
        }
        guard data.count - headerLength == expected else {
            throw ImageError(path: path, problem: "IDX shape \(shape) needs \(expected) bytes of data, found \(data.count - headerLength)")
        }
        return (shape, Array(data[headerLength...]))
    }

    /// The most a gzipped IDX file may decompress to (a gzip bomb stops here, not at the kernel's OOM killer).
    public static let maximumDecompressedBytes = 4 << 30

    static func contents(_ path: String) throws -> [UInt8] {
        let raw = try ImageError.contents(of: path)
        if !path.hasSuffix(".gz") { return [UInt8](raw) }
        guard let file = gzopen(path, "rb") else { throw ImageError(path: path, problem: "zlib cannot open it") }
        defer { gzclose(file) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = gzread(file, &chunk, UInt32(chunk.count))
            if n < 0 {
                var code: Int32 = 0
                let message = String(cString: gzerror(file, &code))
                throw ImageError(path: path, problem: "gzip data is damaged: \(message)")
            }
            if n == 0 { break }
            if output.count + Int(n) > maximumDecompressedBytes {
                throw ImageError(path: path, problem: "decompresses to more than \(maximumDecompressedBytes >> 30) GiB; not an image file to load whole")
            }
            output.append(contentsOf: chunk[0..<Int(n)])
        }
        return output
    }
}
