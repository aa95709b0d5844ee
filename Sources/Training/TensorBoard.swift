// TensorBoard event files: the trainer's scalars in the tfevents format, so that `tensorboard --logdir runs/` shows
// the curves beside log.jsonl.
//
// A file is a sequence of TFRecords — uint64 length (little-endian), uint32 masked CRC-32C of those 8 bytes, the
// payload, uint32 masked CRC-32C of the payload — each payload a serialised `tensorflow.Event` protobuf. The few
// messages needed are encoded here by hand (field numbers from tensorflow/core/util/event.proto and summary.proto):
//   Event:   wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5, session_log = 7
//   Summary: value = 1 (repeated) → Value: tag = 1 (string), simple_value = 2 (float)
//   SessionLog: status = 1 (enum; START = 1)
// Plain fields at their default value are left out and oneof members always written, as proto3 serialisers do, so the
// bytes match TensorBoard's own writer.

import Foundation
import TensorCore

/// The framing and checksums of TFRecord files.
public enum TFRecord {
    /// The CRC-32C (Castagnoli) lookup table, reflected polynomial 0x82F63B78.
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// CRC-32C of `bytes`.
    public static func crc32c<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked CRC: rotate right by 15 and add a constant (so that a CRC of data holding CRCs stays strong).
    public static func maskedCRC32C<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        let crc = crc32c(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// One record around `payload`.
    public static func frame(_ payload: Data) -> Data {
        var record = Data()
        let length = withUnsafeBytes(of: UInt64(payload.count).littleEndian) { Data($0) }
        record.append(length)
        withUnsafeBytes(of: maskedCRC32C(length).littleEndian) { record.append(contentsOf: $0) }
        record.append(payload)
        withUnsafeBytes(of: maskedCRC32C(payload).littleEndian) { record.append(contentsOf: $0) }
        return record
    }
}

/// The `tensorflow.Event` messages the trainer writes, serialised.
public enum TensorBoardEvent {
    /// The first event of every file: the format version.
    public static func fileVersion(wallTime: Double) -> Data {
        var event = Protobuf()
        event.double(1, wallTime)
        event.string(3, "brain.Event:2")
        return event.bytes
    }

    /// Scalars at one step, as simple values (what TensorBoard's scalar dashboard reads, in tag order).
    public static func scalars(_ values: [(tag: String, value: Float)], step: Int, wallTime: Double) -> Data {
        var summary = Protobuf()
        for (tag, value) in values {
            var entry = Protobuf()
            entry.string(1, tag)
            entry.float(2, value)
            summary.message(1, entry)
        }
        var event = Protobuf()
        event.double(1, wallTime)
        event.varint(2, UInt64(bitPattern: Int64(step)))
        event.message(5, summary)
        return event.bytes
    }

    /// SessionLog START at `step`: TensorBoard then hides every event of the run with a step ≥ `step` written
    /// before it (what a resumed run writes, so that steps logged after its checkpoint do not show twice).
    public static func sessionStart(step: Int, wallTime: Double) -> Data {
        var sessionLog = Protobuf()
        sessionLog.varint(1, 1)
        var event = Protobuf()
        event.double(1, wallTime)
        event.varint(2, UInt64(bitPattern: Int64(step)))
        event.message(7, sessionLog)
        return event.bytes
    }

    /// A protobuf message under construction (wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
    struct Protobuf {
        var bytes = Data()

        mutating func key(_ field: Int, _ wireType: UInt64) { appendVarint(UInt64(field) << 3 | wireType) }

        mutating func appendVarint(_ value: UInt64) {
            var v = value
            while v >= 0x80 {
                bytes.append(UInt8(v & 0x7F) | 0x80)
                v >>= 7
            }
            bytes.append(UInt8(v))
        }

        mutating func varint(_ field: Int, _ value: UInt64) {
            guard value != 0 else { return }
            key(field, 0)
            appendVarint(value)
        }

        mutating func double(_ field: Int, _ value: Double) {
            guard value != 0 else { return }
            key(field, 1)
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }

        /// Written even at 0: `simple_value` is a member of a oneof, which has presence.
        mutating func float(_ field: Int, _ value: Float) {
            key(field, 5)
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }

        mutating func lengthDelimited(_ field: Int, _ data: Data) {
            key(field, 2)
            appendVarint(UInt64(data.count))
            bytes.append(data)
        }

        mutating func string(_ field: Int, _ value: String) {
            guard !value.isEmpty else { return }
            lengthDelimited(field, Data(value.utf8))
        }

        mutating func message(_ field: Int, _ message: Protobuf) { lengthDelimited(field, message.bytes) }
    }
}

/// Appends events to `events.out.tfevents.<seconds>.<host>.<pid>.<n>` in a run folder; each write goes to the file at once.
public final class TensorBoardWriter {
    public let path: String
    private let handle: FileHandle

    /// Starts a new event file in `folder`. `resumedAfter`: the step of the checkpoint a resumed run starts from
    /// (a START at the next step hides what the interrupted run logged after it).
    public init(folder: URL, resumedAfter step: Int?) throws {
        let now = Date().timeIntervalSince1970
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        // TensorBoard reads a folder's files in name order: seconds first, then a counter for runs within one second.
        let stem = String(format: "events.out.tfevents.%010d.%@.%d", Int(now), host, ProcessInfo.processInfo.processIdentifier)
        var index = 0
        while FileManager.default.fileExists(atPath: folder.appendingPathComponent(String(format: "%@.%03d", stem, index)).path) { index += 1 }
        path = folder.appendingPathComponent(String(format: "%@.%03d", stem, index)).path
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw TrainingError(message: "\(path): cannot create the TensorBoard event file (folder missing or not writable); "
                + "set training.tensorboard: false to train without it")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try write(TensorBoardEvent.fileVersion(wallTime: now))
        if let step { try write(TensorBoardEvent.sessionStart(step: step + 1, wallTime: now)) }
    }

    deinit { try? handle.close() }

    /// The event files in `folder`, in the order TensorBoard reads them.
    public static func eventFiles(in folder: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix("events.out.tfevents.") }.sorted().map { folder.appendingPathComponent($0) }
    }

    /// Writes one serialised event as a record.
    public func write(_ event: Data) throws { try handle.write(contentsOf: TFRecord.frame(event)) }

    /// Writes `scalars` (sorted by tag) at `step`.
    public func add(scalars: [String: Double], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        let values = scalars.keys.sorted().map { (tag: $0, value: Float(scalars[$0]!)) }
        try write(TensorBoardEvent.scalars(values, step: step, wallTime: wallTime))
    }
}
