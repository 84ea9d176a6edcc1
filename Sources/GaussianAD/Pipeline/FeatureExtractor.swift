// Images to pooled levels in batches: each image is decoded and resized by the network's own
// thread that then runs it, so that --threads bounds all the work and the input is warm in cache.
import Dispatch
import Foundation

/// Streams image files through a backbone a batch at a time; memory stays bounded by a batch.
///
///     let fx = FeatureExtractor(backbone: try Backbone.load(.efficientNetLite0))
///     let feats = try fx.extract(urls) { done, total in print(done, total) }
public final class FeatureExtractor: Sendable {
    /// The network.
    public let backbone: Backbone
    /// The batch the network's plan was made for: images run one per thread in runs of
    /// `backbone.imagesPerRun(batch:)`, or `batchSize` at a time when the plan splits every op.
    public let batchSize: Int
    /// The batch size the commands run the network at (and `gaussian-ad tune` tunes by default).
    public static let defaultBatchSize = 16
    /// Images given to the network at once (`Backbone.imagesPerRun(batch:)`): a caller that
    /// gathers images before extracting them gathers this many.
    public var imagesPerRun: Int { backbone.imagesPerRun(batch: batchSize) }
    /// Bounds applied to every image decoded.
    public let limits: InputLimits

    /// An extractor over `backbone` with batches of `batchSize` images.
    public init(backbone: Backbone, batchSize: Int = FeatureExtractor.defaultBatchSize, limits: InputLimits = .default) {
        self.backbone = backbone
        self.batchSize = max(1, batchSize)
        self.limits = limits
    }

    /// Decodes, resizes and runs `urls` on the network's own threads: the levels of every image
    /// (rows of unreadable ones are garbage) and each image's error, nil where it was read.
    private func runBatch(_ urls: ArraySlice<URL>) -> (LevelFeatures, [Error?]) {
        let S = backbone.kind.inputSize
        let norm = backbone.kind.normalization, limits = self.limits
        let chunk = Array(urls)
        let errors = ErrorSlots(count: chunk.count)
        let feats = backbone.run(count: chunk.count) { i, slot in
            do {
                var scratch: [Float] = []
                Preprocess.resizeNormalize(try Image.decode(contentsOf: chunk[i], limits: limits), size: S,
                                           normalization: norm, into: slot, scratch: &scratch)
            } catch {
                errors[i] = error
                slot.update(repeating: 0, count: S * S * 3)
            }
        }
        return (feats, errors.all)
    }

    /// Pooled levels of every file, in order (float64 for the statistics).
    /// - Throws: the first unreadable image, naming it (the rest is not processed).
    public func extract(_ urls: [URL], progress: ((Int, Int) -> Void)? = nil) throws -> FeatureMatrix {
        try run(urls, stopAtFirstError: true, progress: progress).features
    }

    /// Pooled levels of the files that could be read, in order, and each file's error (nil
    /// where it was read): an unreadable image does not stop the others.
    ///
    ///     let (feats, errors) = fx.extractEach(urls)     // feats has one row per nil error
    public func extractEach(_ urls: [URL], progress: ((Int, Int) -> Void)? = nil) -> (features: FeatureMatrix, errors: [Error?]) {
        // Without stopAtFirstError nothing throws.
        (try? run(urls, stopAtFirstError: false, progress: progress)) ?? (FeatureMatrix.empty(backbone.levelDims), urls.map { _ in nil })
    }

    /// Streams the pooled levels of `urls` a batch at a time, in order: `body` gets each batch's
    /// features and the range of `urls` they are. Memory stays bounded by a batch.
    /// - Throws: the first unreadable image, naming it, or what `body` throws.
    ///
    ///     try fx.forEachBatch(urls) { feats, range in try acc.add(batch: feats) }
    public func forEachBatch(_ urls: [URL], progress: ((Int, Int) -> Void)? = nil,
                             _ body: (FeatureMatrix, Range<Int>) throws -> Void) throws {
        try stream(urls, stopAtFirstError: true, progress: progress) { feats, range, _ in try body(feats, range) }
    }

    private func run(_ urls: [URL], stopAtFirstError: Bool, progress: ((Int, Int) -> Void)?) throws -> (features: FeatureMatrix, errors: [Error?]) {
        let dims = backbone.levelDims
        var values: [Double] = []
        values.reserveCapacity(urls.count * dims.reduce(0, +))
        var errors: [Error?] = []
        errors.reserveCapacity(urls.count)
        try stream(urls, stopAtFirstError: stopAtFirstError, progress: progress) { feats, _, errs in
            values += feats.values
            errors += errs
        }
        let rows = errors.filter { $0 == nil }.count
        return (try FeatureMatrix(rows: rows, levelDims: dims, values: values), errors)
    }

    /// The batches of `urls`: features of the images that could be read (in order), the range
    /// of `urls` the batch covers, and each of its images' error (nil where read).
    private func stream(_ urls: [URL], stopAtFirstError: Bool, progress: ((Int, Int) -> Void)?,
                        _ body: (FeatureMatrix, Range<Int>, [Error?]) throws -> Void) throws {
        let dims = backbone.levelDims
        progress?(0, urls.count)
        let run = imagesPerRun
        var start = 0
        while start < urls.count {
            let end = min(urls.count, start + run)
            let (all, errors) = runBatch(urls[start..<end])
            if stopAtFirstError, let e = errors.compactMap({ $0 }).first { throw e }
            // Images that failed leave the batch; the others close up in order.
            var feats = FeatureMatrix(all)
            if errors.contains(where: { $0 != nil }) {
                let kept = errors.indices.filter { errors[$0] == nil }
                let d = all.dimension
                var values: [Float] = []
                values.reserveCapacity(kept.count * d)
                for i in kept { values += all.values[(i * d)..<((i + 1) * d)] }
                feats = FeatureMatrix(LevelFeatures(count: kept.count, levelDims: dims, values: values))
            }
            try body(feats, start..<end, errors)
            start = end
            progress?(start, urls.count)
        }
    }
}
