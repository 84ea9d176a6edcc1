// Images to pooled levels in batches: decoding and resizing of the next batch overlap the
// network's work on the current one.
import Dispatch
import Foundation

/// Streams image files through a backbone a batch at a time; memory stays bounded by two batches.
///
///     let fx = FeatureExtractor(backbone: try Backbone.load(.efficientNetLite0))
///     let feats = try fx.extract(urls) { done, total in print(done, total) }
public final class FeatureExtractor: Sendable {
    /// The network.
    public let backbone: Backbone
    /// Images per network call.
    public let batchSize: Int
    /// The batch size the commands run the network at (and `gaussian-ad tune` tunes by default).
    public static let defaultBatchSize = 16
    /// Bounds applied to every image decoded.
    public let limits: InputLimits

    /// An extractor over `backbone` with batches of `batchSize` images.
    public init(backbone: Backbone, batchSize: Int = FeatureExtractor.defaultBatchSize, limits: InputLimits = .default) {
        self.backbone = backbone
        self.batchSize = max(1, batchSize)
        self.limits = limits
    }

    /// A batch decoded and resized into network input on a background thread.
    private final class Prepared: @unchecked Sendable {
        /// Written by the background thread before `done` is signalled, read only after.
        var input: [Float]
        var errors: [Error?] = []
        let count: Int
        let done = DispatchSemaphore(value: 0)

        init(floats: Int, count: Int) {
            input = [Float](repeating: 0, count: floats)
            self.count = count
        }
    }

    /// Decodes and resizes `urls` into a new batch on a background thread; returns at once.
    private func prepare(_ urls: ArraySlice<URL>) -> Prepared {
        let S = backbone.kind.inputSize, per = S * S * 3
        let norm = backbone.kind.normalization, limits = self.limits
        let p = Prepared(floats: urls.count * per, count: urls.count)
        let chunk = Array(urls)
        DispatchQueue.global().async {
            p.errors = p.input.withUnsafeMutableBufferPointer { b in
                Preprocess.fillBatch(b.baseAddress!, count: chunk.count, size: S, normalization: norm) {
                    try Image.decode(contentsOf: chunk[$0], limits: limits)
                }
            }
            p.done.signal()
        }
        return p
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
    /// features and the range of `urls` they are. Memory stays bounded by two batches.
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
        let per = backbone.kind.inputSize * backbone.kind.inputSize * 3
        progress?(0, urls.count)
        var start = 0
        var next: Prepared? = urls.isEmpty ? nil : prepare(urls[0..<min(urls.count, batchSize)])
        // A batch still being prepared is waited for before leaving, so no thread outlives us.
        defer { next?.done.wait() }
        while let current = next {
            current.done.wait()
            let end = start + current.count
            // Start on the following batch before the network runs on this one.
            next = end < urls.count ? prepare(urls[end..<min(urls.count, end + batchSize)]) : nil
            if stopAtFirstError, let e = current.errors.compactMap({ $0 }).first { throw e }
            // Images that failed leave the batch; the others close up in order.
            var ok = 0
            for i in 0..<current.count where current.errors[i] == nil {
                if ok != i {
                    current.input.withUnsafeMutableBufferPointer { b in
                        (b.baseAddress! + ok * per).update(from: b.baseAddress! + i * per, count: per)
                    }
                }
                ok += 1
            }
            var feats = FeatureMatrix.empty(dims)
            if ok > 0 {
                let input = ok == current.count ? current.input : Array(current.input[0..<(ok * per)])
                let (f, _) = try backbone.run(inputs: input, count: ok)
                feats = FeatureMatrix(f)
            }
            try body(feats, start..<end, current.errors)
            start = end
            progress?(start, urls.count)
        }
    }
}
