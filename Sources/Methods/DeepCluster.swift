// DeepCluster v2 (Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments",
// §4 and appendix): a memory holds the latest projection of every training image for each of the two views; at each
// refresh (by default once per epoch) spherical k-means clusters the memory once per head (several heads, each its
// own k and its own view of the memory), the heads' prototypes become the centroids, and training is the
// cross-entropy of each view's scores against its image's cluster, with a temperature. The prototypes are never
// trained. The memory is first filled by a pass over the training images (unaugmented, through the initial
// network, as the reference code's init_memory). Probes read the backbone.
//
// Glossary: N images in a batch, M in the training set, V = 2 views, D backbone width, P projection width,
// H heads with k_h clusters each.

import Foundation
import Layers
import Objectives
import TensorCore

/// DeepCluster v2's networks and clustering. Defaults: solo-learn's CIFAR settings (T 0.1, 10 k-means iterations,
/// 128-d projections, three heads) with k and widths scaled to Fashion-MNIST (solo-learn: 3 × 3000 prototypes).
public struct DeepClusterConfig: ImagePairConfig {
    /// The backbone: a CIFAR-style ResNet (`backbone:` in the config).
    public var backbone = ResNetConfig()
    /// The projector MLP: backbone features `[N, D]` → embeddings `[N, P]`.
    public var projector = HeadConfig(hidden: [512], output: 128, batchNorm: true)
    /// k of each head.
    public var prototypes = [300, 300, 300]
    /// The softmax temperature of the loss.
    public var temperature: Float = 0.1
    /// Lloyd iterations of each k-means.
    public var kmeansIterations = 10
    /// How the centroids start: distinct random rows (DeepCluster v2) or k-means++.
    public var kmeansInitialization = KMeansInitialization.random
    /// Steps between k-means refreshes; nil: one epoch (the training images over the batch size, rounded up).
    public var refreshEvery: Int?
    /// Whether a linear probe learns the labels from detached backbone features as the method trains (`online_accuracy`).
    public var onlineProbe = true

    public var heads: [HeadConfig] { get { [projector] } set { projector = newValue[0] } }

    /// The defaults above.
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case backbone, projector, prototypes, temperature
        case kmeansIterations = "kmeans_iterations", kmeansInitialization = "kmeans_init", refreshEvery = "refresh_every"
        case onlineProbe = "online_probe"
    }
    public init(from decoder: Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DeepClusterConfig()
        backbone = try c.value(.backbone, default: d.backbone)
        projector = try c.value(.projector, default: d.projector)
        prototypes = try c.value(.prototypes, default: d.prototypes)
        temperature = try c.value(.temperature, default: d.temperature)
        kmeansIterations = try c.value(.kmeansIterations, default: d.kmeansIterations)
        kmeansInitialization = try c.value(.kmeansInitialization, default: d.kmeansInitialization)
        refreshEvery = try c.decodeIfPresent(Int.self, forKey: .refreshEvery)
        onlineProbe = try c.value(.onlineProbe, default: d.onlineProbe)
        if prototypes.isEmpty || prototypes.count > 16 || prototypes.contains(where: { $0 < 2 || $0 > 65536 }) {
            throw decoder.invalid("prototypes", "must list 1 to 16 cluster counts, each in 2...65536, found \(prototypes)")
        }
        if !(temperature > 0 && temperature.isFinite) { throw decoder.invalid("temperature", "must be positive and finite, found \(temperature)") }
        if kmeansIterations < 1 || kmeansIterations > 1000 { throw decoder.invalid("kmeans_iterations", "must be in 1...1000, found \(kmeansIterations)") }
        if let every = refreshEvery, every < 1 { throw decoder.invalid("refresh_every", "must be 1 or more, found \(every)") }
    }
}

/// The memory of DeepCluster v2, as buffers so that checkpoints carry it: `embeddings` `[V, M, P]` (each view's
/// latest unit projection of each training image), `assignments` `[H, M]` (cluster per head, −1 before the first
/// k-means), `filled` `[]` (1 once the first pass has filled the memory).
public final class ClusterMemory: Layer {
    /// The memory's buffers (see above).
    public let embeddings: Tensor, assignments: Tensor, filled: Tensor
    public var isTraining = true

    init(views: Int, items: Int, width: Int, heads: Int) {
        embeddings = Tensor.zeros([views, items, width])
        assignments = Tensor.zeros([heads, items]) - 1
        filled = Tensor.zeros([])
    }

    public var ownParameters: [(name: String, tensor: Tensor)] { [] }
    public var ownBuffers: [(name: String, tensor: Tensor)] { [("embeddings", embeddings), ("assignments", assignments), ("filled", filled)] }
    /// M: the training images the memory holds.
    public var items: Int { embeddings.shape[1] }

    /// Writes `rows` `[N, P]` as view `view`'s embeddings of `items`.
    func store(_ rows: Tensor, view: Int, items indices: [Int]) {
        let (m, p) = (embeddings.shape[1], embeddings.shape[2])
        rows.withUnsafeBufferPointer { source in
            embeddings.withUnsafeMutableBufferPointer { target in
                for (row, item) in indices.enumerated() {
                    for j in 0..<p { target[(view * m + item) * p + j] = source[row * p + j] }
                }
            }
        }
    }

    /// The clusters of `items` under head `head` (−1: none yet).
    func targets(head: Int, items indices: [Int]) -> [Int] {
        let m = embeddings.shape[1]
        return assignments.withUnsafeBufferPointer { a in indices.map { Int(a[head * m + $0]) } }
    }
}

/// DeepCluster v2 as a `Method` (registry key `deepcluster`): networks `backbone`, `projector`, `prototypes.<h>`
/// (frozen; the centroids of head h), `memory`, `online_probe`.
///
/// ### References
/// - Caron et al. 2020, "Unsupervised learning of visual features by contrasting cluster assignments" (DeepCluster v2, appendix).
public final class DeepCluster: Method, MethodSpec {
    public static let key = "deepcluster"
    public static let input = InputKind.imageViews

    public static func validate(_ config: DeepClusterConfig, input: InputShape) throws {
        try requireTwoViews(input, method: "DeepCluster v2")
        if input.trainingItems > 0, let k = config.prototypes.max(), k > input.trainingItems {
            throw ConfigError(key: "model.prototypes", message: "k = \(k) is more than the \(input.trainingItems) training images")
        }
        if input.trainingItems > 0, input.trainingItems * 2 * config.projector.output > 1 << 31 {
            throw ConfigError(key: "model.projector.output", message: "the memory of \(input.trainingItems) images × 2 views × \(config.projector.output) would exceed 2^31 numbers")
        }
    }

    public static func make(_ config: DeepClusterConfig, input: InputShape, seed: UInt64) throws -> any Method {
        guard input.trainingItems > 0 else {
            throw ConfigError(key: "data", message: "DeepCluster v2 needs the size of the training set for its memory")
        }
        let every = config.refreshEvery ?? (input.trainingItems + max(input.batchSize, 1) - 1) / max(input.batchSize, 1)
        return DeepCluster(config: config, imageChannels: input.channels, classes: config.onlineProbe ? input.classes : 0,
                           items: input.trainingItems, refreshEvery: every, seed: seed)
    }

    /// The config the networks were built from.
    public let config: DeepClusterConfig
    /// The online networks: backbone `[N, H, W, C] → [N, D]`, projector `[N, D] → [N, P]`.
    public let backbone: ResNet, projector: Sequential
    /// One prototype layer per head: `[k_h, P]` rows set to the centroids at each refresh.
    public let prototypes: [Linear]
    /// The projections of every training image and their cluster assignments.
    public let memory: ClusterMemory
    /// The online linear probe (nil when switched off or the classes are unknown).
    public let probe: OnlineProbe?
    public let model: any Layer
    public let refreshEvery: Int?
    let seed: UInt64

    /// Builds the networks and a memory for `items` training images, refreshing k-means every `refreshEvery` steps.
    public init(config: DeepClusterConfig, imageChannels: Int, classes: Int, items: Int, refreshEvery: Int, seed: UInt64) {
        self.config = config
        var generator = RandomGenerator(seed: seed, stream: 1)
        backbone = ResNet(config: config.backbone, imageChannels: imageChannels, generator: &generator)
        projector = config.projector.make(inputSize: config.backbone.outputWidth, generator: &generator)
        prototypes = config.prototypes.map { Linear(inputSize: config.projector.output, outputSize: $0, bias: false, generator: &generator) }
        for head in prototypes { head.setRequiresGrad(false) }
        memory = ClusterMemory(views: 2, items: items, width: config.projector.output, heads: config.prototypes.count)
        probe = classes > 0 ? OnlineProbe(features: config.backbone.outputWidth, classes: classes, generator: &generator) : nil
        var named: [(name: String, layer: any Layer)] = [("backbone", backbone), ("projector", projector),
            ("prototypes", MethodNetworks(prototypes.enumerated().map { ("\($0.offset)", $0.element) })), ("memory", memory)]
        if let probe { named.append(("online_probe", probe)) }
        model = MethodNetworks(named)
        self.refreshEvery = refreshEvery
        self.seed = seed
    }

    func project(_ images: Tensor) -> Tensor { projector(backbone(images)).l2Normalized(alongAxis: 1) }

    public func loss(_ batch: Batch, _ context: StepContext) -> StepOutput {
        precondition(batch.views.count == 2, "DeepCluster v2 needs two views, found \(batch.views.count)")
        let n = batch.count
        let features = backbone(Tensor.concatenate(batch.views, alongAxis: 0))
        let projections = projector(features).l2Normalized(alongAxis: 1)
        var total: Tensor?
        var share: Float = 0
        for (h, head) in prototypes.enumerated() {
            let logits = matmul(projections, head.weight.detached(), transposeB: true) * (1 / config.temperature)
            let targets: [Int]
            if context.isTraining {
                precondition(batch.items.count == n && batch.items.allSatisfy { $0 >= 0 && $0 < memory.items },
                             "DeepCluster v2 needs the training-set index of every item (0..<\(memory.items)), found \(batch.items.prefix(4))…")
                let own = memory.targets(head: h, items: batch.items)
                targets = own + own
            } else {
                // Images outside the training set (validation) have no cluster: the nearest centroid of their first
                // view stands in, for both views.
                let nearest = logits.sliced(alongAxis: 0, start: 0, length: n).argmax(alongAxis: 1)
                targets = nearest + nearest
            }
            let used = targets.filter { $0 >= 0 }
            let term = used.isEmpty ? logits.sum() * 0 : crossEntropy(logits: logits, targets: targets, ignoreIndex: -1)
            total = total.map { $0 + term } ?? term
            if h == 0, !used.isEmpty {
                var counts: [Int: Int] = [:]
                for t in used { counts[t, default: 0] += 1 }
                share = Float(counts.values.max() ?? 0) / Float(used.count)
            }
        }
        let loss = total! * (1 / Float(prototypes.count))
        var metrics: [String: Float] = ["ssl_loss": loss.item, "cluster_share": share,
                                        "collapse_std": collapseStandardDeviation(projections.detached())]
        let firstFeatures = features.sliced(alongAxis: 0, start: 0, length: n)
        let withProbe = probe?.adding(to: loss, features: firstFeatures, batch: batch, metrics: &metrics) ?? loss
        let detached = projections.detached(), world = context.world
        // The memory takes every rank's projections at their items, so that it is the same on every rank.
        return StepOutput(loss: withProbe, metrics: metrics, headline: ("share", share), features: firstFeatures.detached(),
                          state: ["view0": world.allGathered(detached.sliced(alongAxis: 0, start: 0, length: n)),
                                  "view1": world.allGathered(detached.sliced(alongAxis: 0, start: n, length: n)),
                                  "items": Tensor(world.gathered(batch.items).map { Float($0) }, shape: [batch.items.count * world.size])])
    }

    /// This step's projections into the memory, at the batch's items.
    public func afterOptimizerStep(_ output: StepOutput, _ context: StepContext) {
        guard let items = output.state["items"]?.scalars.map({ Int($0) }) else { return }
        for v in 0..<2 { if let rows = output.state["view\(v)"] { memory.store(rows, view: v, items: items) } }
    }

    /// Fills the memory on the first call (a pass over the training images in training mode, batch statistics
    /// used and the running ones left as they were), then runs k-means once per head on its view of the memory:
    /// the prototypes become the centroids and each image's cluster its target. Draws come from (seed, step, head).
    public func refresh(_ context: StepContext, data: any MethodDataSource) throws {
        guard context.isTraining else { return }
        if memory.filled.item == 0 {
            guard data.itemCount == memory.items else {
                throw ConfigError(key: "data", message: "DeepCluster v2 was built for \(memory.items) training images, the data have \(data.itemCount)")
            }
            let networks: [any Layer] = [backbone, projector]
            let running = networks.flatMap { $0.buffers.map { ($0.tensor, $0.tensor.scalars) } }
            var start = 0
            let fill = StageProgress.begin("cluster memory", total: memory.items, unit: "images")
            defer { fill?.finish() }
            while start < memory.items {
                let items = Array(start..<min(start + 256, memory.items))
                defer { fill?.advance(by: items.count) }
                let images = try data.batch(items: items).inputs
                let rows = withoutGrad { project(images) }
                for v in 0..<2 { memory.store(rows, view: v, items: items) }
                start += items.count
            }
            for (tensor, values) in running { tensor.withUnsafeMutableBufferPointer { for i in values.indices { $0[i] = values[i] } } }
            memory.filled.withUnsafeMutableBufferPointer { $0[0] = 1 }
        }
        let (m, p) = (memory.items, config.projector.output)
        let stage = StageProgress.begin("k-means at step \(context.step)", total: prototypes.count, unit: "heads")
        defer { stage?.finish() }
        for (h, head) in prototypes.enumerated() {
            defer { stage?.advance() }
            let rows = memory.embeddings.sliced(alongAxis: 0, start: h % 2, length: 1).reshaped([m, p])
            var generator = RandomGenerator(seed: seed, stream: 0x4443_0000_0000 ^ (UInt64(context.step) << 8 | UInt64(h)))
            let initial = SphericalKMeans.initialCentroids(rows: rows, k: config.prototypes[h], method: config.kmeansInitialization,
                                                           generator: &generator)
            let (centroids, assignments) = SphericalKMeans.fit(rows: rows, initial: initial, iterations: config.kmeansIterations)
            head.weight.withUnsafeMutableBufferPointer { w in centroids.withUnsafeBufferPointer { c in for i in c.indices { w[i] = c[i] } } }
            memory.assignments.withUnsafeMutableBufferPointer { a in for (i, cluster) in assignments.enumerated() { a[h * m + i] = Float(cluster) } }
        }
    }

    /// `.pooled`: the backbone's pooled output `[N, D]` of images `[N, H, W, C]`; `.projection`: the projector's `[N, P]`.
    public func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor? {
        pooledOrProjected(inputs, request, backbone: backbone, projector: projector)
    }
}
