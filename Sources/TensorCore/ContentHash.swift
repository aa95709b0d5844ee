// A fast 64-bit hash of file contents and strings, for cache keys that must change when the data change (not for
// security): eight bytes at a time, each word mixed in by a multiply and a shift (a multiply-xorshift in the
// style of wyhash and MurmurHash's finaliser), the tail and the length folded in at the end.

import Foundation

/// An incremental content hash: feed strings and files, read `value` (or `hex`).
public struct ContentHash: Sendable {
    /// The running state.
    public private(set) var value: UInt64 = 0x9E37_79B9_7F4A_7C15
    private var length: UInt64 = 0

    /// An empty hash.
    public init() {}

    private mutating func mix(_ word: UInt64) {
        var h = (value ^ word) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 31
        value = h &* 0x94D0_49BB_1331_11EB
    }

    /// Adds raw bytes.
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        let words = bytes.count / 8
        for i in 0..<words { mix(bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
        var tail: UInt64 = 0
        for i in (words * 8)..<bytes.count { tail = tail << 8 | UInt64(bytes[i]) }
        mix(tail ^ UInt64(bytes.count & 7) << 56)
        length &+= UInt64(bytes.count)
        mix(length)
    }

    /// Adds a string (its UTF-8 bytes, then a separator, so that "ab" + "c" differs from "a" + "bc").
    public mutating func add(_ text: String) {
        var copy = text
        copy.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    /// Adds the whole content of the file at `path` (read in 4 MiB blocks); throws when it cannot be read.
    public mutating func add(fileAt path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        while let block = try handle.read(upToCount: 4 << 20), !block.isEmpty {
            block.withUnsafeBytes { add($0) }
        }
        add("|eof")
    }

    /// The value as 16 hexadecimal digits.
    public var hex: String { String(format: "%016llx", value) }
}
