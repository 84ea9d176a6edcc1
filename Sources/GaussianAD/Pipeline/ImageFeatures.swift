// A list of images' features for a fit's or an evaluation's passes: kept in memory when they
// fit the budget, extracted again for every pass otherwise.
import Dispatch
import Foundation

/// The features of a list of images for several passes: extracted once and replayed from
/// memory when they fit in a quarter of the memory budget, extracted again on every pass
/// otherwise, so memory stays bounded whatever the number of images. (The rest of the budget
/// is the network's and the statistics': about 450 MiB for Lite0 with every level.)
public final class ImageFeatures {
    /// The extractor.
    public let extractor: FeatureExtractor
    /// The images and their paths relative to the category, in order.
    public let urls: [URL], paths: [String]
    /// Whether the features are kept between passes.
    public let keepsFeatures: Bool
    /// Times the images were run through the network so far.
    public private(set) var extractions = 0
    /// Images run through the network so far, all passes together.
    public private(set) var extractedImages = 0
    /// Seconds spent decoding and running the network (not in the consumer of the batches).
    public private(set) var extractionSeconds = 0.0
    private var cache: [(FeatureMatrix, [String])] = []
    private let progress: ((Int, Int) -> Void)?

    /// Images `urls` (relative paths `paths`), kept in memory if their float64 features (and
    /// their maps, when the extractor keeps maps) take at most a quarter of `maxMemory` bytes.
    public init(extractor: FeatureExtractor, urls: [URL], paths: [String], maxMemory: Int,
                progress: ((Int, Int) -> Void)? = nil) {
        self.extractor = extractor
        self.urls = urls
        self.paths = paths
        let net = extractor.backbone
        let perImage = net.levelDims.reduce(0, +) * MemoryLayout<Double>.size
            + extractor.mapLevels.reduce(0) { $0 + net.levelShapes[$1].count } * MemoryLayout<Float>.size
        keepsFeatures = urls.count <= maxMemory / 4 / max(perImage, 1)
        self.progress = progress
    }

    /// Rows handed on at once: the network's small batches are gathered first, because each
    /// hand-on costs the statistics a pass over every level's d x d sums (memory-bound for the
    /// wide levels), whatever the number of rows.
    public static let chunkRows = 256

    /// The images as feature batches of about `chunkRows` rows, in order.
    public func batches(_ body: (FeatureMatrix, [String]) throws -> Void) throws {
        if !cache.isEmpty {
            for (f, p) in cache { try body(f, p) }
            return
        }
        extractions += 1
        var kept: [(FeatureMatrix, [String])] = []
        var inBody: UInt64 = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        var chunk = extractor.emptyBatch, chunkPaths: [String] = []
        func handOn() throws {
            guard chunk.rows > 0 else { return }
            if keepsFeatures { kept.append((chunk, chunkPaths)) }
            let b0 = DispatchTime.now().uptimeNanoseconds
            defer { inBody += DispatchTime.now().uptimeNanoseconds - b0 }
            try body(chunk, chunkPaths)
            chunk = extractor.emptyBatch
            chunkPaths.removeAll(keepingCapacity: true)
        }
        try extractor.forEachBatch(urls, progress: progress) { feats, range in
            chunk.append(feats)
            chunkPaths += paths[range]
            if chunk.rows >= Self.chunkRows { try handOn() }
        }
        try handOn()
        extractionSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0 - inBody) / 1e9
        extractedImages += urls.count
        cache = kept
    }
}
