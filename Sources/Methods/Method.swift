// The protocol every self-supervised method implements (one method = one file), and what the registry knows of a
// method: its key, its config type, the input it needs and how to build it.

import Layers
import TensorCore

/// Where a method is in training when it computes a loss or runs a hook.
public struct StepContext: Sendable {
    /// The 0-based step being taken (the optimiser has taken `step` steps before it).
    public let step: Int
    /// The steps the run will take in all (momentum and temperature schedules run over them).
    public let totalSteps: Int
    /// False for validation and feature extraction: the method must then mutate nothing (queues, prototypes, EMA).
    public let isTraining: Bool
    /// The ranks of a data-parallel run; the batch holds this rank's rows (rows `rank·n ..< (rank + 1)·n` of the
    /// global batch). A loss that needs the whole batch gathers what it needs (`world.allGathered`) and must give
    /// every rank the same result as one process on the whole batch (docs/DISTRIBUTED.md).
    public let world: any Collective

    /// The context of step `step` of `totalSteps`, in a world of `world` (one process by default).
    public init(step: Int, totalSteps: Int, isTraining: Bool, world: any Collective = SingleProcess.world) {
        (self.step, self.totalSteps, self.isTraining, self.world) = (step, totalSteps, isTraining, world)
    }

    /// A context for evaluation (validation, probes, tests).
    public static func evaluation(step: Int = 0, totalSteps: Int = 1) -> StepContext {
        StepContext(step: step, totalSteps: totalSteps, isTraining: false)
    }
}

/// What one loss computation gives back.
public struct StepOutput {
    /// The scalar to back-propagate.
    public let loss: Tensor
    /// Logged numbers (per-k accuracies, online probe accuracy, collapse monitor, …).
    public let metrics: [String: Float]
    /// The one metric the progress line shows beside the loss (name, value), if any.
    public let headline: (name: String, value: Float)?
    /// Detached backbone features `[N, D]` of the batch's first view, when the method has them.
    public let features: Tensor?
    /// Anything the method needs in its after-step hook (keys to enqueue, assignments), by name.
    public let state: [String: Tensor]

    /// A step's result.
    public init(loss: Tensor, metrics: [String: Float] = [:], headline: (name: String, value: Float)? = nil,
                features: Tensor? = nil, state: [String: Tensor] = [:]) {
        (self.loss, self.metrics, self.headline, self.features, self.state) = (loss, metrics, headline, features, state)
    }
}

/// Which representation a probe asks a method for.
public enum FeatureRequest: String, Sendable, CaseIterable, Codable {
    /// One vector per input (images: the backbone's pooled output; CPC image: patch vectors averaged over the grid).
    case pooled
    /// Image CPC: all patch vectors of the grid side by side.
    case grid
    /// Image-pair methods: the projector's output (what the loss sees), for the dimensional-collapse spectrum.
    case projection
    /// Audio CPC: the context c_t per frame `[N, T, H]`.
    case context
    /// Audio CPC: the encoder output z_t per frame `[N, T, C]`.
    case encoder
}

/// Rows of a training set that a method can read whole (DeepCluster's k-means over the memory bank).
public protocol MethodDataSource {
    /// Items in the training set.
    var itemCount: Int { get }
    /// The evaluation-mode (unaugmented) batch of the given items.
    func batch(items: [Int]) throws -> Batch
}

/// A self-supervised method: its networks, its loss on a batch, and its hooks around the optimiser step.
public protocol Method: AnyObject {
    /// Everything checkpointed, as one layer: networks, momentum encoders, and queues or prototypes as buffers.
    var model: any Layer { get }
    /// The loss of `batch`. With `context.isTraining` false it must change no state of the method.
    func loss(_ batch: Batch, _ context: StepContext) -> StepOutput
    /// After backward, before the optimiser step (prototype freezing; gradient all-reduce happens here too).
    func beforeOptimizerStep(_ context: StepContext)
    /// After the optimiser step (EMA targets, enqueueing keys, normalising prototypes).
    func afterOptimizerStep(_ output: StepOutput, _ context: StepContext)
    /// Steps between calls of `refresh` (nil: never), e.g. DeepCluster's k-means once per epoch.
    var refreshEvery: Int? { get }
    /// A periodic pass over the training data, before the step `context.step`.
    func refresh(_ context: StepContext, data: any MethodDataSource) throws
    /// The representation probes read, without gradients, in evaluation mode; nil when the method has no such
    /// representation. Shapes: `.pooled`/`.grid`/`.projection` `[N, D]`; `.context`/`.encoder` `[N, T, D]`.
    func features(_ inputs: Tensor, _ request: FeatureRequest) -> Tensor?
}

extension Method {
    public func beforeOptimizerStep(_ context: StepContext) {}
    public func afterOptimizerStep(_ output: StepOutput, _ context: StepContext) {}
    public var refreshEvery: Int? { nil }
    public func refresh(_ context: StepContext, data: any MethodDataSource) throws {}

    /// The loss in training mode at step `index` of a one-step run (tests and benchmarks).
    public func loss(_ batch: Batch) -> StepOutput {
        loss(batch, StepContext(step: batch.index, totalSteps: max(batch.index + 1, 1), isTraining: true))
    }
}

/// The input a method trains on; the trainer builds the matching data pipeline from the config's `data` section.
public enum InputKind: Sendable, Equatable {
    /// Raw audio windows `[N, S]` (`data` is the audio window config).
    case audioWindows
    /// Patch grids `[N, GH, GW, Q, Q, C]` of images (`data` is the patch config).
    case patchGrid
    /// Augmented views `[N, H, W, C]` of images, as many as `data.views` lists (`data` is the views config).
    case imageViews
}

/// The shape of what a method will see, known once the data are read (the model is built from it).
public struct InputShape: Sendable, Equatable {
    /// What kind of input.
    public var kind: InputKind
    /// Samples per audio window.
    public var window = 0
    /// Patch grid rows and columns.
    public var rows = 0, columns = 0
    /// Pixels on a side of each patch the method sees (after cropping).
    public var patchSize = 0
    /// Image (or view) channels.
    public var channels = 0
    /// The views of one batch as (height, width), in order.
    public var views: [ViewShape] = []
    /// Classes of the labels (speakers, image classes) for an online probe; 0 when unknown.
    public var classes = 0
    /// Items in the training set and per batch (DeepCluster's memory and its epoch); 0 when unknown.
    public var trainingItems = 0, batchSize = 0
    /// Whether audio batches carry frame labels (`Batch.frameLabels`), and their class count once read (0: unknown).
    public var frameLabels = false, frameClasses = 0

    /// One view's size.
    public struct ViewShape: Sendable, Equatable {
        /// Pixels.
        public var height: Int, width: Int
        /// A view of `height` × `width` pixels.
        public init(height: Int, width: Int) { (self.height, self.width) = (height, width) }
    }

    /// A shape of `kind` with every size unknown (0).
    public init(kind: InputKind) { self.kind = kind }
}

/// A model config of a registered method: decoded strictly (unknown keys are errors naming the key), with
/// defaults for every key so that an empty or missing `model:` section means the paper's model.
public protocol MethodConfig: Codable, Sendable, Equatable {
    init()
}

/// A registered method type: the registry's key (= the file name = the `method:` value of configs), its config
/// type, its input and how to build it.
public protocol MethodSpec {
    associatedtype Config: MethodConfig
    static var key: String { get }
    static var input: InputKind { get }
    /// Checks the config against what is known of the input before the data are read (nil fields are unknown);
    /// errors name the key (`data.window`, `model.…`).
    static func validate(_ config: Config, input: InputShape) throws
    /// Builds the method for `input`; every random draw of the initialisation comes from `seed`.
    static func make(_ config: Config, input: InputShape, seed: UInt64) throws -> any Method
}

extension MethodSpec {
    public static func validate(_ config: Config, input: InputShape) throws {}
}
