// Strict decoding of configs: unknown keys and out-of-range values are errors that name the key path.

import Foundation

/// A config problem, naming the key path (`model.encoder.channels`), what was expected and what was found.
public struct ConfigError: Error, CustomStringConvertible {
    /// The config file, when known.
    public let file: String?
    /// The dotted key path (`model.encoder.channels`).
    public let key: String
    /// What was expected and what was found.
    public let message: String
    /// A problem with `key` (of `file`, when known).
    public init(file: String? = nil, key: String, message: String) {
        (self.file, self.key, self.message) = (file, key, message)
    }
    /// One line: a value echoed from a huge file is cut (first and last 200 characters kept), and line breaks in
    /// an echoed value are shown as ⏎ so the message stays on one line.
    public var description: String {
        "\(file.map { "\($0): " } ?? "")\(key.isEmpty ? "" : "key '\(Self.shortened(key))': ")\(Self.shortened(message))"
    }

    static func shortened(_ text: String, limit: Int = 600) -> String {
        let single = text.replacingOccurrences(of: "\r\n", with: "⏎").replacingOccurrences(of: "\n", with: "⏎")
        guard single.count > limit else { return single }
        return String(single.prefix(200)) + " … (\(single.count - 400) characters) … " + String(single.suffix(200))
    }
}

/// Any string key, to list every key of a container (including unknown ones).
public struct AnyCodingKey: CodingKey {
    public let stringValue: String
    public let intValue: Int?
    public init(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    public init?(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
}

extension Decoder {
    /// The dotted path of the current container.
    public var keyPath: String { codingPath.map(\.stringValue).joined(separator: ".") }

    /// Throws when the container holds a key that `Keys` does not declare.
    public func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_ keys: Keys.Type) throws {
        let known = Set(Keys.allCases.map(\.stringValue))
        let present = try container(keyedBy: AnyCodingKey.self).allKeys.map(\.stringValue)
        for key in present where !known.contains(key) {
            let path = keyPath.isEmpty ? key : "\(keyPath).\(key)"
            throw ConfigError(key: path, message: "unknown key; expected one of \(known.sorted().joined(separator: ", "))")
        }
    }

    /// Throws a `ConfigError` for `key` of this container.
    public func invalid(_ key: String, _ message: String) -> ConfigError {
        ConfigError(key: keyPath.isEmpty ? key : "\(keyPath).\(key)", message: message)
    }
}

extension KeyedDecodingContainer {
    /// Decodes `key` when present, else returns `defaultValue`. A value that is not one of an enumeration's cases is
    /// an error that lists them.
    public func value<T: Decodable>(_ key: Key, default defaultValue: T) throws -> T {
        do {
            return try decodeIfPresent(T.self, forKey: key) ?? defaultValue
        } catch DecodingError.dataCorrupted(let context) {
            guard let choices = T.self as? any CaseIterable.Type else { throw DecodingError.dataCorrupted(context) }
            let found = (try? decodeIfPresent(String.self, forKey: key)).flatMap { $0 } ?? "?"
            throw ConfigError(key: (codingPath + [key]).map(\.stringValue).joined(separator: "."),
                              message: "'\(found)' is not one of \(caseNames(choices).joined(separator: ", "))")
        }
    }
}

/// The names a config writes for the cases of `type` (their raw values when they are strings).
private func caseNames<C: CaseIterable>(_ type: C.Type) -> [String] {
    C.allCases.map { value in ((value as? any RawRepresentable)?.rawValue as? String) ?? "\(value)" }
}
