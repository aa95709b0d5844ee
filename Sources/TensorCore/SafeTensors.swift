// The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header mapping each tensor's
// name to its dtype, shape and byte range, then the raw little-endian data. PyTorch reads and writes it with
// `safetensors.torch.load_file` / `save_file`.

import Foundation

/// The element types read from safetensors files (all are converted to Float32 on reading).
public enum SafeTensorsDType: String, Sendable {
    case f32 = "F32", f64 = "F64", f16 = "F16", bf16 = "BF16", i64 = "I64", i32 = "I32", u8 = "U8", bool = "BOOL"

    var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .u8, .bool: return 1
        }
    }
}

/// One entry of a safetensors header.
public struct SafeTensorsEntry: Sendable {
    /// The tensor's name (a PyTorch state-dict key).
    public let name: String
    /// The element type stored.
    public let dtype: SafeTensorsDType
    /// The tensor's shape.
    public let shape: [Int]
    /// Where its bytes lie in the data section (after the header).
    public let byteRange: Range<Int>
}

/// Reading and writing safetensors files.
public enum SafeTensors {
    /// Writes `tensors` (in the given order) with string `metadata`, atomically: to a temporary file in the same folder,
    /// flushed, then renamed over `path`, so that an interrupted write never leaves a half-written file.
    /// Names listed in `integerNames` are stored as I64 (PyTorch's `num_batches_tracked`).
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to path: String,
                             integerNames: Set<String> = []) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var seen = Set<String>()
        for (name, tensor) in tensors {
            guard seen.insert(name).inserted else {
                throw SafeTensorsError(path: path, problem: "tensor name '\(name)' appears twice")
            }
            let isInteger = integerNames.contains(name)
            let size = tensor.count * (isInteger ? 8 : 4)
            header[name] = ["dtype": isInteger ? "I64" : "F32", "shape": tensor.shape, "data_offsets": [offset, offset + size]]
            offset += size
        }
        var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so that the data starts 8-byte aligned, as the reference writer does.
        while (8 + headerData.count) % 8 != 0 { headerData.append(0x20) }
        var file = Data(capacity: 8 + headerData.count + offset)
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(headerData)
        for (name, tensor) in tensors {
            if integerNames.contains(name) {
                for value in tensor.scalars { withUnsafeBytes(of: Int64(value).littleEndian) { file.append(contentsOf: $0) } }
            } else {
                tensor.withUnsafeBufferPointer { file.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
            }
        }
        try writeAtomically(file, to: path)
    }

    /// Writes `data` to a temporary file beside `path`, flushes it to disk, and renames it over `path`.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: try replaceableTarget(path))
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw SafeTensorsError(path: path, problem: "cannot create \(temporary.path) (folder missing or not writable)")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            if rename(temporary.path, url.path) != 0 {
                throw SafeTensorsError(path: path, problem: "cannot rename the temporary file into place (errno \(errno))")
            }
        } catch let error as SafeTensorsError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw SafeTensorsError(path: path, problem: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Throws the error `writeAtomically` would throw for `path` (a directory, device, pipe or socket there): a command
    /// checks its outputs with it before hours of work rather than after.
    public static func requireReplaceable(_ path: String) throws { _ = try replaceableTarget(path) }

    /// The file `writeAtomically` may replace for `path`: `path` itself when it is absent or a regular file, the
    /// file a symbolic link points to (so the link survives), and an error for anything else — a directory, a
    /// device, a pipe or a socket is never renamed over (as root, `--out /dev/null` would replace the device).
    static func replaceableTarget(_ path: String) throws -> String {
        var status = stat()
        guard lstat(path, &status) == 0 else { return path }  // absent: created
        var target = path
        if status.st_mode & S_IFMT == S_IFLNK {
            guard let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else { return path }
            target = resolved.hasPrefix("/") ? resolved : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(resolved).path
            guard stat(target, &status) == 0 else { return target }  // a dangling link: its target is created
        }
        let kind: String
        switch status.st_mode & S_IFMT {
        case S_IFREG: return target
        case S_IFDIR: kind = "a directory"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        case S_IFIFO: kind = "a named pipe"
        case S_IFSOCK: kind = "a socket"
        default: kind = "not a regular file"
        }
        throw SafeTensorsError(path: path, problem: "exists and is \(kind); refusing to replace it with a file (choose another path)")
    }

    /// Reads the header of a safetensors file: entries in file order, and the metadata.
    public static func readHeader(_ path: String) throws -> (entries: [SafeTensorsEntry], metadata: [String: String]) {
        let data = try readFile(path)
        return try parseHeader(data, path: path).0
    }

    /// Reads every tensor (converted to Float32), in file order, and the metadata.
    public static func read(_ path: String) throws -> (tensors: [(String, Tensor)], metadata: [String: String]) {
        let data = try readFile(path)
        let ((entries, metadata), dataStart) = try parseHeader(data, path: path)
        var tensors: [(String, Tensor)] = []
        data.withUnsafeBytes { raw in
            for entry in entries {
                let base = raw.baseAddress! + dataStart + entry.byteRange.lowerBound
                let count = Tensor.elementCount(entry.shape)
                let tensor = Tensor.uninitialized(entry.shape)
                let out = tensor.storage.pointer
                for i in 0..<count {
                    let p = base + i * entry.dtype.byteSize
                    switch entry.dtype {
                    case .f32: out[i] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
                    case .f64: out[i] = Float(Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))))
                    case .f16: out[i] = Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))))
                    case .bf16: out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))) << 16)
                    case .i64: out[i] = Float(Int64(littleEndian: p.loadUnaligned(as: Int64.self)))
                    case .i32: out[i] = Float(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
                    case .u8, .bool: out[i] = Float(p.load(as: UInt8.self))
                    }
                }
                tensors.append((entry.name, tensor))
            }
        }
        return (tensors, metadata)
    }

    private static func readFile(_ path: String) throws -> Data {
        try SafeTensorsError.contents(of: path, mapped: true)
    }

    private static func parseHeader(_ data: Data, path: String) throws
        -> ((entries: [SafeTensorsEntry], metadata: [String: String]), Int) {
        guard data.count >= 8 else {
            throw SafeTensorsError(path: path, problem: "file is \(data.count) bytes, too short for the 8-byte header length (truncated or not safetensors)")
        }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(data.count - 8), headerLength <= 100_000_000 else {
            throw SafeTensorsError(path: path, problem: "header length \(headerLength) exceeds the file size \(data.count) (truncated or not safetensors)")
        }
        let dataStart = 8 + Int(headerLength)
        let headerBytes = data.subdata(in: 8..<dataStart)
        guard let object = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw SafeTensorsError(path: path, problem: "header is not a JSON object (corrupt or not safetensors)")
        }
        var metadata: [String: String] = [:]
        var entries: [SafeTensorsEntry] = []
        let available = data.count - dataStart
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else {
                    throw SafeTensorsError(path: path, problem: "__metadata__ must map strings to strings")
                }
                metadata = m
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw SafeTensorsError(path: path, problem: "tensor '\(name)': expected dtype, shape and data_offsets")
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw SafeTensorsError(path: path, problem: "tensor '\(name)': unsupported dtype \(dtypeName)")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw SafeTensorsError(path: path, problem: "tensor '\(name)': invalid shape \(shape) or offsets \(offsets)")
            }
            guard shape.count <= 16, let count = Tensor.checkedElementCount(shape, limit: available / dtype.byteSize) else {
                throw SafeTensorsError(path: path, problem: "tensor '\(name)': shape \(shape) needs more than the \(available) bytes "
                    + "that follow the header")
            }
            let expected = count * dtype.byteSize
            guard offsets[1] - offsets[0] == expected else {
                throw SafeTensorsError(path: path, problem: "tensor '\(name)': \(offsets[1] - offsets[0]) bytes for shape \(shape) of \(dtypeName), expected \(expected)")
            }
            guard offsets[1] <= available else {
                throw SafeTensorsError(path: path, problem: "tensor '\(name)': data ends at byte \(offsets[1]) but only \(available) bytes follow the header (truncated file)")
            }
            entries.append(SafeTensorsEntry(name: name, dtype: dtype, shape: shape, byteRange: offsets[0]..<offsets[1]))
        }
        entries.sort { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (previous, next) in zip(entries, entries.dropFirst()) where previous.byteRange.upperBound > next.byteRange.lowerBound {
            throw SafeTensorsError(path: path, problem: "tensors '\(previous.name)' and '\(next.name)' overlap")
        }
        return ((entries, metadata), dataStart)
    }
}
