// TensorBoard event files (Training/TensorBoard.swift): an independent reader (its own bitwise CRC-32C and protobuf
// walk) checked on a file TensorBoard's Python writer made (Tests/Fixtures/generate_tensorboard.py); the encoder's
// bytes against that file; and the trainer's event files against its log.jsonl, fresh, resumed and switched off.

import Foundation
import Testing
import TestSupport
import Training

/// A decoded `tensorflow.Event`: the fields the trainer writes.
private struct DecodedEvent: Equatable {
    var wallTime = 0.0
    var step: Int64 = 0
    var fileVersion: String?
    var scalars: [(tag: String, value: Float)]?
    var sessionStatus: UInt64?

    static func == (a: DecodedEvent, b: DecodedEvent) -> Bool {
        a.wallTime == b.wallTime && a.step == b.step && a.fileVersion == b.fileVersion && a.sessionStatus == b.sessionStatus
            && a.scalars?.map(\.tag) == b.scalars?.map(\.tag) && a.scalars?.map(\.value) == b.scalars?.map(\.value)
    }
}

private struct ReaderError: Error, CustomStringConvertible { let description: String }

/// CRC-32C bit by bit (no table), then TFRecord's mask.
private func maskedCRC(_ bytes: Data) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0x82F6_3B78 : 0) }
    }
    crc = ~crc
    return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
}

/// The records of a TFRecord file, each checked against both of its CRCs.
private func readRecords(_ data: Data) throws -> [Data] {
    let bytes = [UInt8](data)
    func little<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
        (0..<MemoryLayout<T>.size).reduce(T(0)) { $0 | T(bytes[offset + $1]) << (8 * $1) }
    }
    var records: [Data] = [], offset = 0
    while offset < bytes.count {
        guard offset + 12 <= bytes.count else { throw ReaderError(description: "truncated header at \(offset)") }
        let length = Int(little(offset, UInt64.self))
        guard maskedCRC(Data(bytes[offset..<(offset + 8)])) == little(offset + 8, UInt32.self) else {
            throw ReaderError(description: "length CRC mismatch at \(offset)")
        }
        let start = offset + 12
        guard start + length + 4 <= bytes.count else { throw ReaderError(description: "truncated record at \(offset)") }
        let payload = Data(bytes[start..<(start + length)])
        guard maskedCRC(payload) == little(start + length, UInt32.self) else { throw ReaderError(description: "data CRC mismatch at \(offset)") }
        records.append(payload)
        offset = start + length + 4
    }
    return records
}

/// Protobuf fields in order: (field number, value) with varints as UInt64, fixed64/fixed32 as raw bits, bytes as Data.
private enum Field { case varint(UInt64), fixed64(UInt64), fixed32(UInt32), bytes(Data) }

private func fields(_ data: Data) throws -> [(Int, Field)] {
    let bytes = [UInt8](data)
    var offset = 0
    func varint() throws -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { throw ReaderError(description: "bad varint") }
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }
    func fixed(_ count: Int) throws -> UInt64 {
        guard offset + count <= bytes.count else { throw ReaderError(description: "truncated fixed field") }
        defer { offset += count }
        return (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
    var result: [(Int, Field)] = []
    while offset < bytes.count {
        let key = try varint()
        let (number, wireType) = (Int(key >> 3), key & 7)
        switch wireType {
        case 0: result.append((number, .varint(try varint())))
        case 1: result.append((number, .fixed64(try fixed(8))))
        case 5: result.append((number, .fixed32(UInt32(try fixed(4)))))
        case 2:
            let length = Int(try varint())
            guard offset + length <= bytes.count else { throw ReaderError(description: "truncated bytes field") }
            result.append((number, .bytes(Data(bytes[offset..<(offset + length)]))))
            offset += length
        default: throw ReaderError(description: "wire type \(wireType)")
        }
    }
    return result
}

private func decodeEvent(_ data: Data) throws -> DecodedEvent {
    var event = DecodedEvent()
    for (number, field) in try fields(data) {
        switch (number, field) {
        case (1, .fixed64(let bits)): event.wallTime = Double(bitPattern: bits)
        case (2, .varint(let value)): event.step = Int64(bitPattern: value)
        case (3, .bytes(let text)): event.fileVersion = String(decoding: text, as: UTF8.self)
        case (5, .bytes(let summary)):
            event.scalars = []
            for case (1, .bytes(let value)) in try fields(summary) {
                var tag = "", scalar: Float = .nan
                for (n, f) in try fields(value) {
                    if n == 1, case .bytes(let t) = f { tag = String(decoding: t, as: UTF8.self) }
                    if n == 2, case .fixed32(let bits) = f { scalar = Float(bitPattern: bits) }
                }
                event.scalars!.append((tag, scalar))
            }
        case (7, .bytes(let log)):
            for case (1, .varint(let status)) in try fields(log) { event.sessionStatus = status }
        default: break  // e.g. source_metadata (10) in TensorBoard's first event
        }
    }
    return event
}

/// What TensorBoard shows for a run folder: every file in name order, a START at step s hiding the earlier events
/// with a step ≥ s; scalars as tag → [(step, value)].
private func visibleScalars(_ folder: URL) throws -> [String: [(step: Int64, value: Float)]] {
    var events: [DecodedEvent] = []
    for file in TensorBoardWriter.eventFiles(in: folder) {
        let decoded = try readRecords(try Data(contentsOf: file)).map(decodeEvent)
        #expect(decoded.first?.fileVersion == "brain.Event:2", "\(file.lastPathComponent) starts with its version")
        for event in decoded {
            if event.sessionStatus == 1 { events.removeAll { $0.step >= event.step } }
            events.append(event)
        }
    }
    var series: [String: [(step: Int64, value: Float)]] = [:]
    for event in events { for (tag, value) in event.scalars ?? [] { series[tag, default: []].append((event.step, value)) } }
    return series
}

/// log.jsonl as tag → [(step, value)] (values as Float, as TensorBoard stores them).
private func logScalars(_ folder: URL) throws -> [String: [(step: Int64, value: Float)]] {
    var series: [String: [(step: Int64, value: Float)]] = [:]
    for line in try String(contentsOf: folder.appendingPathComponent("log.jsonl"), encoding: .utf8).split(separator: "\n") {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let step = Int64(try #require(object["step"] as? Int))
        for (key, value) in object where key != "step" {
            series[key, default: []].append((step, Float(try #require(value as? Double))))
        }
    }
    return series
}

private func expectSameScalars(_ a: [String: [(step: Int64, value: Float)]], _ b: [String: [(step: Int64, value: Float)]]) {
    #expect(Set(a.keys) == Set(b.keys))
    for (tag, points) in a {
        let other = b[tag] ?? []
        #expect(points.map(\.step) == other.map(\.step) && points.map(\.value) == other.map(\.value), "\(tag)")
    }
}

@Suite struct TensorBoardTests {
    let fixtureFolder = repositoryRoot.appendingPathComponent("Tests/Fixtures/tensorboard")

    @Test func theReaderDecodesTensorBoardsOwnFile() throws {
        let records = try readRecords(try Data(contentsOf: fixtureFolder.appendingPathComponent("fixture.tfevents")))
        let events = try records.map(decodeEvent)
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureFolder.appendingPathComponent("events.json")))
            as? [String: Any])["events"] as? [[String: Any]]
        let rows = try #require(expected)
        #expect(events.count == rows.count + 1)
        #expect(events[0].fileVersion == "brain.Event:2" && events[0].wallTime > 1.5e9)
        for (event, row) in zip(events.dropFirst(), rows) {
            #expect(event.wallTime == row["wall_time"] as? Double)
            #expect(event.step == Int64(try #require(row["step"] as? Int)))
            if row["kind"] as? String == "scalars" {
                let values = try #require(row["values"] as? [[String: Any]])
                #expect(event.scalars?.map(\.tag) == values.map { $0["tag"] as? String ?? "" })
                #expect(event.scalars?.map(\.value) == values.map { Float($0["value"] as? Double ?? .nan) })
            } else {
                #expect(event.sessionStatus == 1 && event.scalars == nil)
            }
        }
        // A flipped bit fails its CRC.
        var damaged = try Data(contentsOf: fixtureFolder.appendingPathComponent("fixture.tfevents"))
        damaged[damaged.count - 10] ^= 0x01
        #expect(throws: ReaderError.self) { _ = try readRecords(damaged) }
    }

    @Test func theEncoderWritesTheSameBytesAsTensorBoard() throws {
        let records = try readRecords(try Data(contentsOf: fixtureFolder.appendingPathComponent("fixture.tfevents")))
        let events = try records.map(decodeEvent)
        for (record, event) in zip(records, events).dropFirst() {
            let encoded = event.sessionStatus == 1
                ? TensorBoardEvent.sessionStart(step: Int(event.step), wallTime: event.wallTime)
                : TensorBoardEvent.scalars(event.scalars ?? [], step: Int(event.step), wallTime: event.wallTime)
            #expect(encoded == record, "step \(event.step)")
            #expect(TFRecord.frame(encoded).count == record.count + 16)
        }
        // The CRC-32C check value of "123456789" (RFC 3720).
        #expect(TFRecord.crc32c(Data("123456789".utf8)) == 0xE306_9283)
        #expect(try readRecords(TFRecord.frame(Data("payload".utf8))) == [Data("payload".utf8)])
    }

    @Test func theTrainersEventFilesHoldEveryLoggedScalar() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-tb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try Trainer(config: tinyRunConfig(steps: 4), directory: folder)
        trainer.output = { _ in }
        _ = try trainer.run(resume: false)
        #expect(TensorBoardWriter.eventFiles(in: folder).count == 1)
        let logged = try logScalars(folder)
        #expect(logged["loss"]?.count == 4 && logged["mi_bound_k1"] != nil && logged["validation_loss"] != nil)
        expectSameScalars(try visibleScalars(folder), logged)
        // Training again from step 0 in the same folder (--overwrite) replaces the old run's events, like its log.
        let again = try Trainer(config: tinyRunConfig(steps: 2), directory: folder)
        again.output = { _ in }
        _ = try again.run(resume: false, overwrite: true)
        #expect(TensorBoardWriter.eventFiles(in: folder).count == 1)
        expectSameScalars(try visibleScalars(folder), try logScalars(folder))
    }

    @Test func aResumedRunContinuesTheSameCurves() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-tb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = tinyRunConfig(steps: 6)
        let first = try Trainer(config: config, directory: folder)
        first.output = { _ in }
        first.stopAfterSteps = 3
        _ = try first.run(resume: false)
        // As if killed after logging step 3 but before its checkpoint: the resume starts from step 2.
        let checkpoints = folder.appendingPathComponent("checkpoints")
        for name in try FileManager.default.contentsOfDirectory(atPath: checkpoints.path) where name.hasPrefix("step-3.") {
            try FileManager.default.removeItem(at: checkpoints.appendingPathComponent(name))
        }
        let second = try Trainer(config: config, directory: folder)
        second.output = { _ in }
        _ = try second.run(resume: true)
        #expect(TensorBoardWriter.eventFiles(in: folder).count == 2)
        let visible = try visibleScalars(folder)
        #expect(visible["loss"]?.map(\.step) == [1, 2, 3, 4, 5, 6], "step 3 shows once, from the resumed run")
        expectSameScalars(visible, try logScalars(folder))
    }

    @Test func theSwitchTurnsItOff() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftcpc-tb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = tinyRunConfig(steps: 2)
        config.training.tensorboard = false
        let trainer = try Trainer(config: config, directory: folder)
        trainer.output = { _ in }
        _ = try trainer.run(resume: false)
        #expect(TensorBoardWriter.eventFiles(in: folder).isEmpty)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("log.jsonl").path))
    }
}
