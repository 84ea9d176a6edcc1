// The public face of a feature extractor: load weights, turn images into pooled levels.
import CKernels
import Foundation

/// Pooled level features of a batch of images: `count` rows of `dimension` floats, each row
/// the levels concatenated in order (METHOD.md 2.2).
public struct LevelFeatures: Sendable {
    /// Number of images.
    public let count: Int
    /// Dimension of each level.
    public let levelDims: [Int]
    /// Row-major `count x dimension` values.
    public var values: [Float]

    /// Total features per image (2096 for Lite0).
    public var dimension: Int { levelDims.reduce(0, +) }

    /// Start of each level within a row.
    public var levelOffsets: [Int] { startOffsets(levelDims) }

    /// Level `level` of image `image`.
    public func level(_ level: Int, of image: Int) -> ArraySlice<Float> {
        let start = image * dimension + levelOffsets[level]
        return values[start..<(start + levelDims[level])]
    }
}

/// A pretrained backbone ready to extract levels.
///
///     let net = try Backbone.load(.efficientNetLite0)          // weights from the cache folder
///     let feats = try net.levels(for: [try Image.decode(contentsOf: url)])
///     print(feats.level(8, of: 0).count)                       // 1280
///
/// One instance runs one batch at a time (calls are serialised); create one per thread to run
/// several in parallel.
public final class Backbone: @unchecked Sendable {
    /// Which architecture this is.
    public let kind: BackboneKind
    /// SHA-256 of the weights file it was loaded from (hex).
    public let weightsSHA256: String
    private let net: EfficientNet
    private var workspaces: [Workspace] = []
    private let lock = NSLock()

    /// Worker threads for a batch. Images are spread over the workers, each running its images
    /// one at a time with single-threaded BLAS, so that one image's activations stay in cache.
    /// Defaults to the number of cores.
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount {
        didSet { threads = max(1, threads) }
    }

    /// Dimension of each pooled level.
    public var levelDims: [Int] { net.levelDims }
    /// Number of classifier outputs (1000 for ImageNet).
    public var classCount: Int { net.classes }

    /// Loads `kind` from `weights`, or from the cache folder filled by scripts/setup; the
    /// checkpoint's sizes are bounded by `limits`.
    /// - Throws: `.missingWeights`, `.badCheckpoint`, `.weightsMismatch` naming file and tensor.
    public static func load(_ kind: BackboneKind, weights: URL? = nil, limits: InputLimits = .default) throws -> Backbone {
        Kernels.ensureInitialised()
        let url = weights ?? kind.cachedWeightsURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw GaussianADError.missingWeights(backbone: kind.rawValue, expected: url.path)
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw GaussianADError.unreadableFile(path: url.path, reason: (error as NSError).localizedDescription)
        }
        let bytes = [UInt8](data)
        let ckpt = try Checkpoint.parse(bytes: bytes, name: url.path, limits: limits)
        let net = try EfficientNet(kind: kind, checkpoint: ckpt, path: url.path)
        return Backbone(kind: kind, net: net, sha256: SHA256.hex(bytes))
    }

    private init(kind: BackboneKind, net: EfficientNet, sha256: String) {
        self.kind = kind
        self.net = net
        self.weightsSHA256 = sha256
    }

    /// Runs preprocessed inputs: `inputs` holds `count` images of S x S x 3 floats (NHWC,
    /// normalised as `kind.normalization`). Returns the pooled levels and, if asked, logits.
    public func run(inputs: [Float], count: Int, logits wantLogits: Bool = false) throws -> (LevelFeatures, [Float]?) {
        let S = kind.inputSize
        guard count >= 0, inputs.count == count * S * S * 3 else {
            throw GaussianADError.invalidArgument("expected \(count) x \(S) x \(S) x 3 input floats, got \(inputs.count)")
        }
        var levels = [Float](repeating: 0, count: count * net.featureDim)
        var logits: [Float]? = wantLogits ? [Float](repeating: 0, count: count * net.classes) : nil
        guard count > 0 else { return (LevelFeatures(count: 0, levelDims: net.levelDims, values: []), logits) }
        lock.lock()
        defer { lock.unlock() }
        let workers = min(threads, count)
        while workspaces.count < workers { workspaces.append(Workspace()) }
        Kernels.setBLASThreads(1)
        let net = self.net, spaces = workspaces
        let per = S * S * 3, F = net.featureDim, C = net.classes
        inputs.withUnsafeBufferPointer { inp in
            levels.withUnsafeMutableBufferPointer { lv in
                let lgPtr: UnsafeMutablePointer<Float>? = logits == nil ? nil
                    : UnsafeMutablePointer<Float>.allocate(capacity: count * C)
                defer {
                    if let p = lgPtr {
                        logits = Array(UnsafeBufferPointer(start: p, count: count * C))
                        p.deallocate()
                    }
                }
                let ip = inp.baseAddress!, lp = lv.baseAddress!
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    var i = w
                    while i < count {
                        net.forward(n: 1, input: ip + i * per, workspace: spaces[w], levels: lp + i * F,
                                    logits: lgPtr.map { $0 + i * C })
                        i += workers
                    }
                }
            }
        }
        return (LevelFeatures(count: count, levelDims: net.levelDims, values: levels), logits)
    }

    /// Preprocesses decoded images (METHOD.md 1.2-1.3) into one NHWC batch.
    public func preprocess(_ images: [Image]) -> [Float] {
        let S = kind.inputSize
        var batch = [Float](repeating: 0, count: images.count * S * S * 3)
        let norm = kind.normalization
        batch.withUnsafeMutableBufferPointer { b in
            let base = b.baseAddress!
            DispatchQueue.concurrentPerform(iterations: images.count) { i in
                var scratch: [Float] = []
                Preprocess.resizeNormalize(images[i], size: S, normalization: norm, into: base + i * S * S * 3, scratch: &scratch)
            }
        }
        return batch
    }

    /// The pooled levels of decoded images.
    public func levels(for images: [Image]) throws -> LevelFeatures {
        try run(inputs: preprocess(images), count: images.count).0
    }

    /// The classifier logits of decoded images, `images.count x classCount`.
    public func logits(for images: [Image]) throws -> [Float] {
        try run(inputs: preprocess(images), count: images.count, logits: true).1 ?? []
    }
}
