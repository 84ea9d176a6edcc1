// The paper's evaluation protocol (docs/METHOD.md 6): stable folds, fit, score, AUROC per fold.
import Dispatch
import Foundation

/// Settings of an evaluation.
public struct EvaluationOptions: Sendable {
    /// Number of folds k (1: fit on all training images, MVTec only).
    public var folds: Int = 5
    /// Seed of the stable split.
    public var seed: UInt64 = 0
    /// Levels used (nil: all).
    public var levels: [Int]? = nil
    /// PCA / NPCA.
    public var reduction: Reduction = .none
    /// Also compute the L2 and SED baselines.
    public var baselines: Bool = false
    /// Threads of the float64 BLAS / LAPACK steps (nil: every core).
    public var threads: Int? = nil
    /// Memory budget in bytes: a category's features are kept between the passes when they
    /// take at most a quarter of it, and the images are run through the network again otherwise.
    public var maxMemory: Int = 1 << 30
    /// A robust fit in every fold (docs/METHOD.md 8; nil: the plain fit). Each fold's
    /// training images are fitted as `fit --contamination` would, with inner folds of their
    /// own, and the category's suspects come from a robust fit on all its training images.
    public var contamination: Contamination? = nil
    /// The backbone and weights the features come from: the robust fits' plans name them
    /// (`run` sets them from its extractor).
    public var backbone: BackboneKind = .efficientNetLite0
    /// SHA-256 of the weights file.
    public var weightsSHA256 = ""
    /// Anomaly maps (nil: none): every fold also fits the spatial Gaussians, and each test
    /// image gets a map (pixel AUROC and AUPRO where the dataset has masks).
    public var maps: MapSettings? = nil
    /// The network's input size (`run` sets it from its extractor).
    public var inputSize = 224

    /// Defaults of the paper: 5 folds, seed 0, all levels, no reduction.
    public init() {}
}

/// Runs docs/METHOD.md 6 on a dataset.
///
///     let r = try Evaluation.run(dataset: try Dataset.open(url), extractor: fx, options: EvaluationOptions())
///     print(r.aurocMean)
public enum Evaluation {
    /// Progress callback: (category name, images done, images total).
    public typealias Progress = (String, Int, Int) -> Void

    /// Evaluates every category of `dataset`, streaming its features (see `evaluate(category:batches:options:)`).
    public static func run(dataset: Dataset, extractor: FeatureExtractor, options: EvaluationOptions,
                           progress: Progress? = nil) throws -> EvaluationResult {
        for cat in dataset.categories { try checkEvaluable(cat) }
        var options = options
        options.backbone = extractor.backbone.kind
        options.weightsSHA256 = extractor.backbone.weightsSHA256
        options.inputSize = extractor.backbone.kind.inputSize
        let extractor = options.maps.map { extractor.keepingMaps(of: $0.levels) } ?? extractor
        let t0 = DispatchTime.now().uptimeNanoseconds
        var extractSeconds = 0.0, images = 0
        var results: [CategoryResult] = []
        for cat in dataset.categories {
            let feats = ImageFeatures(extractor: extractor, urls: cat.items.map(\.url), paths: cat.items.map(\.relativePath),
                                      maxMemory: options.maxMemory) { d, t in progress?(cat.name, d, t) }
            let index = Dictionary(cat.items.enumerated().map { ($1.relativePath, $0) }, uniquingKeysWith: { a, _ in a })
            results.append(try evaluate(category: cat, batches: { body in
                try feats.batches { f, paths in try body(f, paths.map { index[$0] ?? -1 }) }
            }, options: options))
            extractSeconds += feats.extractionSeconds
            images += feats.extractedImages
        }
        let total = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return EvaluationResult(backbone: extractor.backbone.kind.rawValue,
                                levels: options.levels ?? Array(extractor.backbone.levelDims.indices),
                                reduction: options.reduction, categories: results,
                                imagesPerSecond: extractSeconds > 0 ? Double(images) / extractSeconds : 0, seconds: total,
                                contamination: options.contamination, maps: options.maps)
    }

    /// Throws unless `cat` has what the protocol tests on: MVTec's test/ with normal and
    /// anomalous images, or anomalous images beside the normal ones in the other layouts.
    /// (`fit` needs none of these.)
    public static func checkEvaluable(_ cat: DatasetCategory) throws {
        let tests = cat.items.filter { cat.layout == .folded || !$0.isTrain }
        let normal = tests.contains { $0.label == 0 }, anomalous = tests.contains { $0.label != 0 }
        if cat.layout == .mvtec {
            let test = cat.root.appendingPathComponent("test").path
            guard cat.hasTestFolder else {
                throw GaussianADError.badDataset(path: test, reason: "missing: evaluate needs test/good and test/<defect type> (fit needs only train/good)")
            }
            guard normal && anomalous else {
                throw GaussianADError.badDataset(path: test, reason: "evaluate needs normal images in test/good and anomalous ones in test/<defect type>; found \(normal ? "no anomalous" : "no normal") test images")
            }
        } else if !anomalous {
            throw GaussianADError.badDataset(path: cat.root.path, reason: "no anomalous images: evaluate needs, beside good/, one folder of anomalous images per defect type (fit needs only the good images)")
        }
    }

    /// Fold of each item: MVTec train images and folded-layout images get a fold; MVTec test images -1.
    public static func folds(of category: DatasetCategory, k: Int, seed: UInt64) -> [Int] {
        var groups: [String: [String]] = [:]
        for it in category.items where category.layout == .folded || it.isTrain {
            groups["\(it.label)", default: []].append(it.relativePath)
        }
        var fold: [String: Int] = [:]
        for (_, paths) in groups { fold.merge(StableSplit.folds(of: paths, k: k, seed: seed)) { a, _ in a } }
        return category.items.map { fold[$0.relativePath] ?? -1 }
    }

    /// The protocol on one category whose features are already extracted (rows = items).
    public static func evaluate(category cat: DatasetCategory, features: FeatureMatrix,
                                options: EvaluationOptions) throws -> CategoryResult {
        guard features.rows == cat.items.count else {
            throw GaussianADError.invalidArgument("\(features.rows) feature rows for \(cat.items.count) images of \(cat.name)")
        }
        return try evaluate(category: cat, batches: { try $0(features, Array(cat.items.indices)) }, options: options)
    }

    /// A source of a category's features: calls its argument with batches of features and the
    /// item index of each row, covering every item once a call.
    public typealias IndexedBatches = (_ body: (FeatureMatrix, [Int]) throws -> Void) throws -> Void

    /// The protocol on one category, streamed: `batches` is called once a pass (two passes, three
    /// with PCA / NPCA) and nothing but moment sums and scores is kept between batches.
    /// Pass 1 sums the moments of the training images per fold; pass 2 (PCA / NPCA) the
    /// projected moments of each fold's training set; the last scores every test image with
    /// the model of its fold (folded layouts) or of every fold (MVTec's test images).
    public static func evaluate(category cat: DatasetCategory, batches: IndexedBatches,
                                options: EvaluationOptions) throws -> CategoryResult {
        let k = max(1, options.folds)
        let fold = folds(of: cat, k: k, seed: options.seed)
        let items = cat.items
        let mvtec = cat.layout == .mvtec
        guard mvtec || k > 1 else { throw GaussianADError.invalidArgument("a folded dataset (\(cat.name)) needs --folds 2 or more") }
        let trains: (Int) -> Bool = { mvtec ? items[$0].isTrain : items[$0].label == 0 }
        // The training set of fold f: every training image outside fold f (all of them for k = 1).
        let inTrainingOf: (Int, Int) -> Bool = { i, f in trains(i) && (k == 1 || fold[i] != f) }
        let inTestOf: (Int, Int) -> Bool = { i, f in mvtec ? !items[i].isTrain : fold[i] == f }
        func check(_ idx: [Int], _ rows: Int) throws {
            guard idx.count == rows, idx.allSatisfy({ $0 >= 0 && $0 < items.count }) else {
                throw GaussianADError.invalidArgument("a batch of \(rows) rows names \(idx.count) items of \(cat.name)")
            }
        }
        var acc: FoldedAccumulator? = nil
        var spatial: [SpatialAccumulator] = []
        try batches { feats, idx in
            try check(idx, feats.rows)
            if acc == nil { acc = try FoldedAccumulator(levelDims: feats.levelDims, levels: options.levels, folds: k, threads: options.threads) }
            let rows = idx.indices.filter { trains(idx[$0]) }
            let rowFolds = rows.map { k == 1 ? 0 : fold[idx[$0]] }
            try acc!.add(batch: feats.selecting(rows: rows), folds: rowFolds)
            if let ms = options.maps {
                guard let maps = feats.maps else { throw GaussianADError.invalidArgument("the evaluation makes maps, but the features carry none") }
                if spatial.isEmpty {
                    let plan = MapPlan(settings: ms, shapes: maps.shapes, inputSize: options.inputSize)
                    spatial = try (0..<k).map { _ in try plan.accumulator(threads: options.threads) }
                }
                for f in 0..<k {
                    let mine = zip(rows, rowFolds).filter { $0.1 == f }.map(\.0)
                    if !mine.isEmpty { try spatial[f].add(maps, images: mine) }
                }
            }
        }
        guard let moments = acc else { throw GaussianADError.badDataset(path: cat.root.path, reason: "category \(cat.name) has no images") }
        var training = try (0..<k).map { f -> GaussianAccumulator in
            let a = try k == 1 ? moments.merged() : moments.merged(excludingFold: f)
            guard a.count > 0 else {
                throw GaussianADError.badDataset(path: cat.root.path, reason: "fold \(f) of category \(cat.name) has no normal training images")
            }
            return a
        }
        if options.reduction != .none {
            training = try training.map { try $0.projected(options.reduction) }
            try batches { feats, idx in
                for f in 0..<k {
                    let rows = idx.indices.filter { inTrainingOf(idx[$0], f) }
                    if !rows.isEmpty { try training[f].add(batch: feats.selecting(rows: rows)) }
                }
            }
        }
        var models = try training.map { try $0.finalize() }
        var suspects: [Suspect] = [], excluded: [String] = []
        if let rule = options.contamination {
            func robust(_ takes: @escaping (Int) -> Bool) throws -> (GaussianModel, FitSummary) {
                let paths = items.indices.filter(takes).map { items[$0].relativePath }
                guard paths.count >= 4 else {
                    throw GaussianADError.badDataset(path: cat.root.path, reason: "a fold of \(cat.name) has \(paths.count) normal training images; a robust fit (--contamination) needs at least 4")
                }
                let plan = try FitPlan(backbone: options.backbone, weightsSHA256: options.weightsSHA256, levelDims: moments.perFold[0].levelDims,
                                       options: GaussianOptions(levels: options.levels, reduction: options.reduction),
                                       folds: min(robustFolds, paths.count / 2), seed: options.seed, category: cat.name,
                                       paths: paths, contamination: rule)
                let fit = try FitRunner.fit(FitState(plan: plan), paths: paths, targetFPR: 0.05, threads: options.threads) { body in
                    try withoutActuallyEscaping(body) { body in
                        try batches { feats, idx in
                            let rows = idx.indices.filter { takes(idx[$0]) }
                            if !rows.isEmpty { try body(feats.selecting(rows: rows), rows.map { items[idx[$0]].relativePath }) }
                        }
                    }
                }
                return (fit.model, fit.summary)
            }
            let perFold = try (0..<k).map { f in try robust { inTrainingOf($0, f) } }
            models = perFold.map(\.0)
            // With one fold the fold's fit is the fit on every training image.
            let whole = k == 1 ? perFold[0].1 : try robust(trains).1
            suspects = whole.suspects
            excluded = whole.excluded
        }
        let dims = models[0].levels.map(\.dimension)
        // Each fold's spatial Gaussians: those of the training images outside it.
        let spatialModels = try spatial.isEmpty ? [] : (0..<k).map { f -> SpatialModel in
            var a: SpatialAccumulator? = nil
            for g in 0..<k where k == 1 || g != f { if a == nil { a = spatial[g] } else { try a!.merge(spatial[g]) } }
            return try a!.finalize()
        }
        let gradesPixels = !spatialModels.isEmpty && cat.hasMasks
        // Each fold's normaliser: the distances of (up to PixelQuantile.maxImages of) its own
        // training images; each test item's distance maps under the folds that test it.
        let normalizerImages = spatialModels.isEmpty ? [] : (0..<k).map { f in
            PixelQuantile.calibrationImages(items.indices.filter { inTrainingOf($0, f) }.map { items[$0].relativePath }, seed: options.seed)
        }
        var normalizers = spatialModels.map { NormalizerAccumulator(shapes: $0.shapes) }
        var testDistances: [Int: [(fold: Int, distances: [[Double]])]] = [:]
        var sizes: [Int: PixelSize] = [:]
        // Per fold: the test items scored and their scores, in the order they came.
        var testedItems = [[Int]](repeating: [], count: k)
        var scores = [[Scores]](repeating: [], count: k)
        try batches { feats, idx in
            for f in 0..<k {
                let rows = idx.indices.filter { inTestOf(idx[$0], f) }
                guard !rows.isEmpty else { continue }
                scores[f].append(try models[f].score(feats.selecting(rows: rows), threads: options.threads))
                testedItems[f] += rows.map { idx[$0] }
            }
            guard !spatialModels.isEmpty, let maps = feats.maps else { return }
            var jobs: [(row: Int, fold: Int, test: Bool)] = []
            for r in idx.indices {
                for f in 0..<k {
                    if inTestOf(idx[r], f) { jobs.append((r, f, true)) }
                    if inTrainingOf(idx[r], f) && normalizerImages[f].contains(items[idx[r]].relativePath) { jobs.append((r, f, false)) }
                }
                sizes[idx[r]] = maps.sizes[r]
            }
            let d = distanceMaps(jobs.map { ($0.row, $0.fold) }, maps: maps, models: spatialModels, threads: options.threads)
            for (j, job) in jobs.enumerated() {
                if job.test { testDistances[idx[job.row], default: []].append((job.fold, d[j])) } else { normalizers[job.fold].add(d[j]) }
            }
        }
        var pixels = PixelMetrics()
        var thumbs: [Int: AnomalyMap] = [:]
        var peakHits = 0, peaksGraded = 0
        if !spatialModels.isEmpty {
            let norms = try normalizers.map { try $0.finalize() }
            let tests = testDistances.keys.sorted()
            let made = try testMaps(tests.map { (sizes[$0]!, testDistances[$0]!) }, models: spatialModels, normalizers: norms,
                                    masks: tests.map { items[$0].mask }, full: gradesPixels, threads: options.threads)
            for (j, i) in tests.enumerated() {
                thumbs[i] = made[j].thumb
                if let (map, mask) = made[j].full {
                    try pixels.add(map: map.values, mask: mask, width: map.width, height: map.height)
                    if items[i].label != 0 {
                        peaksGraded += 1
                        if Self.peakHits(map, mask: mask, inputSize: options.inputSize) { peakHits += 1 }
                    }
                }
            }
        }
        var aurocs: [Double] = [], levelAUROCs: [[Double]] = [], l2s: [Double] = [], seds: [Double] = []
        var scoreSum = [Double](repeating: 0, count: items.count), scoreN = [Int](repeating: 0, count: items.count)
        var heldOutNormal: [Double] = []
        for f in 0..<k {
            let test = testedItems[f]
            let labels = test.map { items[$0].label }
            let comb = scores[f].flatMap(\.combined)
            let perLevel = models[f].levels.indices.map { l in scores[f].flatMap { $0.perLevel[l] } }
            aurocs.append(try ROC.auroc(scores: comb, labels: labels))
            levelAUROCs.append(try perLevel.map { try ROC.auroc(scores: $0, labels: labels) })
            if options.baselines && options.reduction == .none {
                l2s.append(try ROC.auroc(scores: scores[f].flatMap(\.l2), labels: labels))
                seds.append(try ROC.auroc(scores: scores[f].flatMap(\.sed), labels: labels))
            }
            for (j, i) in test.enumerated() {
                scoreSum[i] += comb[j]
                scoreN[i] += 1
                if items[i].label == 0 { heldOutNormal.append(comb[j]) }
            }
        }
        let levelMean = (0..<(levelAUROCs.first?.count ?? 0)).map { l in Summary.mean(levelAUROCs.map { $0[l] }) }
        let tested = items.indices.filter { scoreN[$0] > 0 }.map {
            TestedImage(path: items[$0].relativePath, url: items[$0].url, label: items[$0].label, score: scoreSum[$0] / Double(scoreN[$0]),
                        map: thumbs[$0])
        }
        var pixelAUROC: Double? = nil, pixelAUPRO: Double? = nil, pixelThreshold: Double? = nil
        if gradesPixels { (pixelAUROC, pixelAUPRO) = try pixels.compute() }
        if let ms = options.maps {
            let normal = tested.filter { $0.label == 0 }.compactMap(\.map).flatMap(\.values)
            if !normal.isEmpty {
                var q = PixelQuantile(q: ms.pixelFPR, total: normal.count)
                q.add(normal)
                pixelThreshold = try q.quantile()
            }
        }
        let wp = heldOutNormal.isEmpty ? nil : try WorkingPoint.calibrate(normalScores: heldOutNormal, targetFPR: 0.05, levelDimensions: dims)
        return CategoryResult(name: cat.name, normalCount: tested.filter { $0.label == 0 }.count,
                              anomalousCount: tested.filter { $0.label != 0 }.count,
                              aurocFolds: aurocs, levelAUROC: levelMean,
                              l2AUROC: l2s.isEmpty ? nil : Summary.mean(l2s), sedAUROC: seds.isEmpty ? nil : Summary.mean(seds),
                              tested: tested, levelDimensions: dims, workingPoint: wp,
                              pixelAUROC: pixelAUROC, pixelAUPRO: pixelAUPRO,
                              peakHit: peaksGraded > 0 ? Double(peakHits) / Double(peaksGraded) : nil, pixelThreshold: pixelThreshold,
                              suspects: suspects, excluded: excluded)
    }

    /// Longest side of the small maps kept for the report.
    public static let thumbnailMapSide = 96

    /// The distance maps of (row, fold) pairs of `maps` under each fold's model, on `threads` threads.
    static func distanceMaps(_ jobs: [(row: Int, fold: Int)], maps: FeatureMaps, models: [SpatialModel], threads: Int?) -> [[[Double]]] {
        let out = Slots<[[Double]]>(count: jobs.count, [])
        let workers = max(1, min(jobs.count, threads ?? ProcessInfo.processInfo.activeProcessorCount))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var j = w
            while j < jobs.count {
                out[j] = models[jobs[j].fold].distanceMaps(maps, image: jobs[j].row)
                j += workers
            }
        }
        return out.all
    }

    /// Whether `map` peaks on its defect: at a pixel within 4 pixels at the network's input size
    /// (the smoothing's sigma, scaled to the image) of a pixel of `mask`.
    static func peakHits(_ map: AnomalyMap, mask: [UInt8], inputSize: Int) -> Bool {
        let p = map.peak
        let r = MapSettings.smoothingSigma * Double(max(map.width, map.height)) / Double(inputSize)
        let ri = Int(r.rounded(.down))
        for y in max(0, p.y - ri)...min(map.height - 1, p.y + ri) {
            for x in max(0, p.x - ri)...min(map.width - 1, p.x + ri) where mask[y * map.width + x] != 0 {
                let dx = Double(x - p.x), dy = Double(y - p.y)
                if dx * dx + dy * dy <= r * r { return true }
            }
        }
        return false
    }

    /// The maps of test images from their distance maps under the folds that test them, on
    /// `threads` threads: each one's small map for the report and, with `full`, its map at the
    /// image's size with its mask (all zero for a normal image), each the mean over its folds.
    static func testMaps(_ tests: [(size: PixelSize, distances: [(fold: Int, distances: [[Double]])])], models: [SpatialModel],
                         normalizers: [MapNormalizer], masks: [URL?], full: Bool,
                         threads: Int?) throws -> [(thumb: AnomalyMap, full: (AnomalyMap, [UInt8])?)] {
        let n = tests.count
        let out = Slots<(AnomalyMap, (AnomalyMap, [UInt8])?)?>(count: n, nil)
        let errors = ErrorSlots(count: n)
        let workers = max(1, min(n, threads ?? ProcessInfo.processInfo.activeProcessorCount))
        @Sendable func mean(_ j: Int, _ h: Int, _ w: Int, _ ws: MapWorkspace) -> AnomalyMap {
            var acc = [Float](repeating: 0, count: h * w)
            for (f, d) in tests[j].distances {
                let m = models[f].anomalyMap(distances: d, normalizer: normalizers[f], height: h, width: w, workspace: ws)
                for i in acc.indices { acc[i] += m.values[i] }
            }
            let s = 1 / Float(tests[j].distances.count)
            return AnomalyMap(width: w, height: h, values: acc.map { $0 * s })
        }
        DispatchQueue.concurrentPerform(iterations: workers) { wk in
            let ws = MapWorkspace()
            var j = wk
            while j < n {
                defer { j += workers }
                let size = tests[j].size
                let scale = Double(thumbnailMapSide) / Double(max(size.width, size.height, 1))
                let tw = max(1, Int((Double(size.width) * scale).rounded())), th = max(1, Int((Double(size.height) * scale).rounded()))
                let thumb = mean(j, th, tw, ws)
                guard full else { out[j] = (thumb, nil); continue }
                do {
                    let map = mean(j, size.height, size.width, ws)
                    var mask = [UInt8](repeating: 0, count: size.width * size.height)
                    if let m = masks[j] {
                        let img = try Image.decode(contentsOf: m)
                        guard img.width == size.width, img.height == size.height else {
                            throw GaussianADError.badDataset(path: m.path, reason: "the mask is \(img.width) x \(img.height), its image \(size.width) x \(size.height)")
                        }
                        let c = img.channels
                        for i in 0..<mask.count where img.pixels[i * c] > 0.5 { mask[i] = 1 }
                    }
                    out[j] = (thumb, (map, mask))
                } catch {
                    errors[j] = error
                }
            }
        }
        if let e = errors.all.compactMap({ $0 }).first { throw e }
        return out.all.map { ($0!.0, $0!.1) }
    }

    /// Inner calibration folds of a robust fit in the protocol (`fit`'s default; fewer for a
    /// fold of fewer than 10 training images, each inner fold keeping 2).
    public static let robustFolds = 5
}
