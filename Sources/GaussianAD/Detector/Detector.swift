// A fitted model with its network: images in, results out (score, per-level distances,
// verdict, anomaly map, defect regions). What `score`, `evaluate --maps` and the Spark scorer run.
import Dispatch
import Foundation

/// What a detector says of one image.
public struct Detection: Sendable {
    /// The combined score (mean of the per-level Mahalanobis distances, docs/METHOD.md 3).
    public let score: Double
    /// Mahalanobis distance per fitted level, in the model's level order.
    public let levels: [Double]
    /// The verdict at the model's working point (nil: a model without one).
    public let verdict: Verdict?
    /// The anomaly map at the image's own size (nil unless the detector makes maps).
    public let map: AnomalyMap?
    /// The areas of the map above the pixel threshold, largest peak first.
    public let regions: [DefectRegion]
    /// The decoded image, where the extractor kept it (for its overlay).
    let image: Image?
}

/// A model file and the network it was fitted on, ready to turn images into detections.
///
///     let det = try Detector(model: try ModelFile.load(from: url), modelPath: url.path,
///                            backbone: try Backbone.load(.efficientNetLite0), maps: true)
///     for case .success(let d) in det.detect(urls) { print(d.score, d.regions.count) }
public final class Detector: Sendable {
    /// The model.
    public let file: ModelFile
    /// The network and batching.
    public let extractor: FeatureExtractor
    /// Whether detections carry anomaly maps and regions.
    public let makesMaps: Bool
    /// Threads of the statistics and the maps (nil: every core).
    public let threads: Int?
    /// One map workspace per network thread, kept from batch to batch.
    private let workspaces: Workspaces

    /// A detector of `model` (read from `modelPath`, named in errors) on `backbone`, whose
    /// weights must be those the model was fitted with; with `maps`, the model must have
    /// anomaly maps of the network's level shapes.
    /// - Throws: `.badModelFile` naming the model file: other weights, no maps, other shapes.
    public init(model: ModelFile, modelPath: String, backbone: Backbone, batchSize: Int = FeatureExtractor.defaultBatchSize,
                limits: InputLimits = .default, maps: Bool = false, threads: Int? = nil) throws {
        try Self.checkWeights(backbone, fittedWith: model.weightsSHA256, kind: model.backbone, path: modelPath)
        if maps {
            guard let m = model.maps else {
                throw GaussianADError.badModelFile(path: modelPath, reason: "it has no anomaly maps (a model file of version 1, or fitted with --no-maps): fit it again with `gaussian-ad fit` to score with --maps")
            }
            guard m.pixelThreshold != nil, m.normalizer != nil else {
                throw GaussianADError.badModelFile(path: modelPath, reason: "its anomaly maps have no pixel threshold or normaliser")
            }
            let shapes = m.settings.levels.map { backbone.levelShapes[$0] }
            guard shapes == m.shapes, m.inputSize == backbone.kind.inputSize else {
                throw GaussianADError.badModelFile(path: modelPath, reason: "its maps of levels \(m.settings.levels) are shaped \(m.shapes.map { "\($0.h)x\($0.w)x\($0.c)" }), the network's \(shapes.map { "\($0.h)x\($0.w)x\($0.c)" })")
            }
        }
        file = model
        makesMaps = maps
        self.threads = threads
        workspaces = Workspaces(count: maps ? backbone.threads : 0)
        extractor = FeatureExtractor(backbone: backbone, batchSize: batchSize, limits: limits,
                                     mapLevels: maps ? model.maps!.settings.levels : [], keepsImages: maps)
    }

    /// Throws unless `backbone` was loaded from the weights (SHA-256 `sha`) a model or fit at
    /// `path` was fitted with.
    public static func checkWeights(_ backbone: Backbone, fittedWith sha: String, kind: BackboneKind, path: String) throws {
        guard backbone.weightsSHA256 == sha else {
            throw GaussianADError.badModelFile(path: path, reason: "fitted with \(kind.rawValue) weights \(sha.prefix(12))…, but the loaded weights are \(backbone.weightsSHA256.prefix(12))…")
        }
    }

    /// Images to hand `detect` at once for the network's best rate.
    public var imagesPerRun: Int { extractor.imagesPerRun }

    /// The anomaly maps' colour range for overlays: from the normalised maps' typical normal
    /// value 1 (transparent) to twice the pixel threshold's margin above it (the threshold in
    /// the middle).
    public var overlayRange: (low: Float, high: Float) {
        let t = Float(file.maps?.pixelThreshold ?? 2)
        return (1, max(t, 1) + max(t - 1, 0.5))
    }

    /// Detects every image of `urls`, in order: each image's detection, or its error (an
    /// unreadable image does not stop the others). Maps are made on the detector's threads.
    public func detect(_ urls: [URL]) -> [Result<Detection, Error>] {
        let (feats, errors) = extractor.extractEach(urls)
        let scores: Scores
        do {
            scores = try file.model.score(feats, threads: threads)
        } catch {
            return urls.map { _ in .failure(error) }
        }
        let comb = scores.combined
        let maps = makesMaps ? self.maps(feats) : []
        var out: [Result<Detection, Error>] = []
        out.reserveCapacity(urls.count)
        var row = 0
        for e in errors {
            if let e { out.append(.failure(e)); continue }
            let m = makesMaps ? maps[row].map : nil
            let regions = makesMaps ? maps[row].regions : []
            let image = feats.maps.flatMap { $0.images.isEmpty ? nil : $0.images[row] }
            out.append(.success(Detection(score: comb[row], levels: scores.perLevel.map { $0[row] },
                                          verdict: file.workingPoint?.verdict(comb[row]), map: m, regions: regions, image: image)))
            row += 1
        }
        return out
    }

    /// The anomaly map of every row of `feats` at its image's size and its regions, on the
    /// network's threads.
    func maps(_ feats: FeatureMatrix) -> [(map: AnomalyMap, regions: [DefectRegion])] {
        guard let maps = feats.maps, let model = file.maps, let threshold = model.pixelThreshold else { return [] }
        let net = extractor.backbone
        let results = Slots<(map: AnomalyMap, regions: [DefectRegion])?>(count: maps.count, nil)
        let spaces = workspaces.each
        // On the network's own threads: no other threads compete with its next run.
        net.forEach(maps.count) { i, thread in
            let s = maps.sizes[i]
            let m = model.anomalyMap(distances: model.distanceMaps(maps, image: i), normalizer: model.normalizer!,
                                     height: s.height, width: s.width, workspace: spaces[thread])
            results[i] = (m, m.regions(above: threshold, workspace: spaces[thread]))
        }
        return results.all.map { $0! }
    }
}

/// A detector's map workspaces, one per network thread: `Backbone.forEach` runs one call at a
/// time and hands each of its threads its own index, so no workspace is ever used by two
/// threads at once.
private final class Workspaces: @unchecked Sendable {
    let each: [MapWorkspace]
    init(count: Int) { each = (0..<count).map { _ in MapWorkspace() } }
}
