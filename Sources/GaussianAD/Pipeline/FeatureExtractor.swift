// Images to pooled levels (and, when asked, level maps) in batches: each image is decoded and
// resized by the network's own thread that then runs it, so that --threads bounds all the work
// and the input is warm in cache.
import Dispatch
import Foundation

/// Streams image files through a backbone a batch at a time; memory stays bounded by a batch.
///
///     let fx = FeatureExtractor(backbone: try Backbone.load(.efficientNetLite0))
///     let feats = try fx.extract(urls) { done, total in print(done, total) }
///
/// With `mapLevels`, every batch also carries those levels' maps and each image's size
/// (`FeatureMatrix.maps`), the input of the anomaly maps.
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
    /// Levels whose maps every batch carries (none: pooled levels only).
    public let mapLevels: [Int]
    /// Whether batches with maps also keep each decoded image (`FeatureMaps.images`) of at
    /// most `keptImageSamples` samples, for drawing over it.
    public let keepsImages: Bool
    /// The largest image kept whole (width x height x channels): 4 M samples, 16 MB.
    public static let keptImageSamples = 1 << 22

    /// An extractor over `backbone` with batches of `batchSize` images, keeping the maps of
    /// `mapLevels` too.
    public init(backbone: Backbone, batchSize: Int = FeatureExtractor.defaultBatchSize, limits: InputLimits = .default,
                mapLevels: [Int] = [], keepsImages: Bool = false) {
        self.backbone = backbone
        self.batchSize = max(1, batchSize)
        self.limits = limits
        self.mapLevels = mapLevels
        self.keepsImages = keepsImages && !mapLevels.isEmpty
    }

    /// The same extractor keeping the maps of `levels`.
    public func keepingMaps(of levels: [Int]) -> FeatureExtractor {
        FeatureExtractor(backbone: backbone, batchSize: batchSize, limits: limits, mapLevels: levels, keepsImages: keepsImages)
    }

    /// Decodes, resizes and runs `urls` on the network's own threads: the levels (and maps) of
    /// every image (rows of unreadable ones are garbage) and each image's error, nil where it
    /// was read.
    private func runBatch(_ urls: ArraySlice<URL>) -> (FeatureMatrix, [Error?]) {
        let S = backbone.kind.inputSize
        let norm = backbone.kind.normalization, limits = self.limits
        let chunk = Array(urls)
        let errors = ErrorSlots(count: chunk.count)
        let sizes = Slots(count: chunk.count, PixelSize(width: 0, height: 0))
        let images = Slots<Image?>(count: keepsImages ? chunk.count : 0, nil)
        let keep = keepsImages
        var (feats, maps) = backbone.run(count: chunk.count, maps: mapLevels) { i, slot in
            do {
                var scratch: [Float] = []
                let image = try Image.decode(contentsOf: chunk[i], limits: limits)
                sizes[i] = PixelSize(width: image.width, height: image.height)
                if keep && image.pixels.count <= Self.keptImageSamples { images[i] = image }
                Preprocess.resizeNormalize(image, size: S, normalization: norm, into: slot, scratch: &scratch)
            } catch {
                errors[i] = error
                slot.update(repeating: 0, count: S * S * 3)
            }
        }
        if !mapLevels.isEmpty {
            maps.sizes = sizes.all
            maps.images = images.all
            feats.maps = maps
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
        (try? run(urls, stopAtFirstError: false, progress: progress)) ?? (emptyBatch, urls.map { _ in nil })
    }

    /// A batch of no images, laid out as this extractor's batches.
    var emptyBatch: FeatureMatrix {
        var f = FeatureMatrix.empty(backbone.levelDims)
        if !mapLevels.isEmpty { f.maps = FeatureMaps.empty(levels: mapLevels, shapes: mapLevels.map { backbone.levelShapes[$0] }) }
        return f
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
        var all: FeatureMatrix? = nil
        var errors: [Error?] = []
        errors.reserveCapacity(urls.count)
        try stream(urls, stopAtFirstError: stopAtFirstError, progress: progress) { feats, _, errs in
            // One run (a scoring batch) is handed on as it is, without a copy.
            if all == nil { all = feats } else { all!.append(feats) }
            errors += errs
        }
        return (all ?? emptyBatch, errors)
    }

    /// The batches of `urls`: features of the images that could be read (in order), the range
    /// of `urls` the batch covers, and each of its images' error (nil where read).
    private func stream(_ urls: [URL], stopAtFirstError: Bool, progress: ((Int, Int) -> Void)?,
                        _ body: (FeatureMatrix, Range<Int>, [Error?]) throws -> Void) throws {
        progress?(0, urls.count)
        let run = imagesPerRun
        var start = 0
        while start < urls.count {
            let end = min(urls.count, start + run)
            var (feats, errors) = runBatch(urls[start..<end])
            if stopAtFirstError, let e = errors.compactMap({ $0 }).first { throw e }
            // Images that failed leave the batch; the others close up in order.
            if errors.contains(where: { $0 != nil }) {
                feats = feats.selecting(rows: errors.indices.filter { errors[$0] == nil })
            }
            try body(feats, start..<end, errors)
            start = end
            progress?(start, urls.count)
        }
    }
}
