// The public face of a feature extractor: load weights, turn images into pooled levels.
import CKernels
import Foundation

/// A pretrained backbone ready to extract levels.
///
///     let net = try Backbone.load(.efficientNetLite0)          // weights from the cache folder
///     let feats = try net.levels(for: [try Image.decode(contentsOf: url)])
///     print(feats.level(8, of: 0).count)                       // 1280
///
/// The network is a layer graph compiled once at load; it runs on the backbone's own pool of
/// `threads` threads (one batch at a time). An image's levels do not depend on the batch it is
/// in or on the thread count.
public final class Backbone: Sendable {
    /// Which architecture this is.
    public let kind: BackboneKind
    /// SHA-256 of the weights file it was loaded from (hex).
    public let weightsSHA256: String
    /// Threads the network runs on (the engine's own pool; nothing is set process-wide).
    public let threads: Int
    private let engine: Engine

    /// Dimension of each pooled level.
    public var levelDims: [Int] { engine.plan.levelDims }
    /// Shape of each level's map at the network's input size.
    public var levelShapes: [MapShape] { engine.plan.levelShapes.map { MapShape(h: $0.h, w: $0.w, c: $0.c) } }
    /// Number of classifier outputs (1000 for ImageNet).
    public var classCount: Int { engine.plan.classes }
    /// Floating-point operations of one image through the network (multiply-adds count two).
    public var flopsPerImage: Int { engine.plan.flops }
    /// Floats of activation workspace the engine holds (all threads).
    public var workspaceFloats: Int { engine.workspaceFloats }

    /// Loads `kind` from `weights`, or from `cache` (the folder scripts/setup fills); the
    /// checkpoint's sizes are bounded by `limits`. The network runs on `threads` threads
    /// (default: every core), planned with `plan` (default: the heuristic plan of this
    /// machine; `TuningFile.options` gives a measured one).
    /// - Throws: `.missingWeights` (nothing in the cache folder), `.unreadableFile` (a missing
    ///   `weights` file), `.badCheckpoint`, `.weightsMismatch` naming file and tensor.
    public static func load(_ kind: BackboneKind, weights: URL? = nil, cache: CacheFolder = .standard, threads: Int? = nil,
                            limits: InputLimits = .default, plan: PlanOptions? = nil) throws -> Backbone {
        Kernels.ensureInitialised()
        let url = try weightsURL(kind, weights: weights, cache: cache)
        let bytes = try FileBytes.read(url)
        // The hash runs on a second thread while this one parses and plans (cold start).
        let hash = BackgroundValue { SHA256.hex(bytes) }
        do {
            let ckpt = try Checkpoint.parse(bytes: bytes, name: url.path, limits: limits)
            let engine = try compile(kind, checkpoint: ckpt, path: url.path, threads: threads, plan: plan)
            return Backbone(kind: kind, engine: engine, sha256: hash.value)
        } catch {
            // The hashing thread must be done before an error can end the process: exit()
            // would tear libcrypto down under it.
            _ = hash.value
            throw error
        }
    }

    /// The weights file of `kind`: `weights`, or the published file in `cache`.
    /// - Throws: `.unreadableFile` for a named file that does not exist, `.missingWeights` (with
    ///   where to get it) for a cache file that does not.
    public static func weightsURL(_ kind: BackboneKind, weights: URL?, cache: CacheFolder = .standard) throws -> URL {
        let url = weights ?? cache.weights(for: kind)
        guard FileManager.default.fileExists(atPath: url.path) else {
            // A file the user named is simply missing; the cache folder's says where to get it.
            if weights != nil { throw GaussianADError.unreadableFile(path: url.path, reason: "no such weights file") }
            throw GaussianADError.missingWeights(backbone: kind.rawValue, expected: url.path)
        }
        return url
    }

    /// Builds `kind` from tensors already in memory (such as `FormulaWeights.checkpoint`);
    /// `weightsSHA256` is what model files fitted on it record.
    /// - Throws: `.weightsMismatch` naming the first tensor that does not fit.
    public static func load(_ kind: BackboneKind, checkpoint: Checkpoint, weightsSHA256: String,
                            threads: Int? = nil, plan: PlanOptions? = nil) throws -> Backbone {
        Kernels.ensureInitialised()
        return Backbone(kind: kind, engine: try compile(kind, checkpoint: checkpoint, path: "(in memory)", threads: threads, plan: plan),
                        sha256: weightsSHA256)
    }

    /// Checks the checkpoint against the architecture, builds its graph and plans it.
    private static func compile(_ kind: BackboneKind, checkpoint: Checkpoint, path: String, threads: Int?,
                                plan: PlanOptions?) throws -> Engine {
        let graph = try self.graph(kind, checkpoint: checkpoint, path: path)
        let n = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        return try Engine(plan: ExecutionPlan(graph, options: plan ?? .heuristic(for: .current)), threads: n)
    }

    /// The layer graph of `kind` over the checkpoint's weights (checked against the state dict).
    static func graph(_ kind: BackboneKind, checkpoint: Checkpoint, path: String) throws -> Graph {
        try StateDictCheck.verify(checkpoint, kind: kind, path: path)
        let graph: Graph
        do {
            switch kind.family {
            case .efficientNetLite, .efficientNetB: graph = try EfficientNetBuilder.graph(kind, checkpoint: checkpoint, path: path)
            case .resnet: graph = try ResNetBuilder.graph(kind, checkpoint: checkpoint, path: path)
            }
        } catch GaussianADError.invalidArgument(let why) {
            // Shapes that do not chain into a network: the weights file is at fault.
            throw GaussianADError.badCheckpoint(path: path, reason: why)
        }
        return graph
    }

    /// The options the network was planned with.
    public var planOptions: PlanOptions { engine.plan.options }

    /// Images that `run(count:prepare:)` can take at once at no cost in memory or speed: each
    /// image that runs on one thread is prepared in that thread's own slot, so a long run only
    /// moves the pool's idle moments (a batch's last images, the caller's work between runs)
    /// further apart. When the plan splits every op over the threads, every image of a run needs
    /// an input buffer, and a run is `batch` images.
    public func imagesPerRun(batch: Int) -> Int {
        engine.spreadImages(count: batch) > 0 ? max(batch, Self.streamedRun / threads * threads) : batch
    }

    /// Images per run when each runs on one thread: enough that the idle moments between runs
    /// cost about 1 %, few enough that progress is reported every few seconds.
    static let streamedRun = 64

    /// Where one image's time goes: each step of the plan (label, floating-point operations,
    /// seconds on one thread, best of `rounds`), for `gaussian-ad-bench layers`.
    public func profileSteps(rounds: Int = 5) -> [(label: String, flops: Int, seconds: Double)] {
        let S = kind.inputSize
        let input = [Float](repeating: 0.25, count: S * S * 3)
        let seconds = input.withUnsafeBufferPointer { engine.profileSteps(input: $0.baseAddress!, rounds: rounds) }
        return zip(engine.plan.steps, seconds).map { ($0.label, $0.flops, $1) }
    }

    private init(kind: BackboneKind, engine: Engine, sha256: String) {
        self.kind = kind
        self.engine = engine
        self.weightsSHA256 = sha256
        self.threads = engine.threads
    }

    /// Runs preprocessed inputs: `inputs` holds `count` images of S x S x 3 floats (NHWC,
    /// normalised as `kind.normalization`). Returns the pooled levels and, if asked, logits.
    public func run(inputs: [Float], count: Int, logits wantLogits: Bool = false) throws -> (FeatureMatrix, [Float]?) {
        let S = kind.inputSize
        guard count >= 0, inputs.count == count * S * S * 3 else {
            throw GaussianADError.invalidArgument("expected \(count) x \(S) x \(S) x 3 input floats, got \(inputs.count)")
        }
        let plan = engine.plan
        var levels = [Float](repeating: 0, count: count * plan.featureDim)
        var logits: [Float]? = wantLogits ? [Float](repeating: 0, count: count * plan.classes) : nil
        guard count > 0 else { return (FeatureMatrix.empty(plan.levelDims), logits) }
        inputs.withUnsafeBufferPointer { inp in
            levels.withUnsafeMutableBufferPointer { lv in
                if logits != nil {
                    logits!.withUnsafeMutableBufferPointer { lg in
                        engine.run(count: count, input: inp.baseAddress!, levels: lv.baseAddress!, logits: lg.baseAddress!)
                    }
                } else {
                    engine.run(count: count, input: inp.baseAddress!, levels: lv.baseAddress!)
                }
            }
        }
        return (FeatureMatrix(rows: count, levelDims: plan.levelDims, float32: levels), logits)
    }

    /// Runs `count` images whose inputs `prepare(i, slot)` writes (S x S x 3 floats, NHWC,
    /// normalised as `kind.normalization`) on the network's own threads, each just before the
    /// network runs it: decoding and resizing share the `threads` of the network instead of
    /// competing with them. `prepare` must write every value of its slot. Returns the pooled
    /// levels of all `count` images and, for the levels `maps` names, their maps.
    ///
    ///     let (feats, maps) = net.run(count: urls.count, maps: [3, 4, 5]) { i, slot in /* decode urls[i], resize into slot */ }
    public func run(count: Int, maps mapLevels: [Int] = [],
                    prepare: @escaping @Sendable (Int, UnsafeMutablePointer<Float>) -> Void) -> (FeatureMatrix, FeatureMaps) {
        let plan = engine.plan
        let shapes = mapLevels.map { levelShapes[$0] }
        guard count > 0 else { return (FeatureMatrix.empty(plan.levelDims), FeatureMaps.empty(levels: mapLevels, shapes: shapes)) }
        // Only the images that run split over the threads need an input here (the others are
        // written into their thread's own slot), and `prepare` writes each before the network
        // reads it: no zeroing.
        let floats = max(1, engine.sharedInputImages(count: count)) * plan.inputShape.count
        var input = [Float](unsafeUninitializedCapacity: floats) { _, n in n = floats }
        var levels = [Float](repeating: 0, count: count * plan.featureDim)
        var offsets = [Int](repeating: -1, count: plan.levelDims.count)
        for (i, o) in startOffsets(shapes.map(\.count)).enumerated() { offsets[mapLevels[i]] = o }
        let stride = shapes.reduce(0) { $0 + $1.count }
        // Every value is written by the taps: not zeroed.
        var mapValues = [Float](unsafeUninitializedCapacity: count * stride) { _, n in n = count * stride }
        input.withUnsafeMutableBufferPointer { inp in
            levels.withUnsafeMutableBufferPointer { lv in
                mapValues.withUnsafeMutableBufferPointer { mv in
                    let out = stride > 0 ? Engine.MapOutput(pointer: mv.baseAddress!, stride: stride, offsets: offsets) : nil
                    engine.run(count: count, input: inp.baseAddress!, levels: lv.baseAddress!, maps: out, prepare: prepare)
                }
            }
        }
        return (FeatureMatrix(rows: count, levelDims: plan.levelDims, float32: levels),
                FeatureMaps(unchecked: mapLevels, shapes, count, mapValues))
    }

    /// Runs `body(index, thread)` for every index of `0..<count` on the network's own threads
    /// (`thread` in `0..<threads`, for per-thread scratch), each index once: work around the
    /// network (anomaly maps, their files) that stays within `threads` instead of competing
    /// with its threads. Not while the network runs (calls are serialised).
    ///
    ///     net.forEach(images.count) { i, thread in maps[i] = ... }
    public func forEach(_ count: Int, _ body: (Int, Int) -> Void) {
        engine.forEach(count, body)
    }

    /// Preprocesses decoded images (docs/METHOD.md 1.2-1.3) into one NHWC batch.
    public func preprocess(_ images: [Image]) -> [Float] {
        let S = kind.inputSize
        var batch = [Float](repeating: 0, count: images.count * S * S * 3)
        batch.withUnsafeMutableBufferPointer { b in
            _ = Preprocess.fillBatch(b.baseAddress!, count: images.count, size: S, normalization: kind.normalization) { images[$0] }
        }
        return batch
    }

    /// The pooled levels of decoded images.
    public func levels(for images: [Image]) throws -> FeatureMatrix {
        try run(inputs: preprocess(images), count: images.count).0
    }

    /// The classifier logits of decoded images, `images.count x classCount`.
    public func logits(for images: [Image]) throws -> [Float] {
        try run(inputs: preprocess(images), count: images.count, logits: true).1 ?? []
    }
}
