// The method registry: the only list of methods. Training and Evaluation find a method here by the `method:` key
// of a config and never name one. Key = file name = config value (`simclr` ↔ SimCLR.swift ↔ configs/simclr-*.yaml).

import Foundation
import Layers
import TensorCore

/// A model config of some registered method, type-erased so that a run config can hold any of them.
public struct AnyMethodConfig: @unchecked Sendable, Equatable, Encodable {
    /// The method's own model config.
    public let value: any MethodConfig

    /// Wraps a method's model config.
    public init(_ value: any MethodConfig) { self.value = value }

    public func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }

    /// Same type and equal values.
    public static func == (a: AnyMethodConfig, b: AnyMethodConfig) -> Bool {
        func equal<C: MethodConfig>(_ x: C, _ y: any MethodConfig) -> Bool { (y as? C).map { $0 == x } ?? false }
        return equal(a.value, b.value)
    }

    /// The config as its concrete type. Reading it as another type is a programmer error.
    public subscript<C: MethodConfig>(as type: C.Type) -> C {
        get {
            guard let config = value as? C else { preconditionFailure("the model config is \(Swift.type(of: value)), not \(C.self)") }
            return config
        }
        set { self = AnyMethodConfig(newValue) }
    }

    /// The config as `C`, or nil when it belongs to another method.
    public func typed<C: MethodConfig>(_ type: C.Type) -> C? { value as? C }
}

/// One entry of the registry, with the method's static requirements as plain functions.
public struct RegisteredMethod: @unchecked Sendable {
    /// The method's key (`method:` in configs, the file name under Sources/Methods).
    public let key: String
    /// The input the method needs.
    public let input: InputKind
    /// The method's type.
    public let spec: any MethodSpec.Type

    /// The entry of `spec`.
    public init<S: MethodSpec>(_ spec: S.Type) {
        key = S.key
        input = S.input
        self.spec = spec
    }

    /// The default model config (what an absent `model:` section means).
    public var defaultConfig: AnyMethodConfig {
        func make<S: MethodSpec>(_ s: S.Type) -> AnyMethodConfig { AnyMethodConfig(S.Config()) }
        return make(spec)
    }

    /// Decodes the model config of this method from `key` of `container` (its default when absent).
    public func decodeConfig<K: CodingKey>(from container: KeyedDecodingContainer<K>, forKey key: K) throws -> AnyMethodConfig {
        func decode<S: MethodSpec>(_ s: S.Type) throws -> AnyMethodConfig {
            AnyMethodConfig(try container.decodeIfPresent(S.Config.self, forKey: key) ?? S.Config())
        }
        return try decode(spec)
    }

    /// Checks `config` against the input the data give (errors name the key).
    public func validate(_ config: AnyMethodConfig, input: InputShape) throws {
        func check<S: MethodSpec>(_ s: S.Type) throws {
            guard let typed = config.value as? S.Config else {
                throw ConfigError(key: "model", message: "the model config is not one of method '\(key)'")
            }
            try S.validate(typed, input: input)
        }
        try check(spec)
    }

    /// Builds the method for `input`, initialised from `seed`.
    public func make(_ config: AnyMethodConfig, input: InputShape, seed: UInt64) throws -> any Method {
        func build<S: MethodSpec>(_ s: S.Type) throws -> any Method {
            guard let typed = config.value as? S.Config else {
                throw ConfigError(key: "model", message: "the model config is not one of method '\(key)'")
            }
            try S.validate(typed, input: input)
            if let pair = typed as? any ImagePairConfig { try requireMemory(for: pair.backbone, input: input) }
            return try S.make(typed, input: input, seed: seed)
        }
        return try build(spec)
    }
}

/// The table from `method:` keys to method types.
public enum MethodRegistry {
    /// The methods of this package, in the order help texts list them.
    public static let builtIn: [RegisteredMethod] = [
        RegisteredMethod(CPCAudio.self), RegisteredMethod(CPCImage.self),
        RegisteredMethod(SimCLR.self), RegisteredMethod(MoCo.self), RegisteredMethod(BYOL.self),
        RegisteredMethod(SimSiam.self), RegisteredMethod(SwAV.self), RegisteredMethod(DeepCluster.self),
        RegisteredMethod(BarlowTwins.self), RegisteredMethod(VICReg.self), RegisteredMethod(WMSE.self),
        RegisteredMethod(SupervisedPhones.self),
    ]

    nonisolated(unsafe) private static var added: [RegisteredMethod] = []
    private static let lock = NSLock()

    /// Adds a method defined elsewhere (a plug-in or a test's toy method). Replaces an entry with the same key.
    public static func register<S: MethodSpec>(_ spec: S.Type) {
        lock.lock()
        defer { lock.unlock() }
        added.removeAll { $0.key == S.key }
        added.append(RegisteredMethod(spec))
    }

    /// Every registered method.
    public static var all: [RegisteredMethod] {
        lock.lock()
        defer { lock.unlock() }
        return builtIn.filter { entry in !added.contains { $0.key == entry.key } } + added
    }

    /// Every registered key.
    public static var keys: [String] { all.map(\.key) }

    /// The entry for `key`, or nil.
    public static func entry(_ key: String) -> RegisteredMethod? { all.first { $0.key == key } }
}

/// Refuses an image-pair config whose training step cannot fit in this machine's memory, estimated from the backbone's
/// activations (each block's convolutions, normalisations, activations and their gradients, 4-byte values) for
/// every view of a batch. Errors name `data.batch_size`.
func requireMemory(for backbone: ResNetConfig, input: InputShape) throws {
    guard input.batchSize > 0, !input.views.isEmpty else { return }
    var values = 0.0
    for view in input.views where view.height > 0 && view.width > 0 {
        var (height, width) = (Double(view.height), Double(view.width))
        values += 4 * height * width * Double(backbone.width)  // the stem
        for (stage, blocks) in backbone.blocks.enumerated() {
            if stage > 0 { (height, width) = ((height / 2).rounded(.up), (width / 2).rounded(.up)) }
            values += 8 * Double(blocks) * height * width * Double(backbone.width << stage)
        }
    }
    let bytes = 4 * Double(input.batchSize) * values
    let memory = Double(ProcessInfo.processInfo.physicalMemory)
    if bytes > memory {
        throw ConfigError(key: "data.batch_size", message: String(format: "a training step needs about %.0f GiB for the backbone's "
            + "activations (batch %d, %d views, width %d), more than this machine's %.0f GiB; lower data.batch_size, the view sizes "
            + "or model.backbone.width", bytes / Double(1 << 30), input.batchSize, input.views.count, backbone.width, memory / Double(1 << 30)))
    }
}
