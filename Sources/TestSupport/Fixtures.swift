// Reading the committed reference fixtures (JSON written by the generator scripts beside them).

import Foundation
import TensorCore

/// A problem reading a fixture file.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
}

/// The repository root, found from this source file's location (tests run from a checkout).
public let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A fixture file: named cases, each a dictionary of named tensors (shape + row-major data) and integer lists.
///
/// Format: `{"generator": "...", "cases": {"case": {"tensor": {"shape": [..], "data": [..]}, "ints": [..]}}}`.
public struct Fixture {
    public let path: String
    private let cases: [String: [String: Any]]

    /// Loads `Tests/Fixtures/<name>.json`.
    public init(_ name: String) throws {
        let url = repositoryRoot.appendingPathComponent("Tests/Fixtures/\(name).json")
        path = url.path
        let data = try Data(contentsOf: url)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = root["cases"] as? [String: [String: Any]] else {
            throw FixtureError(description: "\(url.path): expected an object with a 'cases' object")
        }
        self.cases = cases
    }

    public var caseNames: [String] { cases.keys.sorted() }

    /// The tensor `key` of case `name`.
    public func tensor(_ name: String, _ key: String) throws -> Tensor {
        guard let tensor = Self.tensor(cases[name]?[key]) else {
            throw FixtureError(description: "\(path): case '\(name)' has no tensor '\(key)'")
        }
        return tensor
    }

    /// A `{"shape": [..], "data": [..]}` object as a tensor, or nil.
    private static func tensor(_ entry: Any?) -> Tensor? {
        guard let entry = entry as? [String: Any], let shape = entry["shape"] as? [Int], let data = entry["data"] as? [Double] else { return nil }
        return Tensor(data.map { Float($0) }, shape: shape)
    }

    /// The named tensors of the object `key` of case `name` (a state dict, gradients by parameter name), sorted by name.
    public func tensors(_ name: String, _ key: String) throws -> [(String, Tensor)] {
        guard let entries = cases[name]?[key] as? [String: [String: Any]] else {
            throw FixtureError(description: "\(path): case '\(name)' has no tensor object '\(key)'")
        }
        return try entries.keys.sorted().map { entry in
            guard let tensor = Self.tensor(entries[entry]) else {
                throw FixtureError(description: "\(path): case '\(name)', '\(key).\(entry)' is not a tensor")
            }
            return (entry, tensor)
        }
    }

    /// The list of tensors `key` of case `name` (per-crop scores, per-head centroids), in order.
    public func tensorList(_ name: String, _ key: String) throws -> [Tensor] {
        guard let entries = cases[name]?[key] as? [[String: Any]] else {
            throw FixtureError(description: "\(path): case '\(name)' has no tensor list '\(key)'")
        }
        return try entries.enumerated().map { index, entry in
            guard let tensor = Self.tensor(entry) else {
                throw FixtureError(description: "\(path): case '\(name)', '\(key)[\(index)]' is not a tensor")
            }
            return tensor
        }
    }

    /// Whether case `name` has an entry `key`.
    public func has(_ name: String, _ key: String) -> Bool { cases[name]?[key] != nil }

    /// The keys of case `name`.
    public func keys(_ name: String) -> [String] { cases[name].map { Array($0.keys).sorted() } ?? [] }

    /// The integer list `key` of case `name`.
    public func integers(_ name: String, _ key: String) throws -> [Int] {
        guard let values = cases[name]?[key] as? [Int] else {
            throw FixtureError(description: "\(path): case '\(name)' has no integer list '\(key)'")
        }
        return values
    }

    /// The JSON value `key` of case `name` as parsed (nested lists and objects), for fixtures with their own layout.
    public func raw(_ name: String, _ key: String) throws -> Any {
        guard let value = cases[name]?[key] else { throw FixtureError(description: "\(path): case '\(name)' has no entry '\(key)'") }
        return value
    }

    /// The number `key` of case `name`.
    public func number(_ name: String, _ key: String) throws -> Double {
        guard let value = cases[name]?[key] as? Double else {
            throw FixtureError(description: "\(path): case '\(name)' has no number '\(key)'")
        }
        return value
    }
}
